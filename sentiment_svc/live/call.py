"""One call: audio chunks in, typed messages out. The one runner for a live call (audio from
a socket), a QA replay (a stored recording) and `analyze` (a file): whoever runs it hands it
a `CallContext` (the shared models, recogniser and executors, where its messages go and
whether they are stored) and pushes chunks; the call needs nothing else from them.

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
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterable
from dataclasses import dataclass

import numpy as np
import soxr

from sentiment_svc.domain.convert import addressed_message, alert_message, utterance_message
from sentiment_svc.domain.messages import (
    AlertDelivered,
    AlertMessage,
    CallSummary,
    CallView,
    Dtmf,
    Message,
    PartialMessage,
)
from sentiment_svc.domain.vocabulary import OUTCOME_OF_ACTION, ContactChannel, Protocol
from sentiment_svc.frames import (
    SAMPLE_RATE,
    Alert,
    AlertAddressed,
    Channel,
    SpeechSegment,
    Transcript,
    UtteranceAnalysis,
)
from sentiment_svc.live.context import CallContext
from sentiment_svc.pipeline import CallPipeline, languages_for
from sentiment_svc.protocols.base import AudioChunk, CallStart

log = logging.getLogger(__name__)
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
    typed: Transcript | None = None  # a text contact's message: nothing to recognise
    # the typed message's published messages (utterance, alerts, acks), once analysed
    done: asyncio.Future[list[Message]] | None = None


@dataclass
class CallInfo:
    call_id: str
    operator_id: str
    customer_id: str | None
    protocol: Protocol
    started_at: float
    language: str
    contact_channel: ContactChannel | None = None  # a text contact's (live.contacts)


def by_speaker(start: CallStart, chunk: AudioChunk) -> list[tuple[Channel, np.ndarray]]:
    """A chunk's audio per speaker: a one-track chunk, or the columns of an interleaved one."""
    if chunk.channel is not None:
        return [(chunk.channel, chunk.pcm[:, 0])]
    return [
        (channel, chunk.pcm[:, index])
        for index, channel in start.channel_map.items()
        if index < chunk.pcm.shape[1]
    ]


class LiveCall:
    def __init__(self, start: CallStart, protocol: Protocol, context: CallContext) -> None:
        self.start = start
        self.info = CallInfo(
            start.call_id, start.operator_id, start.customer_id, protocol, time.time(),
            start.language,
        )
        self._context = context
        self.pipeline = CallPipeline(context.engines, languages_for(start.language))
        self._resamplers: dict[Channel, soxr.ResampleStream] = {}
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue(AUDIO_QUEUE)
        self._segments: asyncio.Queue[_Utterance | None] = asyncio.Queue(UTTERANCE_QUEUE)
        self._t0: float | None = None  # wall time at which audio second 0 arrived
        self.received_s = 0.0
        # A resumed call's audio before the reconnect (`live.resume`): its new utterances
        # and alerts are stored and shown this much later, continuing the call's timeline.
        self.offset_s = 0.0
        self.last_alert: AlertMessage | None = None
        self.sentiment_trend: list[float] = []
        self.finished = asyncio.Event()
        self._partial_at: dict[Channel, float] = {}  # channel -> utterance end of last partial
        self._partials: set[asyncio.Task[None]] = set()
        # channel -> (start, end) of an utterance recognised before the VAD closed it
        self._early: dict[Channel, tuple[tuple[float, float], asyncio.Task[Transcript]]] = {}
        self._alert_ids: dict[int, str | None] = {}  # id(Alert) -> stored alert id
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

    async def run(self, chunks: AsyncIterable[AudioChunk]) -> CallSummary:
        """Push every chunk of `chunks`, then finish (a file or a recording)."""
        async for chunk in chunks:
            await self.push(chunk)
        return await self.finish()

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
        message = Dtmf(
            call_id=self.info.call_id, operator_id=self.info.operator_id, t=round(t, 2),
            channel=channel, digits="*" * len(digit),
        )
        store = self._context.store
        if store is not None:
            await store(store.store.add_dtmf, self.info.call_id, message)
        self._context.publish(message)

    async def write(self, channel: Channel, t: float, text: str, lang: str) -> list[Message]:
        """A text contact's message at second `t`: analysed in order with the contact's
        other messages, exactly like a recognised utterance. Returns what it published."""
        self.received_s = max(self.received_s, t)
        done: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        typed = Transcript.typed(channel, t, text, lang)
        await self._segments.put(_Utterance(typed.segment, None, typed, done))
        return await done

    def alert_delivered(self, alert_id: str) -> None:
        """The telephony platform confirmed it received the alert `alert_id`."""
        self._context.metrics.alerts_delivered.labels(self.info.protocol).inc()
        self._context.publish(AlertDelivered(
            call_id=self.info.call_id, operator_id=self.info.operator_id, alert_id=alert_id,
            protocol=self.info.protocol,
        ))

    def acknowledged(self, alert_id: str) -> None:
        """An operator answered the alert `alert_id` on the console."""
        for alert in list(self.pipeline.state.open_alerts):
            if self._alert_ids.get(id(alert)) == alert_id:
                self.pipeline.state.settle(alert)

    def remember_alert(self, alert: Alert, alert_id: str) -> None:
        """A stored alert of a resumed call (`live.resume`)."""
        self._alert_ids[id(alert)] = alert_id

    def abort(self) -> None:
        for task in [*self._tasks, *(task for _, task in self._early.values())]:
            task.cancel()

    # -- VAD stage -------------------------------------------------------------------
    async def _vad_loop(self) -> None:
        ticker = self._context.ticker
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
        context = self._context
        for channel, (span, task) in list(self._early.items()):
            if ending.get(channel) != span:
                task.cancel()
                del self._early[channel]
                context.metrics.early_finals.labels("wasted").inc()
        for segment in fresh:
            channel = segment.channel
            # Only if it would start at once (or on the helper within its delay): one that
            # has to queue gains little on the VAD closing the utterance 300 ms later, and
            # may still be wasted.
            if channel not in self._early and context.asr.has_free_worker:
                task = asyncio.create_task(
                    context.asr.transcribe(
                        segment, self.pipeline.languages, urgency=self._urgency(),
                        background=context.background,
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
            self._context.metrics.early_finals.labels("used").inc()
            return task
        task.cancel()
        self._context.metrics.early_finals.labels("wasted").inc()
        return None

    def _start_partial(self, utterance: SpeechSegment) -> None:
        """Interim transcript of a long utterance. Only asked for while the recogniser has
        no queue: under load partials thin out first, finals are never dropped."""
        self._partial_at[utterance.channel] = utterance.end
        task = asyncio.create_task(self._publish_partial(utterance))
        self._partials.add(task)
        task.add_done_callback(self._partials.discard)

    async def _publish_partial(self, utterance: SpeechSegment) -> None:
        try:
            transcript = await self._context.asr.transcribe(
                utterance, self.pipeline.languages, partial=True
            )
        except Exception:
            log.exception("call %s: partial transcript failed", self.info.call_id)
            return
        transcript = self.pipeline.mask(transcript)
        if transcript.text and self._partial_at.get(utterance.channel) == utterance.end:
            self._context.publish(PartialMessage(
                call_id=self.info.call_id, operator_id=self.info.operator_id,
                channel=utterance.channel, start=round(utterance.start, 2),
                end=round(utterance.end, 2), lang=transcript.lang, text=transcript.text,
            ))

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
        parts = [part for chunk in chunks for part in by_speaker(self.start, chunk)]
        if self._context.record is not None and parts:
            self._context.record(parts)
        per_channel: dict[Channel, list[np.ndarray]] = {}
        for channel, pcm in parts:
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
        expected_s = self._context.asr.expected_finish_s(end - start)
        if expected_s is None:
            return False
        closes_in_s = self.pipeline.vad.min_silence_ms / 1000 - self.pipeline.silence_s(channel)
        return closes_in_s <= expected_s + EARLY_LEAD_S

    def _partials_due(self) -> list[SpeechSegment]:
        """Long customer utterances due an interim transcript, if the recogniser can spare
        the time: partials are the first thing an overloaded service gives up."""
        context = self._context
        if context.partials_skipped is None:
            return []
        skipped = context.partials_skipped()

        def wanted(channel: Channel, start: float, end: float) -> bool:
            due = (
                channel is Channel.CUSTOMER
                and end - start >= PARTIAL_AFTER_S
                and end - self._partial_at.get(channel, start) >= PARTIAL_EVERY_S
            )
            if due and skipped:
                # One interim transcript not made: the next is due a period later, as if
                # made (the event loop waits on this step, so the call's state is ours).
                self._partial_at[channel] = end
                context.metrics.partials_skipped.labels(skipped).inc()
            return due and not skipped

        return self.pipeline.open_utterances(wanted)

    def _resampler(self, channel: Channel) -> soxr.ResampleStream:
        if channel not in self._resamplers:
            self._resamplers[channel] = soxr.ResampleStream(
                self.start.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
            )
        return self._resamplers[channel]

    # -- recognition and analysis stage -------------------------------------------------
    async def _recognition_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while (utterance := await self._segments.get()) is not None:
            segment = utterance.segment
            try:
                transcript = utterance.typed or await self._transcript(utterance)
                events = await loop.run_in_executor(
                    self._context.analysis_executor, self.pipeline.analyze, [transcript]
                )
            except Exception as error:
                log.exception("call %s: utterance %.1f-%.1f s failed", self.info.call_id,
                              segment.start, segment.end)
                if utterance.done is not None and not utterance.done.done():
                    utterance.done.set_exception(error)
                continue
            published = [await self._publish(event) for event in events]
            if utterance.done is not None and not utterance.done.done():
                utterance.done.set_result(published)

    async def _transcript(self, utterance: _Utterance) -> Transcript:
        if utterance.early is not None:
            try:
                return await utterance.early
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    raise  # this call is being stopped, not just the early job
            except Exception:
                log.warning("call %s: early recognition failed, retrying", self.info.call_id)
        return await self._context.asr.transcribe(
            utterance.segment, self.pipeline.languages, urgency=self._urgency(),
            background=self._context.background,
        )

    def _urgency(self) -> int:
        """The call's escalation level: a tense call's next utterance may decide an alert."""
        return int(self.pipeline.state.level)

    async def _publish(self, event: UtteranceAnalysis | Alert | AlertAddressed) -> Message:
        context, store = self._context, self._context.store
        ids = {"call_id": self.info.call_id, "operator_id": self.info.operator_id}
        if self.offset_s and isinstance(event, UtteranceAnalysis):
            event = dataclasses.replace(event, start=event.start + self.offset_s,
                                        end=event.end + self.offset_s)
        if isinstance(event, UtteranceAnalysis):
            seq = None
            if store is not None:
                seq = await store(store.store.add_utterance, self.info.call_id, event)
            if event.channel is Channel.CUSTOMER:
                self.sentiment_trend.append(round(event.sentiment.pos - event.sentiment.neg, 3))
            self._observe_latency(context.metrics.utterance_latency, event.end - self.offset_s)
            message = utterance_message(event, seq=seq, **ids)
            if context.send_utterance is not None:
                context.send_utterance(message)
            context.publish(message)
            return message
        if isinstance(event, Alert):
            alert_id = None
            shown = dataclasses.replace(event, t=event.t + self.offset_s)
            if store is not None:
                alert_id = await store(store.store.add_alert, self.info.call_id, shown)
            message = alert_message(shown, alert_id=alert_id, **ids)
            self._alert_ids[id(event)] = alert_id
            self.last_alert = message
            context.metrics.alerts_total.labels(event.action, event.severity).inc()
            self._observe_latency(context.metrics.alert_latency, event.t)
            if context.send_alert is not None:
                context.send_alert(message)
            context.publish(message)
            return message
        return await self._publish_addressed(event)

    async def _publish_addressed(self, event: AlertAddressed) -> Message:
        """The operator did what an alert suggested: stored as its acknowledgement, with the
        time it took, and shown on the console like a click on the alert card."""
        alert_id = self._alert_ids.get(id(event.alert))
        store = self._context.store
        if alert_id and store is not None:
            await store(
                store.store.add_ack, self.info.call_id, alert_id, self.info.operator_id,
                OUTCOME_OF_ACTION[event.alert.action], time.time(), event.seconds_to_address,
            )
        message = addressed_message(
            event, call_id=self.info.call_id, operator_id=self.info.operator_id,
            alert_id=alert_id,
        )
        self._context.publish(message)
        return message

    def _observe_latency(self, histogram, audio_time: float) -> None:
        if self._context.wall_clock and self._t0 is not None:
            histogram.observe(max(0.0, time.time() - (self._t0 + audio_time)))

    def view(self) -> CallView:
        """What the supervisor wall shows for this call."""
        return CallView(
            call_id=self.info.call_id,
            operator_id=self.info.operator_id,
            protocol=self.info.protocol,
            started_at=self.info.started_at,
            duration=round(self.offset_s + self.received_s, 1),
            level=self.pipeline.state.level.label,
            score=round(self.pipeline.state.score, 2),
            sentiment_trend=tuple(self.sentiment_trend[-20:]),
            last_alert=self.last_alert,
            contact_channel=self.info.contact_channel,
        )


def _retrieve(task: asyncio.Task[Transcript]) -> None:
    if not task.cancelled():
        task.exception()
