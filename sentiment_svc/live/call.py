"""One live call: audio in, events out, through the same `CallPipeline` as a recorded file.

Two tasks per call keep the stages apart: the VAD task turns arriving audio into utterances
(resampling, endpointing and recording in a worker thread), the recognition task takes them
in order through the shared ASR scheduler and the text analysis and publishes the results.
Audio keeps flowing while an utterance is being recognised. While a recognition worker is
free, a customer's utterance is sent to it before the VAD closes it (500 ms into the
silence), once its end is known (200 ms) and late enough that the result is still due when
the VAD would close it: the result is kept if the speaker stays silent. Starting later than
needed wastes fewer recognitions on speakers who only paused.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

from sentiment_svc.events import event_to_dict
from sentiment_svc.frames import (
    SAMPLE_RATE,
    Alert,
    AlertAddressed,
    Channel,
    SpeechSegment,
    Transcript,
    UtteranceAnalysis,
)
from sentiment_svc.pipeline import CallPipeline, CallSummary, languages_for
from sentiment_svc.protocols.base import AudioChunk, CallStart

if TYPE_CHECKING:
    from sentiment_svc.live.service import Service

log = logging.getLogger(__name__)
OUTCOMES = {"apology": "apologised", "bonus": "offered_bonus", "supervisor": "called_supervisor"}
AUDIO_QUEUE = 500  # chunks; a full queue makes the ingest socket wait (back-pressure)
# Utterances waiting for recognition, per call: minutes of speech. Past it the VAD stage
# waits, the audio queue fills and the ingest socket is read more slowly: an overloaded
# service holds bounded memory and drops nothing.
UTTERANCE_QUEUE = 64
PARTIAL_AFTER_S = 3.0  # an utterance this long gets interim transcripts ...
PARTIAL_EVERY_S = 2.0  # ... this often, while the recogniser has nothing more urgent
# An early recognition starts when the VAD would close the utterance within its expected
# time plus this: one audio step (50 ms) and the estimate's spread.
EARLY_LEAD_S = 0.1


@dataclass(frozen=True)
class _Utterance:
    segment: SpeechSegment
    early: asyncio.Task[Transcript] | None  # its recognition, if started before it ended


@dataclass
class CallInfo:
    call_id: str
    operator_id: str
    customer_id: str | None
    protocol: str
    started_at: float
    language: str


class LiveCall:
    def __init__(
        self,
        start: CallStart,
        protocol: str,
        service: Service,
        send_alert: Callable[[dict[str, Any]], None] | None = None,
        sink: Callable[[dict[str, Any]], None] | None = None,
        persist: bool = True,
    ) -> None:
        """`sink` receives every event (default: the service's bus); a replay passes its own
        and `persist=False`, so it neither stores nor shows up on the live feeds."""
        self.start = start
        self.info = CallInfo(
            start.call_id, start.operator_id, start.customer_id, protocol, time.time(),
            start.language,
        )
        self._service = service
        self._send_alert = send_alert
        self._sink = sink or service.bus.publish
        self._persist = persist
        self.pipeline = CallPipeline(service.engines, languages_for(start.language))
        self._resamplers: dict[Channel, soxr.ResampleStream] = {}
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue(AUDIO_QUEUE)
        self._segments: asyncio.Queue[_Utterance | None] = asyncio.Queue(UTTERANCE_QUEUE)
        self._t0: float | None = None  # wall time at which audio second 0 arrived
        self.received_s = 0.0
        self.last_alert: dict[str, Any] | None = None
        self.sentiment_trend: list[float] = []
        self.finished = asyncio.Event()
        self._partial_at: dict[Channel, float] = {}  # channel -> utterance end of last partial
        self._partials: set[asyncio.Task[None]] = set()
        # channel -> (start, end) of an utterance recognised before the VAD closed it
        self._early: dict[Channel, tuple[tuple[float, float], asyncio.Task[Transcript]]] = {}
        self._alert_ids: dict[int, str] = {}  # id(Alert) -> stored alert id
        self._tasks = [
            asyncio.create_task(self._vad_loop(), name=f"vad-{start.call_id}"),
            asyncio.create_task(self._recognition_loop(), name=f"asr-{start.call_id}"),
        ]

    async def push(self, chunk: AudioChunk) -> None:
        if self._t0 is None:
            self._t0 = time.time() - self.received_s
        frames = chunk.pcm.shape[0]
        if chunk.channel is None or chunk.channel is Channel.CUSTOMER:
            self.received_s += frames / self.start.sample_rate
        await self._audio.put(chunk)

    async def finish(self) -> CallSummary:
        """Process what is left, write the summary; returns once everything is published."""
        await self._audio.put(None)
        await asyncio.gather(*self._tasks)
        for task in [*self._partials, *(task for _, task in self._early.values())]:
            task.cancel()
        summary = self.pipeline.summary(self.received_s)
        self.finished.set()
        return summary

    async def dtmf(self, digit: str, channel: Channel | None, t: float) -> None:
        """A key pressed on the phone at call second `t`: published (and stored) with its
        digits masked, since key presses carry card numbers and PINs."""
        from sentiment_svc.domain.codec import to_jsonable
        from sentiment_svc.domain.messages import Dtmf

        self._sink(to_jsonable(Dtmf(
            call_id=self.info.call_id, operator_id=self.info.operator_id, t=round(t, 2),
            channel=channel, digits="*" * len(digit),
        )))

    def alert_delivered(self, alert_id: str) -> None:
        """The telephony platform confirmed it received the alert `alert_id`."""
        from sentiment_svc.domain.codec import to_jsonable
        from sentiment_svc.domain.messages import AlertDelivered

        self._sink(to_jsonable(AlertDelivered(
            call_id=self.info.call_id, operator_id=self.info.operator_id, alert_id=alert_id,
            protocol=self.info.protocol,
        )))

    def abort(self) -> None:
        for task in [*self._tasks, *(task for _, task in self._early.values())]:
            task.cancel()

    # -- VAD stage -------------------------------------------------------------------
    async def _vad_loop(self) -> None:
        ticker = self._service.audio_ticker
        ended = False
        while not ended:
            chunks = [await self._audio.get()]
            if chunks[0] is not None:
                await ticker.step()  # gather the audio of one step, with every other call
            while not self._audio.empty():
                chunks.append(self._audio.get_nowait())
            ended = chunks[-1] is None
            audio = [chunk for chunk in chunks if chunk is not None]
            segments, open_utterances, ending, fresh = await ticker.run(
                functools.partial(self._segment, audio, ended)
            )
            for segment in segments:
                self._partial_at.pop(segment.channel, None)
                await self._segments.put(_Utterance(segment, self._take_early(segment)))
            self._track_early(ending, fresh)
            for utterance in open_utterances:
                self._start_partial(utterance)
        await self._segments.put(None)

    def _track_early(
        self, ending: dict[Channel, tuple[float, float]], fresh: list[SpeechSegment]
    ) -> None:
        """Start recognising an utterance as soon as its end is known (the silence as long
        as the end padding), while a recognition worker is free; drop it if speech resumed.
        `ending`: the spans about to end now; `fresh`: those of them not yet tracked."""
        service = self._service
        for channel, (span, task) in list(self._early.items()):
            if ending.get(channel) != span:
                task.cancel()
                del self._early[channel]
                service.metrics.early_finals.labels("wasted").inc()
        for segment in fresh:
            channel = segment.channel
            # Only if it would start at once (or on the helper within its delay): one that
            # has to queue gains little on the VAD closing the utterance 300 ms later, and
            # may still be wasted.
            if channel not in self._early and service.scheduler.has_free_worker:
                task = asyncio.create_task(
                    service.scheduler.transcribe(
                        segment, self.pipeline.languages, urgency=self._urgency()
                    )
                )
                task.add_done_callback(_retrieve)  # a wasted one's error is not news
                self._early[channel] = ((segment.start, segment.end), task)

    def _take_early(self, segment: SpeechSegment) -> asyncio.Task[Transcript] | None:
        found = self._early.pop(segment.channel, None)
        if found is None:
            return None
        span, task = found
        if span == (segment.start, segment.end):
            self._service.metrics.early_finals.labels("used").inc()
            return task
        task.cancel()
        self._service.metrics.early_finals.labels("wasted").inc()
        return None

    def _start_partial(self, utterance: SpeechSegment) -> None:
        """Interim transcript of a long utterance. Only asked for while the recogniser has
        no queue: under load partials thin out first, finals are never dropped."""
        self._partial_at[utterance.channel] = utterance.end
        task = asyncio.create_task(self._publish_partial(utterance))
        self._partials.add(task)
        task.add_done_callback(self._partials.discard)

    async def _publish_partial(self, utterance: SpeechSegment) -> None:
        service = self._service
        try:
            transcript = await service.scheduler.transcribe(
                utterance, self.pipeline.languages, partial=True
            )
        except Exception:
            log.exception("call %s: partial transcript failed", self.info.call_id)
            return
        transcript = self.pipeline.mask(transcript)
        if transcript.text and self._partial_at.get(utterance.channel) == utterance.end:
            self._sink({
                "type": "partial", "call_id": self.info.call_id,
                "operator_id": self.info.operator_id, "channel": utterance.channel.value,
                "start": round(utterance.start, 2), "end": round(utterance.end, 2),
                "lang": transcript.lang, "text": transcript.text,
            })

    def _segment(
        self, chunks: list[AudioChunk], ended: bool
    ) -> tuple[
        list[SpeechSegment],
        list[SpeechSegment],
        dict[Channel, tuple[float, float]],
        list[SpeechSegment],
    ]:
        """Worker thread: record, resample, endpoint. Returns the finished utterances, the
        open ones due an interim transcript, the spans of those about to end, and those of
        them not yet recognised early (audio is copied only for those)."""
        if self._persist:
            self._service.record(self.start.call_id, chunks)
        per_channel: dict[Channel, list[np.ndarray]] = {}
        for chunk in chunks:
            for channel, pcm in self._split(chunk):
                per_channel.setdefault(channel, []).append(pcm)
        segments: list[SpeechSegment] = []
        for channel, parts in per_channel.items():
            pcm = np.concatenate(parts).astype(np.float32) / 32768.0
            resampled = self._resampler(channel).resample_chunk(pcm, last=False)
            segments.extend(self.pipeline.feed(channel, resampled))
        if ended:
            # The resampler holds back the last tens of milliseconds for its filter: at a
            # hang-up they are the end of the last word.
            for channel, resampler in self._resamplers.items():
                tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
                segments.extend(self.pipeline.feed(channel, tail))
            segments.extend(self.pipeline.flush())
            return sorted(segments, key=lambda segment: segment.end), [], {}, []
        tracked = {channel: span for channel, (span, _) in self._early.items()}
        return (
            sorted(segments, key=lambda segment: segment.end),
            self._partials_due(),
            self.pipeline.ending_spans(),
            # Customers only: their utterances drive the alerts, and a recognition started
            # early is wasted whenever the speaker goes on after the pause.
            self.pipeline.ending_utterances(
                lambda ch, *span: ch is Channel.CUSTOMER and tracked.get(ch) != span
                and self._early_due(ch, *span)
            ),
        )

    def _early_due(self, channel: Channel, start: float, end: float) -> bool:
        """Worker thread: recognise the ending utterance now? Only if a worker would take it
        at once and the VAD would close it before the result is expected: sooner gains
        nothing, since the result is used when the VAD closes the utterance, and is wasted
        more often (a speaker pausing for 200-300 ms is common)."""
        expected_s = self._service.scheduler.expected_finish_s(end - start)
        if expected_s is None:
            return False
        closes_in_s = self.pipeline.vad.min_silence_ms / 1000 - self.pipeline.silence_s(channel)
        return closes_in_s <= expected_s + EARLY_LEAD_S

    def _partials_due(self) -> list[SpeechSegment]:
        """Long customer utterances due an interim transcript, if the recogniser can spare
        the time: partials are the first thing an overloaded service gives up."""
        service = self._service
        skipped: str | None = None
        if len(service.calls) > service.settings.partials_max_calls:
            skipped = "calls"
        elif service.scheduler.depth:
            skipped = "asr_busy"

        def wanted(channel: Channel, start: float, end: float) -> bool:
            due = (
                channel is Channel.CUSTOMER
                and end - start >= PARTIAL_AFTER_S
                and end - self._partial_at.get(channel, start) >= PARTIAL_EVERY_S
            )
            if due and skipped:
                service.metrics.partials_skipped.labels(skipped).inc()
            return due and not skipped

        return self.pipeline.open_utterances(wanted)

    def _split(self, chunk: AudioChunk) -> list[tuple[Channel, np.ndarray]]:
        if chunk.channel is not None:
            return [(chunk.channel, chunk.pcm[:, 0])]
        return [
            (channel, chunk.pcm[:, index])
            for index, channel in self.start.channel_map.items()
            if index < chunk.pcm.shape[1]
        ]

    def _resampler(self, channel: Channel) -> soxr.ResampleStream:
        if channel not in self._resamplers:
            self._resamplers[channel] = soxr.ResampleStream(
                self.start.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
            )
        return self._resamplers[channel]

    # -- recognition and analysis stage -------------------------------------------------
    async def _recognition_loop(self) -> None:
        service = self._service
        loop = asyncio.get_running_loop()
        while (utterance := await self._segments.get()) is not None:
            segment = utterance.segment
            try:
                transcript = await self._transcript(utterance)
                events = await loop.run_in_executor(
                    service.analysis_executor, self.pipeline.analyze, [transcript]
                )
            except Exception:
                log.exception("call %s: utterance %.1f-%.1f s failed", self.info.call_id,
                              segment.start, segment.end)
                continue
            for event in events:
                await self._publish(event)

    async def _transcript(self, utterance: _Utterance) -> Transcript:
        if utterance.early is not None:
            try:
                return await utterance.early
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # this call is being stopped, not just the early job
            except Exception:
                log.warning("call %s: early recognition failed, retrying", self.info.call_id)
        return await self._service.scheduler.transcribe(
            utterance.segment, self.pipeline.languages, urgency=self._urgency()
        )

    def _urgency(self) -> int:
        """The call's escalation level: a tense call's next utterance may decide an alert."""
        return int(self.pipeline.state.level)

    async def _publish(
        self, event: UtteranceAnalysis | Alert | AlertAddressed | CallSummary
    ) -> None:
        service = self._service
        if isinstance(event, AlertAddressed):
            await self._publish_addressed(event)
            return
        message = {
            **event_to_dict(event),
            "call_id": self.info.call_id,
            "operator_id": self.info.operator_id,
        }
        if isinstance(event, UtteranceAnalysis):
            if self._persist:
                message["seq"] = await service.store_call(
                    "add_utterance", self.info.call_id, event_to_dict(event)
                )
            if event.channel is Channel.CUSTOMER:
                self.sentiment_trend.append(round(event.sentiment.pos - event.sentiment.neg, 3))
            service.metrics.utterance_latency.observe(self._latency(event.end))
        elif isinstance(event, Alert):
            if self._persist:
                message["alert_id"] = await service.store_call(
                    "add_alert", self.info.call_id, event_to_dict(event)
                )
            self._alert_ids[id(event)] = message.get("alert_id", "")
            self.last_alert = message
            service.metrics.alerts_total.labels(event.action, event.severity).inc()
            service.metrics.alert_latency.observe(self._latency(event.t))
            if self._send_alert is not None:
                self._send_alert(message)
        self._sink(message)

    async def _publish_addressed(self, event: AlertAddressed) -> None:
        """The operator did what an alert suggested: stored as its acknowledgement, with the
        time it took, and shown on the console like a click on the alert card."""
        alert_id = self._alert_ids.get(id(event.alert))
        outcome = OUTCOMES[event.alert.action]
        if alert_id and self._persist:
            await self._service.store_call(
                "add_ack", self.info.call_id, alert_id, self.info.operator_id, outcome,
                time.time(), event.seconds_to_address,
            )
        self._sink({
            **event_to_dict(event), "type": "alert_acked", "source": "speech",
            "call_id": self.info.call_id, "operator_id": self.info.operator_id,
            "alert_id": alert_id, "outcome": outcome,
        })

    def _latency(self, audio_time: float) -> float:
        if self._t0 is None:
            return 0.0
        return max(0.0, time.time() - (self._t0 + audio_time))

    def state_message(self) -> dict[str, Any]:
        """What the supervisor wall shows for this call."""
        return {
            "type": "call_state",
            "call_id": self.info.call_id,
            "operator_id": self.info.operator_id,
            "protocol": self.info.protocol,
            "started_at": self.info.started_at,
            "duration": round(self.received_s, 1),
            "level": self.pipeline.state.level.name.lower(),
            "score": round(self.pipeline.state.score, 2),
            "sentiment_trend": self.sentiment_trend[-20:],
            "last_alert": self.last_alert,
        }


def _retrieve(task: asyncio.Task[Transcript]) -> None:
    if not task.cancelled():
        task.exception()
