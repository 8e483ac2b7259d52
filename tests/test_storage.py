"""The call store on a real SQLite file and on a real PostgreSQL server (the tests that take
`store` or `make_store` run on both backends), and the WAV recordings (writing, crash
repair)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydantic
import pytest
import soundfile

from sentiment_svc.alerts.policy import Policy
from sentiment_svc.alerts.state import CallState
from sentiment_svc.domain.messages import CallSummary, Dtmf
from sentiment_svc.domain.records import (
    CallDetail,
    CallOpened,
    CustomerPast,
    StoredAck,
    StoredCall,
    StoredDtmf,
)
from sentiment_svc.domain.vocabulary import (
    AckOutcome,
    Action,
    CallStatus,
    Category,
    Channel,
    Severity,
)
from sentiment_svc.frames import Alert, Sentiment, UtteranceAnalysis
from sentiment_svc.storage.base import CallRepository
from sentiment_svc.storage.db import (
    CallExistsError,
    CallLiveError,
    CallNotLiveError,
    CallStore,
    UnknownAlertError,
    UnknownCallError,
)
from sentiment_svc.storage.postgres import PgCallStore
from sentiment_svc.storage.recordings import RecordingWriter, repair_wav
from sentiment_svc.storage.schema import _FTS, _SCHEMA_V1, SCHEMA_VERSION, fts5_available
from sentiment_svc.storage.text import fold_text, query_words
from tests.stores import MakeStore, count_rows

T0 = 1_740_000_000.0  # a fixed wall-clock start (UTC epoch seconds)


def record(call_id: str, *, operator: str = "op-1", customer: str | None = "cust-1",
           language: str = "ru", started_at: float = T0) -> CallOpened:
    return CallOpened(call_id=call_id, operator_id=operator, customer_id=customer,
                      language=language, protocol="native", started_at=started_at,
                      sample_rate=8000, channels=2)


def utterance(text: str, start: float, *, channel: str = "customer", lang: str = "ru",
              categories: tuple[str, ...] = (), neg: float = 0.2,
              raised_voice: bool = False) -> UtteranceAnalysis:
    return UtteranceAnalysis(
        channel=Channel(channel), start=start, end=start + 2.0, lang=lang, text=text,
        sentiment=Sentiment(neg=neg, neu=0.7 - neg + 0.1, pos=0.2),
        categories=tuple(Category(c) for c in categories), loudness_db=1.5,
        raised_voice=raised_voice,
    )


def alert(t: float, action: str = "apology") -> Alert:
    return Alert(t=t, action=Action(action), severity=Severity.WARNING,
                 reason="The customer is unhappy", evidence=("Ну сколько можно ждать",))


def summary(duration: float, *, utterances: int = 2, alerts: int = 1,
            negative_share: float = 0.5, csat_estimate: float = 3.1) -> CallSummary:
    return CallSummary(duration=duration, utterances=utterances, alerts=alerts,
                       negative_share=negative_share, csat_estimate=csat_estimate)


@pytest.fixture
def store(make_store: MakeStore) -> CallRepository:
    return make_store()


def fill(store: CallStore) -> None:
    """Three calls: a Russian complaint, a Ukrainian escalation, a calm Russian call."""
    store.start_call(record("c-ru", operator="op-1", customer="cust-1", started_at=T0))
    store.add_utterance("c-ru", utterance("Здравствуйте, чем могу помочь?", 0.5,
                                          channel="operator"))
    store.add_utterance("c-ru", utterance("Я ЖДУ уже ЧАС, это безобразие", 3.0,
                                          categories=("waiting",), neg=0.8))
    store.add_alert("c-ru", alert(5.0))
    store.end_call("c-ru", CallStatus.COMPLETED, summary(9.0), T0 + 9)

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
    store.end_call("c-calm", CallStatus.COMPLETED, None, T0 + 210)


def ids(calls: list[StoredCall]) -> list[str]:
    return [call.call_id for call in calls]


def detail(store: CallStore, call_id: str) -> CallDetail:
    call = store.get_call(call_id)
    assert call is not None
    return call


def test_the_same_answer_to_an_alert_is_stored_once(store: CallStore) -> None:
    """5,000 identical acks (a stuck button, a retrying console) must not become 5,000 rows
    nor move the time it took to answer; a different answer is a new row."""
    store.start_call(record("c1"))
    alert_id = store.add_alert("c1", alert(4.5), created_at=T0 + 4.5)
    assert store.add_ack("c1", alert_id, "op-1", AckOutcome.APOLOGISED, T0 + 10, 5.5)
    assert not any([store.add_ack("c1", alert_id, "op-1", AckOutcome.APOLOGISED, T0 + 10 + i,
                                  5.5 + i) for i in range(1, 200)])
    assert store.add_ack("c1", alert_id, "op-1", AckOutcome.DISMISSED, T0 + 300, 295.5)
    acks = store.get_call("c1").alerts[0].acks
    assert [(a.outcome, a.at, a.seconds_to_ack) for a in acks] == [
        (AckOutcome.APOLOGISED, T0 + 10, 5.5), (AckOutcome.DISMISSED, T0 + 300, 295.5)]


def test_round_trip(store: CallStore) -> None:
    store.start_call(record("c1"))
    assert store.add_utterance("c1", utterance("Добрый день", 0.0, channel="operator")) == 0
    assert store.add_utterance("c1", utterance("Мне не помогли", 2.5,
                                               categories=("not_helped",))) == 1
    alert_id = store.add_alert("c1", alert(4.5), created_at=T0 + 4.5)
    assert len(alert_id) == 12
    store.add_ack("c1", alert_id, "op-1", AckOutcome.APOLOGISED, T0 + 10, 5.5)
    ended = summary(12.0, utterances=2, alerts=1, negative_share=0.5, csat_estimate=3.1)
    store.end_call("c1", CallStatus.COMPLETED, ended, T0 + 12)

    call = store.get_call("c1")
    assert isinstance(call, CallDetail)
    assert call.model_dump(include={"operator_id", "customer_id", "language", "protocol",
                                    "sample_rate", "channels", "started_at", "ended_at",
                                    "status"}) == {
        "operator_id": "op-1", "customer_id": "cust-1", "language": "ru", "protocol": "native",
        "sample_rate": 8000, "channels": 2, "started_at": T0, "ended_at": T0 + 12,
        "status": "completed",
    }
    assert call.status is CallStatus.COMPLETED
    assert call.summary == ended
    assert call.recording is False
    assert call.utterance_count == 2 and call.alert_count == 1
    assert call.categories == ("not_helped",)
    first, second = call.utterances
    assert first.seq == 0 and first.channel is Channel.OPERATOR
    assert second.model_dump() == {
        "seq": 1, "channel": "customer", "start": 2.5, "end": 4.5, "lang": "ru",
        "text": "Мне не помогли", "sentiment": {"neg": 0.2, "neu": 0.6, "pos": 0.2},
        "categories": ("not_helped",), "loudness_db": 1.5, "raised_voice": False,
    }
    (stored_alert,) = call.alerts
    assert stored_alert.alert_id == alert_id
    assert stored_alert.created_at == T0 + 4.5
    assert stored_alert.evidence == ("Ну сколько можно ждать",)
    assert stored_alert.acks == (
        StoredAck(operator_id="op-1", outcome="apologised", at=T0 + 10, seconds_to_ack=5.5),
    )
    assert stored_alert.acks[0].outcome is AckOutcome.APOLOGISED
    assert call.dtmf == ()
    assert store.get_call("nope") is None


def test_values_from_the_pipeline_round_trip(store: CallStore) -> None:
    """What the pipeline produces is stored as is and reads back field for field."""
    event = UtteranceAnalysis(Channel.CUSTOMER, 1.0, 2.5, "uk", "Де мої гроші?",
                              Sentiment(0.7, 0.2, 0.1), (Category.MONEY,), 4.2, True)
    raised = Alert(2.5, Action.APOLOGY, Severity.WARNING, "why", ("x",), (Category.MONEY,))
    store.start_call(record("c1"))
    store.add_utterance("c1", event)
    store.add_alert("c1", raised, created_at=T0 + 2.5)
    call = detail(store, "c1")
    stored = {k: v for k, v in dataclasses.asdict(event).items() if k != "complaint"}
    assert [u.model_dump() for u in call.utterances] == [{"seq": 0, **stored}]
    assert call.alerts[0].action == "apology"
    assert call.alerts[0].model_dump(exclude={"alert_id", "created_at", "acks"}) == (
        dataclasses.asdict(raised)
    )


def test_errors_are_clear(store: CallStore) -> None:
    store.start_call(record("c1"))
    with pytest.raises(CallExistsError, match="'c1' is already stored"):
        store.start_call(record("c1"))
    with pytest.raises(UnknownCallError, match="no call 'zz'") as info:
        store.add_utterance("zz", utterance("x", 0))
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownCallError):
        store.add_alert("zz", alert(1))
    with pytest.raises(UnknownCallError):
        store.add_dtmf("zz", Dtmf(t=1.0, digits="1"))
    with pytest.raises(UnknownAlertError, match="no alert 'missing' in call 'c1'"):
        store.add_ack("c1", "missing", "op-1", AckOutcome.DISMISSED, T0, 1.0)
    store.start_call(record("c2"))
    other = store.add_alert("c2", alert(1))
    with pytest.raises(UnknownAlertError):  # an alert of another call
        store.add_ack("c1", other, "op-1", AckOutcome.DISMISSED, T0, 1.0)
    with pytest.raises(ValueError, match="'shrugged' is not a valid AckOutcome"):
        store.add_ack("c2", other, "op-1", "shrugged", T0, 1.0)
    assert detail(store, "c2").alerts[0].acks == ()  # nothing stored by the refused ack
    # the typed boundary of a new call: an unknown language or protocol is refused
    with pytest.raises(pydantic.ValidationError, match="language"):
        record("c3", language="de")
    for status in ("live", CallStatus.LIVE, "bogus"):
        with pytest.raises(ValueError, match="status must be one of"):
            store.end_call("c1", status, None, T0)
    assert detail(store, "c1").status is CallStatus.LIVE
    store.end_call("c1", CallStatus.FAILED, None, T0 + 1)
    with pytest.raises(CallNotLiveError, match=r"already ended \(failed\)"):
        store.end_call("c1", CallStatus.COMPLETED, None, T0 + 2)
    with pytest.raises(UnknownCallError):
        store.end_call("zz", CallStatus.COMPLETED, None, T0)


def test_restart_keeps_everything(make_store: Callable[[], CallRepository], tmp_path: Path
                                  ) -> None:
    first = make_store()
    fill(first)
    alert_id = detail(first, "c-uk").alerts[0].alert_id
    first.add_ack("c-uk", alert_id, "op-2", AckOutcome.CALLED_SUPERVISOR, T0 + 110, 7.0)
    first.add_dtmf("c-uk", Dtmf(t=6.0, channel=Channel.CUSTOMER, digits="1**4"))
    before = {call_id: first.get_call(call_id) for call_id in ("c-ru", "c-uk", "c-calm")}
    first.close()

    again = make_store()
    try:
        assert {call_id: again.get_call(call_id) for call_id in before} == before
        assert ids(again.list_calls(text="керівника")) == ["c-uk"]
        # the sequence continues after a restart
        assert again.add_utterance("c-uk", utterance("Дякую", 8.0, lang="uk")) == 2
        assert again.mark_unfinished_interrupted(T0 + 500) == ["c-uk"]
        call = detail(again, "c-uk")
        assert call.status == "interrupted" and call.ended_at == T0 + 500
        assert again.mark_unfinished_interrupted(T0 + 600) == []
    finally:
        again.close()
    if make_store.url:  # type: ignore[attr-defined]
        return
    db = sqlite3.connect(tmp_path / "data" / "calls.sqlite3")
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 6
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


@pytest.mark.parametrize("fts", [True, False, None],
                         ids=["fts5", "like-fallback", "postgres-trigram"])
def test_text_search_russian_and_ukrainian(tmp_path: Path, fts: bool | None,
                                           request: pytest.FixtureRequest) -> None:
    if fts is None:
        store = PgCallStore(request.getfixturevalue("pg_url"))
    else:
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
    assert row.status == "live" and row.ended_at is None and row.summary is None
    assert row.status is CallStatus.LIVE
    assert row.categories == ("escalation_request", "repeat_contact")
    assert (row.utterance_count, row.alert_count) == (2, 1)
    assert not isinstance(row, CallDetail)  # a list row is not the whole call
    with pytest.raises(ValueError):
        store.list_calls(limit=-1)


def test_alert_categories_count_for_the_filter(store: CallStore) -> None:
    store.start_call(record("c1"))
    store.add_alert("c1", dataclasses.replace(alert(1.0), categories=(Category.LEGAL_THREAT,)))
    assert ids(store.list_calls(category="legal_threat")) == ["c1"]


def _write_recording(store: CallRepository, call_id: str, seconds: float = 0.5) -> None:
    writer = store.recordings.open_writer(call_id, 8000, 2)
    writer.write(np.zeros((int(8000 * seconds), 2), dtype=np.int16))
    writer.close()


def _file_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.iterdir() if p.is_file())


def test_delete_call_and_customer_erase_everything(
        make_store: Callable[[], CallRepository], tmp_path: Path) -> None:
    store = make_store()
    try:
        fill(store)
        for call_id in ("c-ru", "c-calm"):
            _write_recording(store, call_id)
        assert detail(store, "c-ru").recording is True
        assert store.recordings.exists("c-calm")
        with pytest.raises(CallLiveError, match="'c-uk' is still live"):
            store.delete_call("c-uk")
        store.end_call("c-uk", CallStatus.COMPLETED, None, T0 + 120)
        assert store.delete_call("c-uk") is True
        assert store.delete_call("c-uk") is False
        assert store.get_call("c-uk") is None
        assert ids(store.list_calls(text="керівника")) == []
        assert store.delete_customer("cust-1") == 2
        assert store.delete_customer("cust-1") == 0
        assert store.list_calls() == []
        assert not any(store.recordings.exists(c) for c in ("c-ru", "c-calm"))
        assert store.recordings.read("c-ru") is None
        for table in ("utterances", "alerts", "acks", "call_categories", "dtmf"):
            assert count_rows(store, table) == 0
        if isinstance(store, CallStore):
            db = sqlite3.connect(tmp_path / "data" / "calls.sqlite3")
            db.execute("INSERT INTO utterances_fts (utterances_fts) VALUES ('integrity-check')")
            db.close()
        store.start_call(record("c-live", customer="cust-9"))
        store.start_call(record("c-done", customer="cust-9"))
        store.end_call("c-done", CallStatus.COMPLETED, None, T0 + 1)
        with pytest.raises(CallLiveError):  # all or nothing
            store.delete_customer("cust-9")
        assert store.get_call("c-done") is not None
    finally:
        store.close()
    if not isinstance(store, CallStore):
        return  # PostgreSQL frees the rows' space at its next VACUUM (README "PostgreSQL")
    # secure_delete, the FTS rewrite and the WAL checkpoint leave no erased text on disk
    raw = _file_bytes(tmp_path / "data")
    for word in ("керівника", "безобразие", "КЕРІВНИКА", "отлично"):
        assert word.encode() not in raw


def test_recording_path_is_safe(tmp_path: Path) -> None:
    store = CallStore(tmp_path)
    assert store.recording_path("CA123-abc.1").name == "CA123-abc.1.wav"
    for hostile in ("../../etc/passwd", "..", "a/b", "", ".hidden", "x" * 300):
        path = store.recording_path(hostile)
        assert path.parent == store.recordings_dir and path.name.startswith("_")
    store.close()


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


def test_retention_purge_deletes_old_recordings_then_old_calls(
        store: CallRepository) -> None:
    now = 1_000_000.0
    for call_id, age_days in (("old", 400), ("middle", 100), ("new", 1)):
        started = now - age_days * 86400
        store.start_call(CallOpened(call_id=call_id, operator_id="op", customer_id="cu",
                                    language="ru", protocol="native", started_at=started,
                                    sample_rate=8000, channels=1))
        writer = store.recordings.open_writer(call_id, 8000, 1)
        writer.write(np.zeros(800, dtype=np.int16))
        writer.close()
        store.end_call(call_id, CallStatus.COMPLETED, None, started + 60)
    deleted = store.purge(audio_before=now - 90 * 86400, calls_before=now - 365 * 86400)
    assert deleted == {"calls": 1, "recordings": 1}
    assert store.get_call("old") is None
    assert store.get_call("middle") is not None and not store.recordings.exists("middle")
    assert store.get_call("middle").recording is False
    assert store.recordings.exists("new") and store.get_call("new").recording is True


def test_customer_history(store: CallStore) -> None:
    fill(store)
    assert store.customer_history("cust-1", since=T0) == CustomerPast(
        previous_calls=2, negative_calls=1, categories={"waiting": 1, "gratitude": 1}
    )
    assert store.customer_history("cust-1", since=T0 + 150) == CustomerPast(
        previous_calls=1, negative_calls=0, categories={"gratitude": 1}
    )
    # a live call is not history yet
    assert store.customer_history("cust-2", since=T0) == CustomerPast(
        previous_calls=0, negative_calls=0, categories={}
    )


def test_raised_voice_and_dtmf_round_trip(store: CallStore) -> None:
    store.start_call(record("c1"))
    store.add_utterance("c1", utterance("ВЫ МЕНЯ СЛЫШИТЕ?", 1.0, neg=0.7, raised_voice=True))
    store.add_utterance("c1", utterance("Да, слышу", 4.0, channel="operator"))
    store.add_dtmf("c1", Dtmf(t=5.5, channel=Channel.CUSTOMER, digits="4276********9913"))
    store.add_dtmf("c1", Dtmf(t=7.0, digits="#"))
    call = detail(store, "c1")
    assert [u.raised_voice for u in call.utterances] == [True, False]
    assert call.dtmf == (
        StoredDtmf(t=5.5, channel="customer", digits="4276********9913"),
        StoredDtmf(t=7.0, channel=None, digits="#"),
    )
    assert call.dtmf[0].channel is Channel.CUSTOMER
    # a key press is neither an utterance nor a category
    assert call.utterance_count == 2 and call.categories == ()
    assert detail(store, "c1") == call  # reading does not change anything


def test_dtmf_is_erased_with_its_call_and_its_customer(
        make_store: Callable[[], CallRepository], tmp_path: Path) -> None:
    store = make_store()
    card_ru, card_uk = "5536********0071", "4149********8802"
    try:
        fill(store)
        store.add_dtmf("c-ru", Dtmf(t=4.0, channel=Channel.CUSTOMER, digits=card_ru))
        store.add_dtmf("c-uk", Dtmf(t=2.0, channel=Channel.CUSTOMER, digits=card_uk))
        store.add_dtmf("c-calm", Dtmf(t=1.5, digits="7**9"))
        store.end_call("c-uk", CallStatus.COMPLETED, None, T0 + 120)

        def dtmf_rows() -> list[int]:
            return [count_rows(store, "dtmf", f"WHERE call_id = '{c}'")
                    for c in ("c-calm", "c-ru", "c-uk")]

        assert dtmf_rows() == [1, 1, 1]
        assert store.delete_call("c-uk") is True
        assert dtmf_rows() == [1, 1, 0]
        assert [d.digits for d in detail(store, "c-ru").dtmf] == [card_ru]
        assert store.delete_customer("cust-1") == 2
        assert dtmf_rows() == [0, 0, 0]
    finally:
        store.close()
    if not isinstance(store, CallStore):
        return
    raw = _file_bytes(tmp_path / "data")  # the erased key presses are not left on disk either
    for digits in (card_ru, card_uk):
        assert digits.encode() not in raw


def test_alert_categories_from_the_escalation_state(store: CallStore) -> None:
    """An alert the real policy raises carries what its evidence said, and the store files
    the call under those categories (only the alert is stored: no utterance adds them)."""
    state = CallState(Policy.load())
    said = [
        utterance("Добрый день, у меня вопрос", 0.0, neg=0.2),  # calm: not evidence
        utterance("С меня дважды списали деньги", 3.0, categories=("money",), neg=0.8),
        utterance("Я уже звонил, верните деньги или позовите начальника", 6.0,
                  categories=("money", "repeat_contact", "escalation_request"), neg=0.8),
    ]
    fired = [[event for event in state.observe(heard) if isinstance(event, Alert)]
             for heard in said]
    assert [a.action for a in fired[1]] == [Action.BONUS]  # the first money complaint
    (raised,) = fired[2]  # more urgent than the bonus its cooldown holds back
    assert raised.t == said[2].end
    assert raised.action is Action.SUPERVISOR and raised.severity is Severity.CRITICAL
    assert raised.evidence == (said[1].text, said[2].text)
    assert raised.categories == (Category.MONEY, Category.REPEAT_CONTACT,
                                 Category.ESCALATION_REQUEST)

    store.start_call(record("c1"))
    store.start_call(record("c2", started_at=T0 + 10))  # a call without the alert
    alert_id = store.add_alert("c1", raised, created_at=T0 + raised.t)
    call = detail(store, "c1")
    (stored,) = call.alerts
    assert stored.alert_id == alert_id
    assert stored.categories == ("money", "repeat_contact", "escalation_request")
    assert stored.model_dump(exclude={"alert_id", "created_at", "acks"}) == (
        dataclasses.asdict(raised)
    )
    assert call.utterance_count == 0
    assert call.categories == ("escalation_request", "money", "repeat_contact")
    assert ids(store.list_calls(category="money")) == ["c1"]
    assert ids(store.list_calls(category="repeat_contact")) == ["c1"]
    assert ids(store.list_calls(category="waiting")) == []


def _version_1_file(data_dir: Path, *, fts: bool) -> None:
    """A database as sentiment-svc wrote it before schema version 2: the v1 script, version
    1, the search index when FTS5 was there; one ended call with one utterance."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(data_dir / "calls.sqlite3", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(_SCHEMA_V1)
    db.execute("INSERT INTO schema_version VALUES (1)")
    if fts:
        db.executescript(_FTS)
        db.execute("INSERT INTO utterances_fts (utterances_fts) VALUES ('rebuild')")
    old_summary = {"type": "summary", "duration": 30.0, "utterances": 1, "alerts": 0,
                   "negative_share": 1.0, "csat_estimate": 2.0}
    db.execute(
        "INSERT INTO calls (call_id, operator_id, customer_id, language, protocol,"
        " sample_rate, channels, started_at, ended_at, status, summary)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("old", "op-1", "cust-1", "ru", "native", 8000, 2, T0, T0 + 30, "completed",
         json.dumps(old_summary, ensure_ascii=False)),
    )
    text = "Верните деньги, ПОЖАЛУЙСТА"
    db.execute(
        'INSERT INTO utterances (call_id, seq, channel, "start", "end", lang, text,'
        " text_folded, neg, neu, pos, categories, loudness_db)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("old", 0, "customer", 1.0, 3.0, "ru", text, fold_text(text), 0.8, 0.1, 0.1,
         '["money"]', 2.5),
    )
    db.execute("INSERT INTO call_categories (call_id, category) VALUES ('old', 'money')")
    assert "raised_voice" not in {row[1] for row in db.execute("PRAGMA table_info(utterances)")}
    db.close()


def _schema_version(data_dir: Path) -> list[tuple[int]]:
    db = sqlite3.connect(data_dir / "calls.sqlite3")
    try:
        return db.execute("SELECT version FROM schema_version").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize("old_fts", [True, False], ids=["v1-fts5", "v1-without-fts5"])
def test_a_version_1_database_is_upgraded_on_open(tmp_path: Path, old_fts: bool) -> None:
    if old_fts:
        probe = sqlite3.connect(":memory:")
        if not fts5_available(probe):
            pytest.skip("this SQLite lacks FTS5")
        probe.close()
    _version_1_file(tmp_path, fts=old_fts)
    assert _schema_version(tmp_path) == [(1,)]

    store = CallStore(tmp_path)
    try:
        assert _schema_version(tmp_path) == [(SCHEMA_VERSION,)]
        old = detail(store, "old")
        assert old.status is CallStatus.COMPLETED and old.ended_at == T0 + 30
        assert old.summary == CallSummary(duration=30.0, utterances=1, alerts=0,
                                          negative_share=1.0, csat_estimate=2.0)
        assert [u.model_dump() for u in old.utterances] == [{
            "seq": 0, "channel": "customer", "start": 1.0, "end": 3.0, "lang": "ru",
            "text": "Верните деньги, ПОЖАЛУЙСТА",
            "sentiment": {"neg": 0.8, "neu": 0.1, "pos": 0.1}, "categories": ("money",),
            "loudness_db": 2.5, "raised_voice": False,
        }]
        assert old.utterances[0].raised_voice is False
        assert old.dtmf == () and old.categories == ("money",)
        assert old.contact_channel == "phone"  # version 5: every earlier contact was a call
        assert ids(store.list_calls(text="пожалуйста")) == ["old"]
        assert ids(store.list_calls(category="money")) == ["old"]

        # the upgraded file takes what version 2 added
        store.start_call(record("new", started_at=T0 + 100))
        assert store.add_utterance("new", utterance("ДА СКОЛЬКО МОЖНО", 1.0, neg=0.9,
                                                    raised_voice=True)) == 0
        store.add_dtmf("new", Dtmf(t=2.0, channel=Channel.CUSTOMER, digits="12**"))
        new = detail(store, "new")
        assert [u.raised_voice for u in new.utterances] == [True]
        assert new.dtmf == (StoredDtmf(t=2.0, channel="customer", digits="12**"),)
        assert ids(store.list_calls(text="сколько")) == ["new"]
        before = {call_id: store.get_call(call_id) for call_id in ("old", "new")}
    finally:
        store.close()

    again = CallStore(tmp_path)  # an upgraded file opens as it is
    try:
        assert _schema_version(tmp_path) == [(SCHEMA_VERSION,)]
        assert {call_id: again.get_call(call_id) for call_id in before} == before
    finally:
        again.close()


def test_a_dead_instance_s_live_calls_are_marked_interrupted(store: CallRepository) -> None:
    """A survivor closes the calls a dead instance left live, and only those: the other
    instances' live calls, and the dead one's finished calls, stay as they are."""
    for call_id, instance, started in (("a1", "inst-a", T0), ("a2", "inst-a", T0 + 5),
                                       ("b1", "inst-b", T0 + 1), ("a-done", "inst-a", T0 + 2),
                                       ("embedded", None, T0 + 3)):
        store.start_call(record(call_id, started_at=started).model_copy(
            update={"instance_id": instance}))
    store.end_call("a-done", CallStatus.COMPLETED, None, T0 + 9)
    assert detail(store, "a1").instance_id == "inst-a"
    assert detail(store, "embedded").instance_id is None

    assert store.mark_instance_interrupted("inst-a", T0 + 100) == ["a1", "a2"]
    assert store.mark_instance_interrupted("inst-a", T0 + 200) == []  # already closed
    assert store.mark_instance_interrupted("inst-unknown", T0 + 200) == []
    statuses = {call.call_id: (call.status, call.ended_at) for call in store.list_calls()}
    assert statuses == {
        "a1": (CallStatus.INTERRUPTED, T0 + 100), "a2": (CallStatus.INTERRUPTED, T0 + 100),
        "b1": (CallStatus.LIVE, None), "a-done": (CallStatus.COMPLETED, T0 + 9),
        "embedded": (CallStatus.LIVE, None),
    }
    with pytest.raises(CallNotLiveError):  # the dead instance's late write is refused
        store.end_call("a1", CallStatus.COMPLETED, None, T0 + 300)
