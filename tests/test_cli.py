"""`sentiment-svc analyze`, run as a user runs it: a subprocess on real audio."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ANGRY_CALL, CALM_CALL, SCRIPTED_AUDIO


def analyze(path: Path, *options: str) -> subprocess.CompletedProcess:
    executable = shutil.which("sentiment-svc") or str(
        Path(sys.executable).with_name("sentiment-svc")
    )
    return subprocess.run(
        [executable, "analyze", str(path), *options], capture_output=True, text=True, timeout=600
    )


def events(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


NEGATIVE_ACTIONS = {"apology", "bonus", "supervisor"}


def test_angry_real_call_raises_a_negative_alert():
    output = events(analyze(ANGRY_CALL))
    alerts = [e for e in output if e["type"] == "alert"]
    assert any(a["action"] in NEGATIVE_ACTIONS and a["severity"] != "info" for a in alerts)
    for alert in alerts:
        assert alert["evidence"] and alert["reason"]
        assert 0 < alert["t"] <= 7.3
    utterances = [e for e in output if e["type"] == "utterance"]
    assert utterances and all(u["channel"] == "customer" for u in utterances)
    assert max(u["sentiment"]["neg"] for u in utterances) > 0.5
    assert output[-1]["type"] == "summary" and output[-1]["alerts"] == len(alerts)
    assert output[-1]["csat_estimate"] <= 3


def test_calm_real_call_has_no_supervisor_alert():
    result = analyze(CALM_CALL, "--lang", "ru")
    output = events(result)
    assert not [e for e in output if e["type"] == "alert" and e["action"] == "supervisor"]
    utterances = [e for e in output if e["type"] == "utterance"]
    assert len(utterances) >= 4
    assert all(u["lang"] == "ru" for u in utterances)
    summary = output[-1]
    assert summary["type"] == "summary" and summary["duration"] == pytest.approx(50.76, abs=0.01)
    assert "s/s" in result.stderr or "%" in result.stderr  # progress bar for a call over 30 s


def test_output_contract_fields():
    output = events(analyze(ANGRY_CALL, "--lang", "ru"))
    utterance = next(e for e in output if e["type"] == "utterance")
    assert set(utterance) == {"type", "channel", "start", "end", "lang", "text", "sentiment",
                              "categories", "loudness_db", "raised_voice"}
    assert set(utterance["sentiment"]) == {"neg", "neu", "pos"}
    assert sum(utterance["sentiment"].values()) == pytest.approx(1.0, abs=0.01)
    assert set(output[-1]) == {"type", "duration", "utterances", "alerts", "negative_share",
                               "csat_estimate"}


def test_stereo_call_keeps_operator_out_of_customer_sentiment():
    script = json.loads((SCRIPTED_AUDIO / "stereo_ru.json").read_text(encoding="utf-8"))
    output = events(analyze(SCRIPTED_AUDIO / "stereo_ru.wav", "--customer-channel", "left"))
    utterances = [e for e in output if e["type"] == "utterance"]
    customer = [u for u in utterances if u["channel"] == "customer"]
    operator = [u for u in utterances if u["channel"] == "operator"]
    assert customer and operator
    turns = script["turns"] if isinstance(script, dict) else script
    operator_turns = [t for t in turns if t["speaker"] == "operator"]
    for utterance in customer:  # every customer utterance lies inside a customer turn
        assert not any(
            t["start"] - 0.3 <= (utterance["start"] + utterance["end"]) / 2 <= t["end"] + 0.3
            for t in operator_turns
        )
    # The operator quotes a furious complaint; none of it may reach the customer's state.
    assert not any(u["categories"] and set(u["categories"]) - {"gratitude"} for u in customer)
    assert not [e for e in output if e["type"] == "alert" and e["action"] != "thank"]
    assert output[-1]["negative_share"] < 0.5


@pytest.mark.parametrize(
    "content,message",
    [(b"", "empty file"), (b"this is a text file, not audio\n" * 10, "not a recognised audio"),
     (None, "truncated WAV")],
)
def test_bad_input_gives_one_line_error_and_nonzero_exit(tmp_path, content, message):
    path = tmp_path / "input.wav"
    if content is None:
        data = ANGRY_CALL.read_bytes()
        content = data[: len(data) // 3]
    path.write_bytes(content)
    result = analyze(path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert result.stdout == ""
