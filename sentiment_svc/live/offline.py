"""A recorded file through the same call runner as a live call, as fast as the machine goes.

`analyze_file` decodes the file, splits it into the customer's and the operator's channels
and pushes it to a `LiveCall` in chunks, with its own recognition queue and worker threads:
what `sentiment-svc analyze` prints is what the live service would have published for the
same audio (no interim transcripts, nothing stored).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sentiment_svc.asr.scheduler import AsrScheduler
from sentiment_svc.audio.decode import (
    AudioDecodeError,
    CustomerChannel,
    DecodedAudio,
    decode_file,
)
from sentiment_svc.domain.messages import CallMessage, CallSummary, Message
from sentiment_svc.domain.vocabulary import Channel, Language, Protocol
from sentiment_svc.live.call import LiveCall
from sentiment_svc.live.context import CallContext
from sentiment_svc.live.metrics import Metrics
from sentiment_svc.live.ticker import AudioTicker
from sentiment_svc.pipeline import Engines
from sentiment_svc.protocols.base import AudioChunk, CallStart

CHUNK_S = 0.5  # audio handed to the call at a time
FILE_CALL_ID = "file"


def file_start(audio: DecodedAudio, customer: CustomerChannel, language: Language) -> CallStart:
    """The call a recording stands for: one customer channel, or customer and operator."""
    if customer is CustomerChannel.MONO:
        channel_map = {0: Channel.CUSTOMER}
    else:
        customer_index = 0 if customer is CustomerChannel.LEFT else 1
        channel_map = {customer_index: Channel.CUSTOMER, 1 - customer_index: Channel.OPERATOR}
    return CallStart(
        call_id=FILE_CALL_ID, operator_id="", customer_id=None, language=language,
        sample_rate=audio.sample_rate, encoding="pcm16", channels=len(channel_map),
        channel_map=channel_map,
    )


def file_pcm(audio: DecodedAudio, customer: CustomerChannel) -> np.ndarray:
    """int16 frames in the layout of `file_start`; a mono request mixes a stereo file down."""
    samples = audio.samples
    if customer is CustomerChannel.MONO:
        samples = samples.mean(axis=1, keepdims=True)
    elif audio.channels != 2:
        raise AudioDecodeError(
            f"--customer-channel {customer.value} needs a stereo file;"
            f" this one has {audio.channels} channel(s)"
        )
    # x / 32768 is how a 16-bit file decodes: this gives its samples back exactly
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


async def chunks_of(pcm: np.ndarray, rate: int,
                    on_progress: Callable[[float], None] | None = None
                    ) -> AsyncIterator[AudioChunk]:
    step = int(CHUNK_S * rate)
    for offset in range(0, len(pcm), step):
        yield AudioChunk(pcm=pcm[offset : offset + step], t=offset / rate)
        if on_progress is not None:
            on_progress(min(len(pcm), offset + step) / rate)


async def analyze_file(
    path: Path,
    engines: Engines,
    publish: Callable[[Message], None],
    language: Language = Language.AUTO,
    customer_channel: CustomerChannel = CustomerChannel.MONO,
    on_progress: Callable[[float], None] | None = None,
    workers: int = 1,
) -> CallSummary:
    """Every message the call produces goes to `publish` in order; returns the summary
    (also published, last)."""
    audio = decode_file(path)
    pcm = file_pcm(audio, customer_channel)
    start = file_start(audio, customer_channel, language)
    with ThreadPoolExecutor(1, "audio") as audio_pool, ThreadPoolExecutor(1, "text") as text:
        asr = AsrScheduler(engines.recognizer, workers)
        try:
            context = CallContext(
                engines=engines, asr=asr, ticker=AudioTicker(audio_pool),
                analysis_executor=text, metrics=Metrics(), publish=_without_ids(publish),
                wall_clock=False,
            )
            call = LiveCall(start, Protocol.NATIVE, context)
            summary = await call.run(chunks_of(pcm, audio.sample_rate, on_progress))
        finally:
            asr.close()
    publish(summary)
    return summary


def _without_ids(publish: Callable[[Message], None]) -> Callable[[Message], None]:
    """A file is no call of the service: its messages carry no call or operator id."""

    def publish_file_message(message: Message) -> None:
        if isinstance(message, CallMessage):
            message = message.model_copy(update={"call_id": None, "operator_id": None})
        publish(message)

    return publish_file_message
