"""The call store on a real SQLite file, and the WAV recordings (writing, crash repair)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from sentiment_svc.storage.db import (
    CallExistsError,
    CallLiveError,
    CallNotLiveError,
    CallRecord,
    CallStore,
    UnknownAlertError,
    UnknownCallError,
)
from sentiment_svc.storage.recordings import RecordingWriter, repair_wav
from sentiment_svc.storage.text import fold_text, query_words

T0 = 1_740_000_000.0  # a fixed wall-clock start (UTC epoch seconds)


def record(call_id: str, *, operator: str = "op-1", customer: str | None = "cust-1",
           language: str = "ru", started_at: float = T0) -> CallRecord:
    return CallRecord(call_id, operator, customer, language, "native", started_at, 8000, 2)


def utterance(text: str, start: float, *, channel: str = "customer", lang: str = "ru",
              categories: tuple[str, ...] = (), neg: float = 0.2) -> dict:
    return {
        "type": "utterance", "channel": channel, "start": start, "end": start + 2.0,
        "lang": lang, "text": text, "sentiment": {"neg": neg, "neu": 0.7 - neg + 0.1,
                                                   "pos": 0.2},
        "categories": list(categories), "loudness_db": 1.5,
    }


def alert(t: float, action: str = "apology") -> dict:
    return {"type": "alert", "t": t, "action": action, "severity": "warning",
            "reason": "The customer is unhappy", "evidence": ["Ну сколько можно ждать"]}


@pytest.fixture
def store(tmp_path: Path):
    store = CallStore(tmp_path / "data")
    yield store
    store.close()


def fill(store: CallStore) -> None:
    """Three calls: a Russian complaint, a Ukrainian escalation, a calm Russian call."""
    store.start_call(record("c-ru", operator="op-1", customer="cust-1", started_at=T0))
    store.add_utterance("c-ru", utterance("Здравствуйте, чем могу помочь?", 0.5,
                                          channel="operator"))
    store.add_utterance("c-ru", utterance("Я ЖДУ уже ЧАС, это безобразие", 3.0,
                                          categories=("waiting",), neg=0.8))
    store.add_alert("c-ru", alert(5.0))
    store.end_call("c-ru", "completed", {"type": "summary", "duration": 9.0}, T0 + 9)

    store.start_call(record("c-uk", operator="op-2", customer="cust-2", language="uk",
                            started_at=T0 + 100))
    store.add_utterance("c-uk", utterance("Покличте КЕРІВНИКА, будь ласка", 1.0, lang="uk",
                                          categories=("escalation_request",), neg=0.7))
    store.add_utterance("c-uk", utterance("Я вже п’ять разів дзвонив", 4.0, lang="uk",
                                          categories=("repeat_contact",)))
    store.add_alert("c-uk", alert(3.0, "supervisor"))

    store.start_call(record("c-calm", operator="op-1", customer="cust-1",
                            started_at=T0 + 200))
    store.add_utterance("c-calm", utterance("Спасибо, всё ещё работает отлично", 1.0,
                                            categories=("gratitude",), neg=0.05))
    store.end_call("c-calm", "completed", None, T0 + 210)


def ids(calls: list[dict]) -> list[str]:
    return [call["call_id"] for call in calls]


def test_round_trip(store: CallStore) -> None:
    store.start_call(record("c1"))
    assert store.add_utterance("c1", utterance("Добрый день", 0.0, channel="operator")) == 0
    assert store.add_utterance("c1", utterance("Мне не помогли", 2.5,
                                               categories=("not_helped",))) == 1
    alert_id = store.add_alert("c1", alert(4.5), created_at=T0 + 4.5)
    assert len(alert_id) == 12
    store.add_ack("c1", alert_id, "op-1", "apologised", T0 + 10, 5.5)
    summary = {"type": "summary", "duration": 12.0, "utterances": 2, "alerts": 1,
               "negative_share": 0.5, "csat_estimate": 3.1}
    store.end_call("c1", "completed", summary, T0 + 12)

    call = store.get_call("c1")
    assert call is not None
    assert {k: call[k] for k in ("operator_id", "customer_id", "language", "protocol",
                                 "sample_rate", "channels", "started_at", "ended_at",
                                 "status")} == {
        "operator_id": "op-1", "customer_id": "cust-1", "language": "ru", "protocol": "native",
        "sample_rate": 8000, "channels": 2, "started_at": T0, "ended_at": T0 + 12,
        "status": "completed",
    }
    assert call["summary"] == summary
    assert call["recording"] is False
    assert call["utterance_count"] == 2 and call["alert_count"] == 1
    assert call["categories"] == ["not_helped"]
    first, second = call["utterances"]
    assert first["seq"] == 0 and first["channel"] == "operator"
    assert second == {
        "seq": 1, "channel": "customer", "start": 2.5, "end": 4.5, "lang": "ru",
        "text": "Мне не помогли", "sentiment": {"neg": 0.2, "neu": 0.6, "pos": 0.2},
        "categories": ["not_helped"], "loudness_db": 1.5,
    }
    (stored_alert,) = call["alerts"]
    assert stored_alert["alert_id"] == alert_id
    assert stored_alert["created_at"] == T0 + 4.5
    assert stored_alert["evidence"] == ["Ну сколько можно ждать"]
    assert stored_alert["acks"] == [
        {"operator_id": "op-1", "outcome": "apologised", "at": T0 + 10, "seconds_to_ack": 5.5}
    ]
    assert store.get_call("nope") is None


def test_events_from_the_pipeline_contract(store: CallStore) -> None:
    from sentiment_svc.events import event_to_dict
    from sentiment_svc.frames import Alert, Channel, Sentiment, UtteranceAnalysis

    event = UtteranceAnalysis(Channel.CUSTOMER, 1.0, 2.5, "uk", "Де мої гроші?",
                              Sentiment(0.7, 0.2, 0.1), ("money",), 4.2, True)
    store.start_call(record("c1"))
    store.add_utterance("c1", event_to_dict(event))
    store.add_alert("c1", event_to_dict(Alert(2.5, "apology", "warning", "why", ("x",))))
    call = store.get_call("c1")
    assert call is not None
    expected = event_to_dict(event)
    del expected["type"]
    assert call["utterances"] == [{"seq": 0, **expected}]
    assert call["alerts"][0]["action"] == "apology"


def test_errors_are_clear(store: CallStore) -> None:
    store.start_call(record("c1"))
    with pytest.raises(CallExistsError, match="'c1' is already stored"):
        store.start_call(record("c1"))
    with pytest.raises(UnknownCallError, match="no call 'zz'") as info:
        store.add_utterance("zz", utterance("x", 0))
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownCallError):
        store.add_alert("zz", alert(1))
    with pytest.raises(UnknownAlertError, match="no alert 'missing' in call 'c1'"):
        store.add_ack("c1", "missing", "op-1", "dismissed", T0, 1.0)
    store.start_call(record("c2"))
    other = store.add_alert("c2", alert(1))
    with pytest.raises(UnknownAlertError):  # an alert of another call
        store.add_ack("c1", other, "op-1", "dismissed", T0, 1.0)
    with pytest.raises(ValueError, match="outcome must be one of"):
        store.add_ack("c2", other, "op-1", "shrugged", T0, 1.0)
    with pytest.raises(ValueError, match="no 'sentiment' field"):
        store.add_utterance("c1", {"channel": "customer", "start": 0, "end": 1, "lang": "ru",
                                   "text": "x"})
    with pytest.raises(ValueError, match="status must be one of"):
        store.end_call("c1", "live", None, T0)
    store.end_call("c1", "failed", None, T0 + 1)
    with pytest.raises(CallNotLiveError, match=r"already ended \(failed\)"):
        store.end_call("c1", "completed", None, T0 + 2)
    with pytest.raises(UnknownCallError):
        store.end_call("zz", "completed", None, T0)


def test_restart_keeps_everything(tmp_path: Path) -> None:
    first = CallStore(tmp_path)
    fill(first)
    alert_id = first.get_call("c-uk")["alerts"][0]["alert_id"]
    first.add_ack("c-uk", alert_id, "op-2", "called_supervisor", T0 + 110, 7.0)
    before = {call_id: first.get_call(call_id) for call_id in ("c-ru", "c-uk", "c-calm")}
    first.close()

    again = CallStore(tmp_path)
    try:
        assert {call_id: again.get_call(call_id) for call_id in before} == before
        assert ids(again.list_calls(text="керівника")) == ["c-uk"]
        # the sequence continues after a restart
        assert again.add_utterance("c-uk", utterance("Дякую", 8.0, lang="uk")) == 2
        assert again.mark_unfinished_interrupted(T0 + 500) == ["c-uk"]
        call = again.get_call("c-uk")
        assert call["status"] == "interrupted" and call["ended_at"] == T0 + 500
        assert again.mark_unfinished_interrupted(T0 + 600) == []
    finally:
        again.close()
    db = sqlite3.connect(tmp_path / "calls.sqlite3")
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


@pytest.mark.parametrize("fts", [True, False], ids=["fts5", "like-fallback"])
def test_text_search_russian_and_ukrainian(tmp_path: Path, fts: bool) -> None:
    store = CallStore(tmp_path, fts=fts)
    assert store.fts is fts
    try:
        fill(store)
        assert ids(store.list_calls(text="керівника")) == ["c-uk"]
        assert ids(store.list_calls(text="КЕРІВНИКА")) == ["c-uk"]
        assert ids(store.list_calls(text="Керівн")) == ["c-uk"]  # word starts
        assert ids(store.list_calls(text="покличте керівника")) == ["c-uk"]
        assert ids(store.list_calls(text="п'ять")) == ["c-uk"]  # any apostrophe
        assert ids(store.list_calls(text="жду час")) == ["c-ru"]
        assert ids(store.list_calls(text="безобразие!")) == ["c-ru"]
        assert ids(store.list_calls(text="еще")) == ["c-calm"]  # ё and е are one letter
        assert ids(store.list_calls(text="час покличте")) == []  # words of one utterance
        assert ids(store.list_calls(text="ас")) == []  # not inside words
        assert ids(store.list_calls(text="%")) == ids(store.list_calls())
        assert ids(store.list_calls(text='" OR NEAR( *')) == []  # no FTS syntax leaks in
    finally:
        store.close()


def test_folding() -> None:
    assert fold_text("Покличте КЕРІВНИКА!") == " покличте керівника "
    assert fold_text("Ещё п’ять") == " еще пять "
    assert query_words("  ") == []


def test_filters(store: CallStore) -> None:
    fill(store)
    assert ids(store.list_calls()) == ["c-calm", "c-uk", "c-ru"]
    assert ids(store.list_calls(operator_id="op-1")) == ["c-calm", "c-ru"]
    assert ids(store.list_calls(since=T0 + 100)) == ["c-calm", "c-uk"]
    assert ids(store.list_calls(until=T0 + 100)) == ["c-ru"]
    assert ids(store.list_calls(since=T0 + 50, until=T0 + 150)) == ["c-uk"]
    assert ids(store.list_calls(has_alert=True)) == ["c-uk", "c-ru"]
    assert ids(store.list_calls(has_alert=False)) == ["c-calm"]
    assert ids(store.list_calls(category="waiting")) == ["c-ru"]
    assert ids(store.list_calls(category="escalation_request")) == ["c-uk"]
    assert ids(store.list_calls(category="nothing")) == []
    assert ids(store.list_calls(operator_id="op-1", has_alert=True, text="час")) == ["c-ru"]
    assert ids(store.list_calls(limit=2)) == ["c-calm", "c-uk"]
    assert ids(store.list_calls(limit=2, offset=2)) == ["c-ru"]
    row = store.list_calls(operator_id="op-2")[0]
    assert row["status"] == "live" and row["ended_at"] is None and row["summary"] is None
    assert row["categories"] == ["escalation_request", "repeat_contact"]
    assert (row["utterance_count"], row["alert_count"]) == (2, 1)
    with pytest.raises(ValueError):
        store.list_calls(limit=-1)


def test_alert_categories_count_for_the_filter(store: CallStore) -> None:
    store.start_call(record("c1"))
    store.add_alert("c1", {**alert(1.0), "categories": ["legal_threat"]})
    assert ids(store.list_calls(category="legal_threat")) == ["c1"]


def _write_recording(store: CallStore, call_id: str, seconds: float = 0.5) -> Path:
    path = store.recording_path(call_id)
    with RecordingWriter(path, 8000, 2) as writer:
        writer.write(np.zeros((int(8000 * seconds), 2), dtype=np.int16))
    return path


def _file_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


def test_delete_call_and_customer_erase_everything(tmp_path: Path) -> None:
    store = CallStore(tmp_path)
    try:
        fill(store)
        paths = {call_id: _write_recording(store, call_id) for call_id in ("c-ru", "c-calm")}
        assert store.get_call("c-ru")["recording"] is True
        with pytest.raises(CallLiveError, match="'c-uk' is still live"):
            store.delete_call("c-uk")
        store.end_call("c-uk", "completed", None, T0 + 120)
        assert store.delete_call("c-uk") is True
        assert store.delete_call("c-uk") is False
        assert store.get_call("c-uk") is None
        assert ids(store.list_calls(text="керівника")) == []
        assert store.delete_customer("cust-1") == 2
        assert store.delete_customer("cust-1") == 0
        assert store.list_calls() == []
        assert not any(path.exists() for path in paths.values())
        db = sqlite3.connect(tmp_path / "calls.sqlite3")
        for table in ("utterances", "alerts", "acks", "call_categories"):
            assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone() == (0,)
        db.execute("INSERT INTO utterances_fts (utterances_fts) VALUES ('integrity-check')")
        db.close()
        store.start_call(record("c-live", customer="cust-9"))
        store.start_call(record("c-done", customer="cust-9"))
        store.end_call("c-done", "completed", None, T0 + 1)
        with pytest.raises(CallLiveError):  # all or nothing
            store.delete_customer("cust-9")
        assert store.get_call("c-done") is not None
    finally:
        store.close()
    # secure_delete, the FTS rewrite and the WAL checkpoint leave no erased text on disk
    raw = _file_bytes(tmp_path)
    for word in ("керівника", "безобразие", "КЕРІВНИКА", "отлично"):
        assert word.encode() not in raw


def test_recording_path_is_safe(store: CallStore) -> None:
    assert store.recording_path("CA123-abc.1").name == "CA123-abc.1.wav"
    for hostile in ("../../etc/passwd", "..", "a/b", "", ".hidden", "x" * 300):
        path = store.recording_path(hostile)
        assert path.parent == store.recordings_dir and path.name.startswith("_")


def test_recording_writer_and_flush(tmp_path: Path) -> None:
    path = tmp_path / "rec" / "c1.wav"
    writer = RecordingWriter(path, 8000, 2, sync_interval=0.0)
    tone = (np.sin(np.arange(8000) / 8) * 8000).astype(np.int16)
    block = np.stack([tone, tone // 2], axis=1)
    writer.write(block)
    writer.flush()
    # after a flush the file on disk is already a complete WAV of what was written
    data, rate = soundfile.read(shutil.copy(path, tmp_path / "mid.wav"), dtype="int16")
    assert rate == 8000 and data.shape == (8000, 2)
    np.testing.assert_array_equal(data, block)
    writer.write(block)
    writer.close()
    writer.close()
    data, _ = soundfile.read(path, dtype="int16")
    assert data.shape == (16000, 2)
    assert repair_wav(path) == 2.0  # a finalised file is left alone
    with pytest.raises(TypeError):
        RecordingWriter(tmp_path / "m.wav", 8000, 1).write(np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError):
        RecordingWriter(tmp_path / "m.wav", 8000, 3)


def test_repair_wav_after_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "live.wav"
    writer = RecordingWriter(path, 16000, 1)
    chunk = np.arange(1600, dtype=np.int16)
    writer.write(chunk)  # written, never flushed: the header still says "no data"
    never_flushed = shutil.copy(path, tmp_path / "never_flushed.wav")
    for _ in range(4):
        writer.write(chunk)
        writer.flush()
    writer.write(chunk)  # written after the last flush: the header is stale
    stale = shutil.copy(path, tmp_path / "stale.wav")
    with open(path, "ab") as handle:  # a torn half frame, as a kill mid-write leaves it
        handle.write(b"\x01")
    torn = shutil.copy(path, tmp_path / "torn.wav")
    writer.close()

    assert repair_wav(Path(never_flushed)) == pytest.approx(0.1)
    assert repair_wav(Path(stale)) == pytest.approx(0.6)
    assert repair_wav(Path(torn)) == pytest.approx(0.6)
    for copy in (stale, torn):
        data, rate = soundfile.read(copy, dtype="int16")
        assert rate == 16000 and len(data) == 9600
        np.testing.assert_array_equal(data[-1600:], chunk)
    assert repair_wav(Path(stale)) == pytest.approx(0.6)  # idempotent
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    with pytest.raises(ValueError, match="not a RIFF/WAVE file"):
        repair_wav(tmp_path / "junk.wav")


def test_interrupted_calls_get_their_recordings_repaired(tmp_path: Path) -> None:
    store = CallStore(tmp_path)
    store.start_call(record("c1"))
    path = store.recording_path("c1")
    writer = RecordingWriter(path, 8000, 2)
    writer.write(np.ones((4000, 2), dtype=np.int16))  # the process dies here
    crashed = path.read_bytes()
    writer.close()
    path.write_bytes(crashed)
    store.close()

    store = CallStore(tmp_path)
    try:
        assert store.mark_unfinished_interrupted(time.time()) == ["c1"]
        data, _ = soundfile.read(path, dtype="int16")
        assert data.shape == (4000, 2)
    finally:
        store.close()


def test_retention_purge_deletes_old_recordings_then_old_calls(tmp_path):
    from sentiment_svc.storage.db import CallRecord, CallStore
    from sentiment_svc.storage.recordings import RecordingWriter

    store = CallStore(tmp_path)
    now = 1_000_000.0
    for call_id, age_days in (("old", 400), ("middle", 100), ("new", 1)):
        started = now - age_days * 86400
        store.start_call(CallRecord(call_id, "op", "cu", "ru", "native", started, 8000, 1))
        with RecordingWriter(store.recording_path(call_id), 8000, 1) as writer:
            writer.write(np.zeros(800, dtype=np.int16))
        store.end_call(call_id, "completed", None, started + 60)
    deleted = store.purge(audio_before=now - 90 * 86400, calls_before=now - 365 * 86400)
    assert deleted == {"calls": 1, "recordings": 1}
    assert store.get_call("old") is None
    assert store.get_call("middle") is not None and not store.recording_path("middle").exists()
    assert store.recording_path("new").exists()
    store.close()
