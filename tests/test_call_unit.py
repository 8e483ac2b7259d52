"""Model-free unit tests of one call (`live.call.LiveCall` over a `CallContext`) and of the
service's admission (`Service.open_call`): real speech through the real Silero VAD, with a
scripted recogniser and a zero text encoder standing in for Whisper and e5
(`tests.standins`). Nothing here reads `models/`; each test runs in a few seconds.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

import sentiment_svc.live.call as call_module
from sentiment_svc.config import Settings
from sentiment_svc.domain.messages import (
    AlertDelivered,
    AlertMessage,
    CallSummary,
    Dtmf,
    PartialMessage,
    UtteranceMessage,
)
from sentiment_svc.domain.vocabulary import Action, CallStatus, Channel, Protocol
from sentiment_svc.live.call import PARTIAL_AFTER_S, LiveCall
from sentiment_svc.live.service import CallRejected, Service
from sentiment_svc.storage.db import CallStore
from sentiment_svc.vad.silero import VadConfig
from tests.conftest import ANGRY_CALL, REAL_AUDIO
from tests.standins import (
    CallHarness,
    ScriptedRecogniser,
    call_start,
    chunks_of,
    model_free_engines,
    read_int16,
    silence,
)

RATE = 8000
PROMPTS = REAL_AUDIO / "asterisk_core_sounds_ru"  # short real prompts, one utterance each
VAD = VadConfig()
PAD_S = VAD.speech_pad_ms / 1000
CLOSE_AFTER_S = VAD.min_silence_ms / 1000  # silence that ends an utterance


def prompt(name: str) -> np.ndarray:
    """One recorded prompt (8 kHz), as a (frames, 1) int16 column."""
    pcm, rate = read_int16(PROMPTS / f"{name}.wav")
    assert rate == RATE
    return pcm[:, :1]


def stereo(total_s: float, *placed: tuple[Channel, float, np.ndarray]) -> np.ndarray:
    """A two-track call (customer left, operator right) with each prompt at its time."""
    out = np.zeros((int(total_s * RATE), 2), dtype=np.int16)
    for channel, at_s, pcm in placed:
        column = 0 if channel is Channel.CUSTOMER else 1
        first = int(at_s * RATE)
        out[first : first + len(pcm), column] = pcm[:, 0]
    return out


def closed_at(end: float) -> float:
    """When the VAD closes an utterance whose (padded) end is `end`."""
    return end - PAD_S + CLOSE_AFTER_S


async def run_call(harness: CallHarness, audio: np.ndarray, channels: int = 1,
                   chunk_s: float = 0.05) -> tuple[LiveCall, CallSummary]:
    call = LiveCall(call_start(channels=channels), Protocol.NATIVE, harness.context())
    await harness.push_paced(call, chunks_of(audio, RATE, chunk_s))
    return call, await call.finish()


def early_finals(harness: CallHarness, outcome: str) -> float:
    return harness.metric("sentiment_early_finals_total", outcome=outcome)


def spans(items) -> list[tuple[Channel, float, float]]:
    return [(item.channel, round(item.start, 2), round(item.end, 2)) for item in items]


# -- 1. early finals ------------------------------------------------------------------
def test_a_customer_utterance_is_recognised_early_once_and_an_operator_one_never():
    """A free recogniser gets each customer utterance as soon as its end is known (before
    the VAD closes it) and the call uses that result: one recognition per utterance. An
    operator's is recognised only once the VAD has closed it."""
    audio = stereo(
        12.0,
        (Channel.OPERATOR, 0.2, prompt("vm-tooshort")),
        (Channel.CUSTOMER, 3.0, prompt("confbridge-dec-talk-vol-out")),
        (Channel.OPERATOR, 5.6, prompt("something-terribly-wrong")),
        (Channel.CUSTOMER, 7.5, prompt("pls-hold-while-try")),
    )
    harness = CallHarness(ScriptedRecogniser(expected_finish_s=0.3))
    try:
        _, summary = asyncio.run(run_call(harness, audio, channels=2))
    finally:
        harness.close()
    utterances = harness.of_type(UtteranceMessage)
    customer = [u for u in utterances if u.channel is Channel.CUSTOMER]
    operator = [u for u in utterances if u.channel is Channel.OPERATOR]
    assert len(customer) == 2 and len(operator) == 2, spans(utterances)
    assert summary.utterances == 4
    asr = harness.asr
    # Each customer utterance was asked for exactly once, with the span it was published
    # with, while the VAD had not yet closed it (less of its silence had been heard).
    assert spans(asr.finals(Channel.CUSTOMER)) == spans(customer)
    for request in asr.finals(Channel.CUSTOMER):
        assert request.heard_s < closed_at(request.end), request
    assert early_finals(harness, "used") == len(customer)
    assert early_finals(harness, "wasted") == 0
    # Operators: once each, after the VAD closed the utterance.
    assert spans(asr.finals(Channel.OPERATOR)) == spans(operator)
    for request in asr.finals(Channel.OPERATOR):
        assert request.heard_s >= closed_at(request.end) - 0.01, request
    assert not asr.partials()
    assert [u.text for u in utterances] == [r.text for r in asr.finals()]


def test_an_early_final_is_wasted_and_redone_when_the_speaker_goes_on():
    """The speaker pauses longer than the end padding (the early recognition starts) but
    shorter than the VAD's close, then goes on: the early result is dropped and the whole
    utterance recognised again."""
    pause_s = 0.3
    assert PAD_S < pause_s < CLOSE_AFTER_S
    first = prompt("something-terribly-wrong")
    audio = np.concatenate([
        first, silence(RATE, pause_s), prompt("vm-tooshort"), silence(RATE, 1.0),
    ])
    # expected_finish_s 0.3: the result would come no sooner than the VAD closes, so the
    # recognition starts as soon as the end is known (silence >= the padding).
    recogniser = ScriptedRecogniser(["first words only", "the whole utterance"],
                                    expected_finish_s=0.3)
    harness = CallHarness(recogniser)
    try:
        _, summary = asyncio.run(run_call(harness, audio))
    finally:
        harness.close()
    early, whole = recogniser.finals()  # exactly two recognitions
    assert early.end <= len(first) / RATE + PAD_S + 0.05 < whole.end
    assert early.start == whole.start
    assert early_finals(harness, "wasted") == 1
    assert early_finals(harness, "used") == 1  # the whole one, also early
    [utterance] = harness.of_type(UtteranceMessage)
    assert utterance.text == "the whole utterance"
    assert (utterance.start, utterance.end) == (round(whole.start, 2), round(whole.end, 2))
    assert summary.utterances == 1


# -- 3. partials ------------------------------------------------------------------------
@pytest.mark.parametrize("skipped", ["free", "asr_busy", "never"])
def test_partials_of_a_long_customer_utterance(skipped):
    """free: `partials_skipped()` says None, a partial comes before the final; asr_busy:
    none is made and the metric counts it; never (analyze, replay): none is asked for."""
    long_prompt = prompt("confbridge-rest-talk-vol-out")  # 4.15 s, no pause
    assert len(long_prompt) / RATE > PARTIAL_AFTER_S + 0.5
    audio = np.concatenate([long_prompt, silence(RATE, 1.0)])
    asks: list[int] = []

    def partials_skipped() -> str | None:
        asks.append(1)
        return None if skipped == "free" else "asr_busy"

    recogniser = ScriptedRecogniser(["final words"], partial_text="interim words")
    harness = CallHarness(recogniser,
                          partials_skipped=None if skipped == "never" else partials_skipped)
    try:
        asyncio.run(run_call(harness, audio))
    finally:
        harness.close()
    kinds = [type(message) for message in harness.published]
    partials = harness.of_type(PartialMessage)
    [utterance] = harness.of_type(UtteranceMessage)
    assert utterance.text == "final words"
    busy = harness.metric("sentiment_partials_skipped_total", reason="asr_busy")
    if skipped == "free":
        assert partials and kinds.index(UtteranceMessage) > kinds.index(PartialMessage)
        for partial in partials:
            assert partial.text == "interim words" and partial.channel is Channel.CUSTOMER
            assert partial.start == utterance.start
            assert partial.end - partial.start >= PARTIAL_AFTER_S
            assert partial.end < utterance.end
        assert len(recogniser.partials()) == len(partials)
        assert busy == 0
    elif skipped == "asr_busy":
        assert not partials and not recogniser.partials()
        # Counted once per interim transcript not made: the one a free recogniser made.
        assert busy == 1
    else:
        assert not partials and not recogniser.partials() and not asks and busy == 0
    assert len(recogniser.finals()) == 1


# -- 4. back-pressure -----------------------------------------------------------------
def test_a_busy_recogniser_holds_back_the_audio_and_loses_nothing(monkeypatch):
    """With recognition held, utterances wait, then the VAD stage, then the audio queue
    fills and `push` stops returning: the ingest socket would be read more slowly. Once the
    recogniser goes on, every utterance comes out, in order."""
    monkeypatch.setattr(call_module, "UTTERANCE_QUEUE", 2)
    monkeypatch.setattr(call_module, "AUDIO_QUEUE", 4)
    names = ["something-terribly-wrong", "vm-tooshort", "confbridge-dec-talk-vol-out"] * 2
    gap_s = 0.8
    pieces, starts, at = [], [], 0.0
    for name in names:
        pcm = prompt(name)
        starts.append(at)
        pieces += [pcm, silence(RATE, gap_s)]
        at += len(pcm) / RATE + gap_s
    audio = np.concatenate(pieces)

    def text_of(segment) -> str:  # the prompt the utterance is, by its middle
        middle = (segment.start + segment.end) / 2
        return f"phrase {sum(start <= middle for start in starts)}"

    recogniser = ScriptedRecogniser(text_of)
    harness = CallHarness(recogniser)
    chunks = chunks_of(audio, RATE, 0.25)

    async def scenario() -> tuple[int, CallSummary]:
        call = LiveCall(call_start(), Protocol.NATIVE, harness.context())
        recogniser.hold()
        blocked_at = None
        for index, chunk in enumerate(chunks):
            push = asyncio.create_task(call.push(chunk))
            done, _ = await asyncio.wait({push}, timeout=0.5)
            if not done:
                blocked_at = index
                break
        assert blocked_at is not None, "push never waited: the queues are not bounded"
        await asyncio.sleep(0.3)
        assert not push.done()
        assert recogniser.depth == 1  # the first utterance, held
        assert not harness.published
        recogniser.release()
        await asyncio.wait_for(push, 5)
        for chunk in chunks[blocked_at + 1 :]:
            await asyncio.wait_for(call.push(chunk), 5)
        return blocked_at, await asyncio.wait_for(call.finish(), 10)

    try:
        blocked_at, summary = asyncio.run(scenario())
    finally:
        harness.close()
    # Blocked only once the utterances behind the held one (the queue's 2, one more held
    # by the VAD stage) had been spoken, and before the audio ended.
    assert starts[3] < blocked_at * 0.25 < len(audio) / RATE - 1.0
    utterances = harness.of_type(UtteranceMessage)
    assert [u.text for u in utterances] == [f"phrase {n}" for n in range(1, len(names) + 1)]
    assert [u.start for u in utterances] == sorted(u.start for u in utterances)
    assert summary.utterances == len(names)
    assert summary.duration == pytest.approx(len(audio) / RATE, abs=0.001)
    assert len(recogniser.finals()) >= len(names)


# -- 5. admission -------------------------------------------------------------------------
def service_without_models(tmp_path, **limits) -> Service:
    return Service(Settings(data_dir=tmp_path, **limits))


def test_open_call_refuses_with_a_reason_and_stores_nothing(tmp_path):
    """Refused while the models load or failed, while a recognition worker is dead, for a
    live call id, over the live-call limit and over a token's quota; a refused call leaves
    no row and no recording. (max_live_calls=2: with 1, the live-call limit would refuse a
    second call before the per-token quota is looked at.)"""
    service = service_without_models(tmp_path, max_live_calls=2, max_calls_per_token=1)
    recogniser = ScriptedRecogniser()

    def start(call_id: str):
        return call_start(call_id=call_id, operator_id=f"op-{call_id}")

    async def refused(call_id: str, owner: str, why: str) -> None:
        with pytest.raises(CallRejected, match=why):
            await service.open_call(start(call_id), Protocol.NATIVE, owner=owner)

    async def scenario() -> None:
        await refused("a", "t1", "still loading its models; retry shortly")
        service.load_error = "whisper-base: no such directory"
        await refused("a", "t1", "models failed to load: whisper-base: no such directory")
        service.load_error = None
        service.engines = model_free_engines()
        await refused("a", "t1", "still loading")  # no recognition scheduler yet
        service.scheduler = recogniser  # type: ignore[assignment]
        recogniser.workers_alive = 0
        await refused("a", "t1", "cannot take calls: 1 of 1 ASR workers stopped")
        recogniser.workers_alive = 1

        first = await service.open_call(start("a"), Protocol.NATIVE, owner="t1")
        await refused("a", "t2", "call a is already live")
        await refused("b", "t1", "this token already has 1 live calls")
        second = await service.open_call(start("b"), Protocol.NATIVE, owner="t2")
        await refused("c", "t3", "at its limit of 2 live calls")
        assert sorted(service.calls) == ["a", "b"]
        assert sorted(c.call_id for c in service.store.list_calls()) == ["a", "b"]
        assert not service.store.recording_path("c").exists()
        await service.close_call(first)
        await service.close_call(second)
        assert service.metrics.registry.get_sample_value("sentiment_active_calls") == 0
        await refused("a", "t1", "already stored")  # an ended call's id stays taken

    async def run() -> None:
        try:
            await scenario()
        finally:
            await service.shutdown()

    asyncio.run(run())
    assert recogniser.closed
    store = CallStore(tmp_path)
    try:
        stored = {call.call_id: call.status for call in store.list_calls()}
    finally:
        store.close()
    assert stored == {"a": CallStatus.COMPLETED, "b": CallStatus.COMPLETED}


def test_calls_opened_at_the_same_time_respect_the_limits(tmp_path):
    """Opens that arrive together each wait on the store: each must still count the others
    (a call holds its place from admission on)."""
    service = service_without_models(tmp_path, max_live_calls=1, max_calls_per_token=1)
    service.engines = model_free_engines()
    service.scheduler = ScriptedRecogniser()  # type: ignore[assignment]

    async def scenario() -> tuple[int, int]:
        try:
            results = await asyncio.gather(*(
                service.open_call(call_start(call_id=call_id), Protocol.NATIVE, owner="t1")
                for call_id in ("x", "y", "z")
            ), return_exceptions=True)
            assert all(isinstance(r, LiveCall | CallRejected) for r in results), results
            return len(service.calls), len(service.store.list_calls())
        finally:
            await service.shutdown()

    assert asyncio.run(scenario()) == (1, 1)


# -- 6. typed messages --------------------------------------------------------------------
def test_published_messages_are_typed_in_order_and_fit_the_feed_schema():
    """An angry utterance: its interim transcript, then the utterance, then its alert (also
    sent to the telephony side), a key press and a delivery receipt; personal data masked;
    each message valid against the published feed schema."""
    import jsonschema

    from sentiment_svc.domain.codec import schemas, to_jsonable

    said = "Позовите руководителя! Мой телефон +7 912 345-67-89, это безобразие."
    audio = np.concatenate([read_int16(ANGRY_CALL)[0][:, :1], silence(RATE, 1.0)])
    recogniser = ScriptedRecogniser(lambda segment: said, partial_text="Мой телефон 89123456789")
    harness = CallHarness(recogniser, partials_skipped=lambda: None)

    async def scenario() -> CallSummary:
        call, summary = await run_call(harness, audio)
        await call.dtmf("7", Channel.CUSTOMER, 8.0)
        call.alert_delivered("alert-1")
        return summary

    try:
        summary = asyncio.run(scenario())
    finally:
        harness.close()
    published = harness.published
    kinds = [type(message) for message in published]
    assert kinds[-2:] == [Dtmf, AlertDelivered]
    assert kinds.index(PartialMessage) < kinds.index(UtteranceMessage) < kinds.index(AlertMessage)
    utterances, alerts = harness.of_type(UtteranceMessage), harness.of_type(AlertMessage)
    assert len(utterances) == 1 and len(alerts) == 1
    utterance, alert = utterances[0], alerts[0]
    assert kinds.index(AlertMessage) == kinds.index(UtteranceMessage) + 1
    assert "+7 912" not in utterance.text and "[" in utterance.text
    assert all("89123456789" not in p.text for p in harness.of_type(PartialMessage))
    assert "escalation_request" in utterance.categories
    assert alert.action is Action.SUPERVISOR and alert.t == utterance.end
    assert alert.evidence == (utterance.text,)
    assert harness.alerts_sent == [alert]
    assert utterance.call_id == alert.call_id == "unit-1" and utterance.seq is None
    assert published[-2].digits == "*"
    assert summary.utterances == 1 and summary.alerts == 1
    validator = jsonschema.Draft202012Validator(schemas()["feed"])
    for message in [*published, summary]:
        validator.validate(to_jsonable(message))


def test_a_call_whose_recording_cannot_start_is_refused_and_not_left_live(tmp_path):
    """The recording's sink fails to open (here a directory stands where the WAV would go;
    on PostgreSQL, the server gone between the two writes): the call is refused with a
    reason, stored as failed rather than left live, and its place is free again."""
    service = service_without_models(tmp_path)
    service.engines = model_free_engines()
    service.scheduler = ScriptedRecogniser()  # type: ignore[assignment]
    service.store.recordings.path("blocked").mkdir(parents=True)

    async def scenario() -> None:
        try:
            with pytest.raises(CallRejected, match="recording cannot be started; retry"):
                await service.open_call(call_start(call_id="blocked"), Protocol.NATIVE)
            assert service.calls == {}
            second = await service.open_call(call_start(call_id="fine"), Protocol.NATIVE)
            await service.close_call(second)
        finally:
            await service.shutdown()

    asyncio.run(scenario())
    store = CallStore(tmp_path)
    try:
        stored = {call.call_id: call.status for call in store.list_calls()}
    finally:
        store.close()
    assert stored == {"blocked": CallStatus.FAILED, "fine": CallStatus.COMPLETED}
