"""One pipeline, two sources: a chat message and a call utterance with the same words get
the same analysis, the same escalation and the same alerts (the typed text enters where the
recognised text does, skipping VAD and ASR; only the voice is missing)."""

from __future__ import annotations

import asyncio

import numpy as np
import soundfile

from sentiment_svc.frames import (
    Alert,
    AlertAddressed,
    Channel,
    SpeechSegment,
    Transcript,
    UtteranceAnalysis,
)
from sentiment_svc.live.call import LiveCall
from sentiment_svc.pipeline import CallPipeline, Engines
from sentiment_svc.protocols.base import CallStart
from tests.conftest import REAL_AUDIO
from tests.standins import CallHarness, ScriptedRecogniser, model_free_engines

CONVERSATION = [
    (Channel.CUSTOMER, "Здравствуйте, мне не вернули деньги за заказ."),
    (Channel.OPERATOR, "Добрый день, сейчас проверю."),
    (Channel.CUSTOMER, "Мне так и не помогли, я уже третий раз обращаюсь."),
    (Channel.CUSTOMER, "Где мои деньги? Верните деньги!"),
    (Channel.OPERATOR, "Приносим извинения, мы начислим вам бонус."),
    (Channel.CUSTOMER, "Позовите руководителя, немедленно."),
    (Channel.CUSTOMER, "Ладно, спасибо."),
]
SPEECH = REAL_AUDIO / "asterisk_core_sounds_ru" / "agent-incorrect.wav"


def _speech() -> np.ndarray:
    pcm, _ = soundfile.read(SPEECH, dtype="float32")
    return pcm  # 8 kHz read as if 16 kHz: it is the level that matters, all the same


def _run(engines: Engines, typed: bool) -> list:
    pipeline = CallPipeline(engines)
    pcm = _speech()
    events = []
    for index, (channel, text) in enumerate(CONVERSATION):
        start = index * 6.0
        if typed:
            transcript = Transcript.typed(channel, start + 2.0, text, "ru")
        else:
            segment = SpeechSegment(channel, start, start + 2.0, pcm)
            transcript = Transcript(segment, text, "ru")
        events.extend(pipeline.analyze([transcript]))
    return events


def _comparable(event) -> tuple:
    """What must agree between the sources: everything but the audio's own facts (a typed
    message has no duration and no loudness)."""
    if isinstance(event, UtteranceAnalysis):
        return ("utterance", event.channel, event.end, event.text, event.lang,
                event.sentiment, event.categories, event.raised_voice)
    if isinstance(event, Alert):
        return ("alert", event.t, event.action, event.severity, event.reason, event.evidence,
                event.categories)
    assert isinstance(event, AlertAddressed)
    return ("addressed", event.t, event.alert.action, event.evidence)


def _assert_same(engines: Engines) -> list:
    spoken, typed = _run(engines, typed=False), _run(engines, typed=True)
    assert [_comparable(e) for e in typed] == [_comparable(e) for e in spoken]
    alerts = [e for e in typed if isinstance(e, Alert)]
    assert alerts, "the conversation should raise alerts"
    assert all(not e.raised_voice for e in typed if isinstance(e, UtteranceAnalysis))
    return typed


def test_chat_and_call_give_the_same_analysis_and_alerts_model_free() -> None:
    typed = _assert_same(model_free_engines())
    actions = [(e.action, e.severity) for e in typed if isinstance(e, Alert)]
    assert ("supervisor", "critical") in actions
    assert any(isinstance(e, AlertAddressed) for e in typed)  # the apology answered one


def test_chat_and_call_give_the_same_analysis_and_alerts_with_the_real_models(engines) -> None:
    _assert_same(engines)


def test_a_text_message_in_a_live_call_is_published_like_a_recognised_utterance() -> None:
    """Through `LiveCall`: a written message gets the same published messages (utterance,
    alert) as the same words recognised from audio, and never reaches the recogniser."""

    async def scenario() -> tuple[list, list]:
        harness = CallHarness(ScriptedRecogniser())
        start = CallStart(call_id="c", operator_id="op", customer_id=None, language="ru",
                          sample_rate=16000, encoding="pcm16", channels=2,
                          channel_map={0: Channel.CUSTOMER, 1: Channel.OPERATOR})
        call = LiveCall(start, "text", harness.context())
        replies = []
        for index, (channel, text) in enumerate(CONVERSATION):
            replies.append(await call.write(channel, index * 6.0 + 2.0, text, "ru"))
        await call.finish()
        harness.close()
        assert harness.asr.requests == []
        return replies, harness.published

    replies, published = asyncio.run(scenario())
    assert [m for reply in replies for m in reply] == published
    expected = _run(model_free_engines(), typed=True)
    kinds = {"utterance": "utterance", "alert": "alert", "alert_acked": "addressed"}
    assert [kinds[m.type] for m in published] == [_comparable(e)[0] for e in expected]
    alerts = [m for m in published if m.type == "alert"]
    assert [(a.action, a.reason) for a in alerts] == [
        (e.action, e.reason) for e in expected if isinstance(e, Alert)]
