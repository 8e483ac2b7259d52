"""QA replays: a stored call's recording played through the live pipeline again, paced at
a chosen speed, its messages to the viewer only. Replays are load like calls: capped in
total and per token, counted with the live calls, refused while live calls wait for
recognition, and recognised on a model of their own at the lowest CPU priority. Mixed into
`Service`, whose store, executors and call context it uses.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import soundfile

from sentiment_svc.domain.messages import CallSummary, Message, ReplayEnded, ReplayStarted
from sentiment_svc.domain.vocabulary import Channel, Protocol
from sentiment_svc.live.call import LiveCall
from sentiment_svc.live.refusals import CallRejected, ServiceBusy
from sentiment_svc.protocols.base import AudioChunk, CallStart

if TYPE_CHECKING:
    from sentiment_svc.asr.scheduler import AsrScheduler
    from sentiment_svc.config import Settings
    from sentiment_svc.live.context import CallContext
    from sentiment_svc.storage.db import CallStore
    from sentiment_svc.storage.hop import StoreHop

REPLAY_CHUNK_S = 0.1


class Replays:
    settings: Settings
    store: CallStore
    db: StoreHop
    scheduler: AsrScheduler | None
    audio_executor: ThreadPoolExecutor
    replays: dict[int, object]  # replay number -> the principal watching it
    _replay_numbers: Iterator[int]
    _owners: dict[str, object]
    context: Callable[..., CallContext]
    _refuse_unless_healthy: Callable[[], None]

    async def replay(
        self, call_id: str, speed: float, publish: Callable[[Message], None],
        owner: object = None,
    ) -> CallSummary:
        """Play a stored call's recording through the live pipeline again, at `speed` times
        real time; its messages go to `publish` only (not stored, not on the live feeds).
        A replay is load like a call: capped and counted; it is recognised on the replays'
        own model at the lowest CPU priority (`AsrScheduler`)."""
        self._refuse_unless_healthy()
        self._refuse_replay_over_load(owner)
        number = next(self._replay_numbers)
        self.replays[number] = owner
        try:
            return await self._replay(call_id, speed, publish)
        finally:
            del self.replays[number]

    def _refuse_replay_over_load(self, owner: object) -> None:
        settings, scheduler = self.settings, self.scheduler
        if len(self.replays) >= settings.max_replays:
            raise ServiceBusy(f"{len(self.replays)} replays are running (the limit); retry later")
        mine = sum(1 for other in self.replays.values() if other == owner)
        if owner is not None and mine >= settings.max_replays_per_token:
            raise ServiceBusy(f"this token already runs {mine} replays (the limit)")
        if len(self._owners) + len(self.replays) >= settings.max_live_calls:
            raise ServiceBusy(f"the service is at its limit of {settings.max_live_calls} calls")
        if scheduler is not None and scheduler.depth >= scheduler.workers:
            raise ServiceBusy("live calls are waiting for recognition; retry the replay later")

    async def _replay(
        self, call_id: str, speed: float, publish: Callable[[Message], None]
    ) -> CallSummary:
        detail = await self.db(self.store.get_call, call_id)
        wav = None if detail is None else await self.db(self.store.recordings.read, call_id)
        if detail is None or wav is None:
            raise CallRejected(f"call {call_id} has no stored recording")
        samples, rate = await asyncio.get_running_loop().run_in_executor(
            self.audio_executor,
            lambda: soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True),
        )
        layout = {0: Channel.CUSTOMER, 1: Channel.OPERATOR}
        start = CallStart(
            call_id=call_id, operator_id=detail.operator_id, customer_id=detail.customer_id,
            language=detail.language, sample_rate=int(rate), encoding="pcm16",
            channels=samples.shape[1],
            channel_map={i: layout[i] for i in range(samples.shape[1])},
        )
        context = self.context(publish, stored=False)
        context.background = True
        call = LiveCall(start, Protocol.REPLAY, context)
        publish(ReplayStarted(**view_fields(call), speed=speed))
        try:
            summary = await call.run(_paced(samples, int(rate), speed))
        except asyncio.CancelledError:
            call.abort()  # the viewer went away: its recognitions are dropped with it
            raise
        publish(ReplayEnded(call_id=call_id, operator_id=detail.operator_id, summary=summary))
        return summary


def view_fields(call: LiveCall) -> dict[str, object]:
    """A call's wall-view fields, for the messages that announce its start and end."""
    return call.view().model_dump(exclude={"type"})


async def _paced(samples: np.ndarray, rate: int, speed: float) -> AsyncIterator[AudioChunk]:
    """A recording in chunks, each at the moment it would arrive at `speed` x real time."""
    step = int(rate * REPLAY_CHUNK_S)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for offset in range(0, len(samples), step):
        delay = began + offset / rate / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield AudioChunk(pcm=samples[offset : offset + step], t=offset / rate)
