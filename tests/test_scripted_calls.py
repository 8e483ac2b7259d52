"""Scripted calls (Festival/espeak-ng + sox, see audio_samples/scripted): escalations alert
within 10 s of their trigger; calm calls, negations and neutral uses of trigger words do not
raise a negative alert."""

from __future__ import annotations

import asyncio
import json
import wave

import pytest

from sentiment_svc.audio.decode import CustomerChannel
from sentiment_svc.domain.messages import AlertAcked, AlertMessage, Message, UtteranceMessage
from sentiment_svc.domain.vocabulary import Language
from sentiment_svc.live.offline import analyze_file
from tests.conftest import SCRIPTED_AUDIO

NEGATIVE = {"apology", "bonus", "supervisor"}
V2_FAILURE_CLASSES = {  # issue 23's failure classes, each covered by a v2 call
    "sarcastic_thanks", "shouting", "negated_churn", "misrecognisable_word", "trigger_neutral",
    "positive_surprise", "repeat_contact", "supervisor_request",
}


def messages(engines, name: str, language: Language,
             customer: CustomerChannel = CustomerChannel.MONO) -> list[Message]:
    published: list[Message] = []
    asyncio.run(analyze_file(SCRIPTED_AUDIO / f"{name}.wav", engines, published.append,
                             language, customer))
    return published


def run(
    engines, name: str, languages: tuple[str, ...] = ("ru",)
) -> tuple[list[UtteranceMessage], list[AlertMessage]]:
    language = Language(languages[0]) if len(languages) == 1 else Language.AUTO
    events = messages(engines, name, language)
    return ([e for e in events if isinstance(e, UtteranceMessage)],
            [e for e in events if isinstance(e, AlertMessage)])


def script(name: str) -> list[dict]:
    data = json.loads((SCRIPTED_AUDIO / f"{name}.json").read_text(encoding="utf-8"))
    return data["turns"] if isinstance(data, dict) else data


def turn_end(name: str, words: str) -> float:
    return next(t["end"] for t in script(name) if words in t["text"])


def test_escalating_call_alerts_within_ten_seconds_and_calls_the_supervisor(engines):
    _, alerts = run(engines, "escalating_ru")
    negative = [a for a in alerts if a.action in NEGATIVE]
    first_complaint = turn_end("escalating_ru", "обещали")
    assert negative, "no negative alert"
    print(f"escalating_ru: first negative alert {negative[0].t - first_complaint:.1f} s after"
          f" the first complaint; {len(alerts)} alerts")
    assert negative[0].t - first_complaint <= 10.0
    supervisor = [a for a in alerts if a.action == "supervisor"]
    assert supervisor and supervisor[0].severity == "critical"
    print(f"escalating_ru: supervisor alert"
          f" {supervisor[0].t - turn_end('escalating_ru', 'безобразие'):.1f} s after 'безобразие'")
    assert supervisor[0].t - turn_end("escalating_ru", "безобразие") <= 10.0
    assert all(a.evidence for a in alerts)
    # A misheard "не помогли" must not thank the customer in the middle of an escalation.
    assert not [a for a in alerts if a.action == "thank" and a.t > first_complaint]


@pytest.mark.parametrize("languages", [("uk",), ("ru", "uk")], ids=["uk", "auto"])
def test_ukrainian_escalation_alerts_within_ten_seconds(engines, languages):
    # Russian-accented synthetic Ukrainian (audio_samples/scripted/README.md): Whisper base
    # mishears most of it; the broken promise still reads as a complaint, and the demand
    # for the money back keeps the escalation going.
    _, alerts = run(engines, "escalating_uk", languages)
    negative = [a for a in alerts if a.action in NEGATIVE]
    first_complaint = turn_end("escalating_uk", "обіцяли")
    assert negative, "no negative alert"
    print(f"escalating_uk {languages}: first negative alert"
          f" {negative[0].t - first_complaint:.1f} s after the first complaint;"
          f" {[(a.action, a.severity) for a in alerts]}")
    assert 0 <= negative[0].t - first_complaint <= 10.0
    assert any("грош" in text for text in negative[0].evidence)  # quotes the money complaint


def test_sarcasm_without_keywords_still_escalates(engines):
    _, alerts = run(engines, "sarcasm_ru")
    negative = [a for a in alerts if a.action in NEGATIVE]
    assert negative, "no negative alert"
    delay = negative[0].t - turn_end("sarcasm_ru", "Сколько можно")
    print(f"sarcasm_ru: negative alert {delay:.1f} s after 'Сколько можно'")
    assert delay <= 10.0


@pytest.mark.parametrize("name", ["calm_ru", "negation_ru"])
def test_calm_and_negated_calls_raise_no_negative_alert(engines, name):
    utterances, alerts = run(engines, name)
    assert len(utterances) >= 3
    assert not [a for a in alerts if a.action in NEGATIVE]


def test_operator_compensation_addresses_the_alert_and_times_it(engines):
    events = messages(engines, "stereo_apology_ru", Language.RU, CustomerChannel.LEFT)
    alerts = [e for e in events if isinstance(e, AlertMessage)]
    addressed = [e for e in events if isinstance(e, AlertAcked)]
    # "Мне так и не помогли, я уже третий раз звоню": called again and still not helped, the
    # label guide's bonus. "Это безобразие ... опять списали деньги" may add an apology or a
    # supervisor alert. The operator's offer of compensation answers the bonus alert.
    assert alerts[0].action == "bonus"
    assert {a.action for a in alerts} <= {"apology", "bonus", "supervisor"}
    bonus = [a for a in addressed if a.action == "bonus"]
    assert [a.alert_t for a in bonus] == [alerts[0].t]
    assert bonus[0].source == "speech" and bonus[0].outcome == "offered_bonus"
    offer_end = turn_end("stereo_apology_ru", "Я верну вам деньги")
    assert bonus[0].t == pytest.approx(offer_end, abs=0.5)
    assert bonus[0].seconds_to_address == pytest.approx(offer_end - alerts[0].t, abs=0.5)
    # Only alerts that were raised are addressed, each once.
    raised = {(a.action, a.t) for a in alerts}
    assert all((a.action, a.alert_t) in raised for a in addressed)
    assert len({(a.action, a.alert_t) for a in addressed}) == len(addressed)


def test_dictated_phone_and_card_numbers_are_masked_before_anything_leaves(engines):
    import re

    utterances, _ = run(engines, "personal_data_ru")
    text = " ".join(u.text for u in utterances)
    assert "[телефон]" in text and "[карта]" in text
    digits = re.sub(r"\D", "", text)
    assert len(digits) < 4, f"digits survived masking: {text}"


def v2_spec(name: str) -> dict:
    return json.loads((SCRIPTED_AUDIO / f"{name}.json").read_text(encoding="utf-8"))


def test_the_v2_calls_are_thirty_short_stereo_calls_covering_every_failure_class():
    """The v2 calls' files and expectations (their run: tests/test_scripted_calls_v2.py)."""
    v2_calls = sorted(path.stem for path in SCRIPTED_AUDIO.glob("v2_*.json"))
    assert len(v2_calls) >= 30
    classes: set[str] = set()
    langs: dict[str, set[str]] = {}
    for name in v2_calls:
        spec = v2_spec(name)
        with wave.open(str(SCRIPTED_AUDIO / f"{name}.wav"), "rb") as audio:
            assert (audio.getnchannels(), audio.getframerate()) == (2, 8000), name
            assert audio.getnframes() / 8000 < 60, name  # short calls keep the repo small
        assert spec["kind"] in ("calm", "escalating"), name
        assert bool(spec["windows"]) == (spec["kind"] == "escalating"), name
        for window in spec["windows"]:
            assert window["actions"] in ("negative", "supervisor")
            assert window["end"] - window["start"] > 10.0
        classes.update(spec["classes"])
        for cls in spec["classes"]:
            langs.setdefault(cls, set()).add(spec["turns"][0]["lang"])
    assert classes >= V2_FAILURE_CLASSES
    assert langs["supervisor_request"] == {"ru", "uk"}
    assert {"calm", "escalating"} == {v2_spec(n)["kind"] for n in v2_calls}
