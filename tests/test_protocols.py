"""Each protocol adapter through a full session of real call audio, and every refusal.

Sessions come from tests/fixtures/protocols/<protocol>/*.json, shaped like the protocols'
documented examples; their "$audio" entries stand for the call itself: the Tinkoff sample
call (customer) and the same recording reversed (operator), encoded by libsndfile and sent
in 20 ms frames the way each protocol sends them.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
import soundfile

from sentiment_svc.domain.messages import UtteranceMessage
from sentiment_svc.frames import Channel
from sentiment_svc.protocols.audio_fork import AudioForkAdapter
from sentiment_svc.protocols.audiohook import AudioHookAdapter
from sentiment_svc.protocols.base import (
    AudioChunk,
    CallStart,
    CallStop,
    Dtmf,
    Mark,
    Pause,
    ProtocolError,
    Resume,
)
from sentiment_svc.protocols.native import NativeAdapter
from sentiment_svc.protocols.twilio import TwilioAdapter
from tests.conftest import ANGRY_CALL
from tests.protocol_sessions import (
    CLOSE,
    FRAME,
    TOO_BIG,
    TWILIO_STREAM,
    alert,
    assert_g711_close,
    chunks,
    expand,
    fixture,
    fork_meta,
    frames,
    hook,
    hook_open,
    joined,
    libsndfile,
    native_start,
    run,
    twilio_media,
    twilio_session,
    twilio_start,
)


@pytest.fixture(scope="module")
def voices() -> tuple[np.ndarray, np.ndarray]:
    customer, rate = soundfile.read(ANGRY_CALL, dtype="int16")
    assert rate == 8000 and customer.ndim == 1
    return customer, customer[::-1].copy()


def test_native_stereo_pcm16_session(voices):
    customer, operator = voices
    stereo = np.column_stack([operator, customer])  # customer_channel: 1
    audio = {"all": frames(stereo.astype("<i2").tobytes(), FRAME * 4)}
    events, replies = run(NativeAdapter(), expand(fixture("native/stereo_pcm16.json")["messages"],
                                                  audio))
    start = events[0]
    assert isinstance(start, CallStart) and start.call_id == "kc-2024-11-05-000184"
    assert (start.operator_id, start.customer_id, start.language) == ("op-0417", "cu-88213", "ru")
    assert start.channel_map == {0: Channel.OPERATOR, 1: Channel.CUSTOMER}
    assert np.array_equal(joined(events), stereo)
    assert [c.t for c in chunks(events)][:3] == [0.0, 0.02, 0.04]
    assert events[-1] == CallStop("stop")
    assert replies[0] == {"type": "started", "call_id": "kc-2024-11-05-000184"}
    assert replies[1:] == [{"type": "ack", "received_ms": ms} for ms in range(1000, 8000, 1000)]


@pytest.mark.parametrize("subtype,encoding", [("ULAW", "mulaw"), ("ALAW", "alaw")])
def test_native_mono_g711_session(voices, subtype, encoding):
    customer, _ = voices
    raw, reference = libsndfile(customer, subtype)
    session = fixture("native/mono_mulaw.json")["messages"]
    session[0]["encoding"] = encoding
    events, _ = run(NativeAdapter(), expand(session, {"all": frames(raw, FRAME)}))
    assert events[0].channel_map == {0: Channel.CUSTOMER} and events[0].encoding == encoding
    assert np.array_equal(joined(events), reference)
    assert_g711_close(joined(events)[:, 0], customer)
    assert events[-1] == CallStop("hangup")


def test_twilio_session_keeps_tracks_apart(voices):
    customer, operator = voices
    (inbound, inbound_ref), (outbound, outbound_ref) = (libsndfile(customer, "ULAW"),
                                                        libsndfile(operator, "ULAW"))
    messages = twilio_session(list(zip(frames(inbound, FRAME), frames(outbound, FRAME),
                                       strict=True)))
    adapter = TwilioAdapter()
    events, replies = run(adapter, messages)
    start = events[0]
    assert (start.call_id, start.operator_id, start.customer_id, start.language) == (
        "kc-2024-11-05-000183", "op-0417", "cu-88213", "ru")
    assert start.extra["stream_sid"] == TWILIO_STREAM
    assert np.array_equal(joined(events, Channel.CUSTOMER), inbound_ref)
    assert np.array_equal(joined(events, Channel.OPERATOR), outbound_ref)
    assert_g711_close(joined(events, Channel.OPERATOR)[:, 0], operator)
    assert [c.t for c in chunks(events, Channel.OPERATOR)][:2] == [0.0, 0.02]
    assert not chunks(events, None) and replies == []
    # a mark this adapter never sent confirms no alert
    assert events[-3:] == [Dtmf("1", Channel.CUSTOMER), Mark("alert:apology"), CallStop("stop")]
    assert adapter.alert_message(alert()) is None  # the stream has stopped


def test_twilio_alert_is_a_mark_named_after_it_and_its_echo_confirms_it():
    adapter = TwilioAdapter()
    run(adapter, twilio_session()[:2])
    reply = adapter.alert_message(alert(alert_id="9f8e7d6c5b4a", action="supervisor"))
    assert json.loads(reply.text) == {"event": "mark", "streamSid": TWILIO_STREAM,
                                      "mark": {"name": "alert:9f8e7d6c5b4a"}}
    assert adapter.alert_message(alert(alert_id=None)) is None  # nothing to confirm
    assert TwilioAdapter(bidirectional=False).alert_message(alert()) is None

    def echo(seq: int, name: str) -> dict:
        return {"event": "mark", "sequenceNumber": str(seq), "streamSid": TWILIO_STREAM,
                "mark": {"name": name}}

    events, _ = run(adapter, [echo(2, "alert:9f8e7d6c5b4a"), echo(3, "alert:9f8e7d6c5b4a"),
                              echo(4, "alert:000000000000"), echo(5, "greeting-played")])
    assert events == [Mark("alert:9f8e7d6c5b4a", "9f8e7d6c5b4a"), Mark("alert:9f8e7d6c5b4a"),
                      Mark("alert:000000000000"), Mark("greeting-played")]


def test_audiohook_session(voices):
    customer, operator = voices
    raw, reference = libsndfile(np.column_stack([customer, operator]), "ULAW")
    audio = frames(raw, FRAME * 2)
    half = len(audio) // 2
    session = fixture("audiohook/stereo_session.json")
    adapter = AudioHookAdapter(session_id=session["session_id"])
    events, replies = run(adapter, expand(session["messages"], {"first_half": audio[:half],
                                                                "second_half": audio[half:]}))
    start = events[0]
    assert (start.call_id, start.operator_id, start.customer_id, start.language) == (
        "090eaa2f-72fa-480a-83e0-8667ff89c0ec", "agent-5521", "+380445550172", "uk")
    assert start.channel_map == {0: Channel.CUSTOMER, 1: Channel.OPERATOR}
    assert np.array_equal(joined(events), reference)
    assert_g711_close(joined(events)[:, 0], customer)
    kinds = [type(e) for e in events if not isinstance(e, AudioChunk)]
    assert kinds == [CallStart, Pause, Resume, CallStop] and events[-1] == CallStop("end")
    times = [c.t for c in chunks(events)]
    assert times[half] == pytest.approx(half * 0.02 + 2.0)  # the 2 s the client discarded
    sid = session["session_id"]
    header = {"version": "2", "id": sid}
    assert replies == [
        {**header, "seq": 1, "clientseq": 1, "type": "opened", "parameters": {
            "startPaused": False, "media": [{"type": "audio", "format": "PCMU",
                                             "channels": ["external", "internal"], "rate": 8000}]}},
        {**header, "seq": 2, "clientseq": 2, "type": "pong", "parameters": {}},
        {**header, "seq": 3, "clientseq": 6, "type": "closed", "parameters": {}},
    ]


def test_audiohook_alert_is_an_agentassist_suggestion_and_close_a_disconnect():
    session = fixture("audiohook/stereo_session.json")
    sid = session["session_id"]
    adapter = AudioHookAdapter()
    run(adapter, session["messages"][:1])
    event = json.loads(adapter.alert_message(alert(categories=("money",))).text)
    assert {k: event[k] for k in ("version", "id", "seq", "clientseq", "type")} == {
        "version": "2", "id": sid, "seq": 2, "clientseq": 1, "type": "event"}
    [entity] = event["parameters"]["entities"]
    assert entity["type"] == "agentassist" and set(entity["data"]) == {"id", "suggestions"}
    [suggestion] = entity["data"]["suggestions"]
    # entities-agentassist.ts: an 'article' suggestion (type, id, confidence, position?,
    # title, excerpts, documentUri, metadata?: Record<string, string>).
    assert suggestion == {
        "type": "article", "id": suggestion["id"], "confidence": 1.0, "position": "PT3.20S",
        "title": "complaint", "excerpts": ["верните деньги"],
        "documentUri": "urn:sentiment-svc:action:apology",
        "metadata": {"action": "apology", "severity": "warning", "categories": "money",
                     "alertId": "a1b2c3d4e5f6"},
    }
    ids = [uuid.UUID(entity["data"]["id"]), uuid.UUID(suggestion["id"])]
    assert ids[0] != ids[1] and all(i.version == 5 for i in ids)
    disconnect = json.loads(adapter.close("shutting down")[0].text)
    assert disconnect["seq"] == 3 and disconnect["type"] == "disconnect"
    assert disconnect["parameters"] == {"reason": "completed", "info": "shutting down"}


def utterance(channel: Channel, **changes) -> UtteranceMessage:
    fields = {"call_id": "c-1", "operator_id": "op-1", "seq": 4, "channel": channel,
              "start": 4.83, "end": 9.68, "lang": "uk", "text": "мені не допомогли",
              "sentiment": {"neg": 0.9, "neu": 0.1, "pos": 0.0}, "loudness_db": 1.5, **changes}
    return UtteranceMessage(**fields)


@pytest.mark.parametrize("channel,channel_id", [(Channel.CUSTOMER, 0), (Channel.OPERATOR, 1)])
def test_audiohook_final_utterance_is_a_transcript_on_its_channel(channel, channel_id):
    session = fixture("audiohook/stereo_session.json")  # opened stereo [external, internal]
    adapter = AudioHookAdapter()
    run(adapter, session["messages"][:1])
    event = json.loads(adapter.utterance_message(utterance(channel)).text)
    assert (event["type"], event["seq"], event["id"]) == ("event", 2, session["session_id"])
    [entity] = event["parameters"]["entities"]
    # entities-transcript.ts: {id, channelId: 0|1, isFinal, offset?, duration?,
    # alternatives: [{confidence, languages?, interpretations: [{type: 'display', transcript}]}]}
    assert entity == {"type": "transcript", "data": {
        "id": entity["data"]["id"], "channelId": channel_id, "isFinal": True,
        "offset": "PT4.83S", "duration": "PT4.85S",
        "alternatives": [{"confidence": 1.0, "languages": ["uk-UA"], "interpretations": [
            {"type": "display", "transcript": "мені не допомогли"}]}],
    }}
    again = json.loads(adapter.utterance_message(utterance(channel)).text)
    assert again["seq"] == 3  # each event takes the next server seq...
    assert again["parameters"]["entities"][0]["data"]["id"] == entity["data"]["id"]  # same id


def test_audiohook_transcripts_follow_the_chosen_media():
    adapter = AudioHookAdapter()
    internal_only = [{"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}]
    run(adapter, [hook_open(media=internal_only)])
    assert adapter.utterance_message(utterance(Channel.CUSTOMER)) is None  # not carried
    event = json.loads(adapter.utterance_message(utterance(Channel.OPERATOR)).text)
    assert event["parameters"]["entities"][0]["data"]["channelId"] == 0
    probe = AudioHookAdapter()
    run(probe, fixture("audiohook/connection_probe.json")["messages"][:1])
    assert probe.utterance_message(utterance(Channel.CUSTOMER)) is None  # no call behind it
    assert probe.alert_message(alert()) is None
    assert NativeAdapter().utterance_message(utterance(Channel.CUSTOMER)) is None


def test_audiohook_connection_probe_has_no_call():
    session = fixture("audiohook/connection_probe.json")
    events, replies = run(AudioHookAdapter(), session["messages"])
    assert events == []
    assert [(r["type"], r["seq"], r["clientseq"]) for r in replies] == [("opened", 1, 1),
                                                                        ("closed", 2, 2)]


def test_jambonz_stereo_session(voices):
    customer, operator = voices
    stereo = np.column_stack([customer, operator])
    adapter = AudioForkAdapter()
    session = fixture("audio_fork/jambonz_stereo.json")["messages"]
    events, replies = run(adapter, expand(session, {"all": frames(stereo.tobytes(), FRAME * 4)}))
    start = events[0]
    assert (start.call_id, start.operator_id, start.customer_id, start.language) == (
        "b7d5a1f2-3c4e-4a6b-9d8e-0f1a2b3c4d5e", "op-0233", "+79165550142", "ru")
    assert start.channel_map == {0: Channel.CUSTOMER, 1: Channel.OPERATOR}
    assert start.encoding == "pcm16" and start.channels == 2
    assert np.array_equal(joined(events), stereo)
    assert events[-1] == Dtmf("5", Channel.CUSTOMER) and replies == []
    sent = json.loads(adapter.alert_message(alert(action="bonus", evidence=())).text)
    assert sent == {"type": "json", "data": {
        "type": "alert", "call_id": "c-1", "operator_id": "op-1", "alert_id": "a1b2c3d4e5f6",
        "t": 3.2, "action": "bonus", "severity": "warning", "reason": "complaint",
        "evidence": [], "categories": []}}
    assert adapter.connection_closed() == [CallStop("connection_closed")]


def test_jambonz_mixed_session_is_the_customer(voices):
    customer, operator = voices
    mixed = ((customer.astype(np.int32) + operator) // 2).astype(np.int16)
    adapter = AudioForkAdapter()
    session = fixture("audio_fork/jambonz_mixed.json")["messages"]
    events, _ = run(adapter, expand(session, {"all": frames(mixed.tobytes(), FRAME * 2)}))
    assert events[0].channel_map == {0: Channel.CUSTOMER}
    assert events[0].customer_id == "+380671234567"  # outbound: the called number
    assert np.array_equal(joined(events)[:, 0], mixed)
    assert [json.loads(r.text) for r in adapter.close("done")] == [{"type": "disconnect"}]


# --- refusals: every bad input gives a specific code and close code --------------------------

PCMU = {"type": "audio", "format": "PCMU", "channels": ["external"]}
TW = [{"event": "connected", "protocol": "Call", "version": "1.0.0"}]
CASES = [  # id, adapter, prelude, bad input, code, close code
    ("native-audio-first", NativeAdapter, [], b"\0\0", "audio_before_start", 1008),
    ("native-stop-first", NativeAdapter, [], {"type": "stop"}, "message_before_start", 1008),
    ("native-second-start", NativeAdapter, [native_start()], native_start(), "duplicate_start",
     1008),
    ("native-after-stop", NativeAdapter, [native_start(), {"type": "stop"}], b"\0\0\0\0",
     "message_after_stop", 1008),
    ("native-unknown-type", NativeAdapter, [native_start()], {"type": "hold"},
     "unknown_message_type", 1003),
    ("native-pause-first", NativeAdapter, [], {"type": "pause"}, "message_before_start", 1008),
    ("native-pause-typo", NativeAdapter, [native_start()], {"type": "pause", "for": 3},
     "invalid_message", 1007),
    ("native-invalid-json", NativeAdapter, [], '{"type": "start",', "invalid_json", 1007),
    ("native-not-object", NativeAdapter, [], "[1, 2]", "invalid_message", 1007),
    ("native-text-too-big", NativeAdapter, [], "x" * TOO_BIG, "message_too_big", 1009),
    ("native-frame-too-big", NativeAdapter, [native_start()], bytes(TOO_BIG), "message_too_big",
     1009),
    ("native-odd-pcm16", NativeAdapter, [native_start()], bytes(321), "odd_length_pcm", 1007),
    ("native-half-frame", NativeAdapter, [native_start()], bytes(642), "invalid_audio", 1007),
    ("native-rate-44100", NativeAdapter, [], native_start(sample_rate=44100),
     "unsupported_sample_rate", 4400),
    ("native-rate-absurd", NativeAdapter, [], native_start(sample_rate=10**12),
     "unsupported_sample_rate", 4400),
    ("native-rate-negative", NativeAdapter, [], native_start(sample_rate=-8000),
     "unsupported_sample_rate", 4400),
    ("native-encoding", NativeAdapter, [], native_start(encoding="opus"), "unsupported_encoding",
     4400),
    ("native-no-call-id", NativeAdapter, [], native_start(call_id=None), "bad_start", 4400),
    ("native-3-channels", NativeAdapter, [], native_start(channels=3), "bad_start", 4400),
    ("native-typo", NativeAdapter, [], native_start(sampleRate=8000), "bad_start", 4400),
    ("native-rate-as-text", NativeAdapter, [], native_start(sample_rate="8000"), "bad_start",
     4400),
    ("native-channels-true", NativeAdapter, [], native_start(channels=True), "bad_start", 4400),
    ("native-customer-false", NativeAdapter, [], native_start(customer_channel=False),
     "bad_start", 4400),
    ("twilio-media-first", TwilioAdapter, TW, twilio_media(1), "audio_before_start", 1008),
    ("twilio-second-start", TwilioAdapter, TW + [twilio_start()], twilio_start(2),
     "duplicate_start", 1008),
    ("twilio-after-stop", TwilioAdapter, TW + [twilio_start(), {"event": "stop",
     "sequenceNumber": "2", "stop": {}}], twilio_media(3), "message_after_stop", 1008),
    ("twilio-unknown-event", TwilioAdapter, TW + [twilio_start()], {"event": "clear"},
     "unknown_message_type", 1003),
    ("twilio-invalid-json", TwilioAdapter, [], "{event: start}", "invalid_json", 1007),
    ("twilio-invalid-base64", TwilioAdapter, TW + [twilio_start()],
     twilio_media(2, payload="not base64!"), "invalid_base64", 1007),
    ("twilio-binary", TwilioAdapter, TW + [twilio_start()], b"\xff" * 160, "unexpected_binary",
     1003),
    ("twilio-too-big", TwilioAdapter, TW + [twilio_start()], twilio_media(2, payload="A" * TOO_BIG),
     "message_too_big", 1009),
    ("twilio-encoding", TwilioAdapter, TW, twilio_start(mediaFormat={
        "encoding": "audio/x-l16", "sampleRate": 8000, "channels": 1}), "unsupported_encoding",
     4400),
    ("twilio-rate", TwilioAdapter, TW, twilio_start(mediaFormat={
        "encoding": "audio/x-mulaw", "sampleRate": 96000, "channels": 1}),
     "unsupported_sample_rate", 4400),
    ("twilio-stereo", TwilioAdapter, TW, twilio_start(mediaFormat={
        "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 2}),
     "unsupported_channels", 4400),
    ("twilio-no-call-sid", TwilioAdapter, TW, twilio_start(callSid=None), "bad_start", 4400),
    ("twilio-unknown-track", TwilioAdapter, TW + [twilio_start(tracks=["inbound"])],
     twilio_media(2, track="outbound"), "unknown_track", 1007),
    ("twilio-sequence", TwilioAdapter, TW + [twilio_start()], twilio_media(1), "sequence_error",
     1008),
    ("twilio-other-stream", TwilioAdapter, TW + [twilio_start()],
     twilio_media(2, streamSid="MZ00000000000000000000000000000000"), "session_mismatch", 1008),
    ("twilio-late-connected", TwilioAdapter, TW + [twilio_start()], TW[0], "out_of_order", 1008),
    ("hook-audio-first", AudioHookAdapter, [], bytes(320), "audio_before_start", 1008),
    ("hook-paused-first", AudioHookAdapter, [], hook("paused", 1, 0), "message_before_start",
     1008),
    ("hook-second-open", AudioHookAdapter, [hook_open()], hook_open(2), "duplicate_start", 1008),
    ("hook-after-close", AudioHookAdapter, [hook_open(), hook("close", 2, parameters={
        "reason": "end"})], bytes(320), "message_after_stop", 1008),
    ("hook-unknown-type", AudioHookAdapter, [hook_open()], hook("hello", 2),
     "unknown_message_type", 1003),
    ("hook-invalid-json", AudioHookAdapter, [], "{'version': '2'}", "invalid_json", 1007),
    ("hook-seq-gap", AudioHookAdapter, [hook_open()], hook("ping", 3), "sequence_error", 1008),
    ("hook-serverseq", AudioHookAdapter, [hook_open()], hook("ping", 2, 7), "sequence_error",
     1008),
    ("hook-other-session", AudioHookAdapter, [hook_open()],
     hook("ping", 2, id="11111111-2222-4333-8444-555555555555"), "session_mismatch", 1008),
    ("hook-version-1", AudioHookAdapter, [], {**hook_open(), "version": "1"},
     "unsupported_version", 1003),
    ("hook-no-pcmu", AudioHookAdapter, [], hook_open(media=[{**PCMU, "format": "OPUS",
                                                             "rate": 8000}]),
     "unsupported_encoding", 4400),
    ("hook-rate", AudioHookAdapter, [], hook_open(media=[{**PCMU, "rate": 44100}]),
     "unsupported_sample_rate", 4400),
    ("hook-no-participant", AudioHookAdapter, [], hook_open(participant=None), "bad_start", 4400),
    ("hook-half-frame", AudioHookAdapter, [hook_open()], bytes(321), "invalid_audio", 1007),
    ("hook-too-big", AudioHookAdapter, [hook_open()], bytes(TOO_BIG), "message_too_big", 1009),
    ("hook-audio-while-paused", AudioHookAdapter, [hook_open(), hook("paused", 2)], bytes(320),
     "out_of_order", 1008),
    ("fork-audio-first", AudioForkAdapter, [], bytes(320), "audio_before_start", 1008),
    ("fork-invalid-json", AudioForkAdapter, [], "callSid=b7d5a1f2", "invalid_json", 1007),
    ("fork-not-object", AudioForkAdapter, [], '"metadata"', "invalid_message", 1007),
    ("fork-odd-pcm16", AudioForkAdapter, [fork_meta()], bytes(641), "odd_length_pcm", 1007),
    ("fork-half-frame", AudioForkAdapter, [fork_meta()], bytes(642), "invalid_audio", 1007),
    ("fork-rate", AudioForkAdapter, [], fork_meta(sampleRate=44100), "unsupported_sample_rate",
     4400),
    ("fork-rate-text", AudioForkAdapter, [], fork_meta(sampleRate="fast"), "bad_start", 4400),
    ("fork-mix-type", AudioForkAdapter, [], fork_meta(mixType="quad"), "unsupported_channels",
     4400),
    ("fork-no-mix-type", AudioForkAdapter, [], fork_meta(mixType=None), "bad_start", 4400),
    ("fork-no-call-id", AudioForkAdapter, [], fork_meta(callSid=None, callId=None), "bad_start",
     4400),
    ("fork-too-big", AudioForkAdapter, [fork_meta()], bytes(TOO_BIG), "message_too_big", 1009),
    ("fork-after-close", AudioForkAdapter, [fork_meta(), CLOSE], bytes(640),
     "message_after_stop", 1008),
]


@pytest.mark.parametrize("adapter_class,prelude,bad,code,close_code",
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_refusals(adapter_class, prelude, bad, code, close_code):
    adapter = adapter_class()
    for message in prelude:
        adapter.close("server shutdown") if message is CLOSE else run(adapter, [message])
    with pytest.raises(ProtocolError) as raised:
        run(adapter, [bad])
    assert (raised.value.code, raised.value.close_code) == (code, close_code)
    assert raised.value.message and "\n" not in raised.value.message
    with pytest.raises(ProtocolError) as again:  # a failed session stays failed
        adapter.receive_bytes(b"\0\0")
    assert again.value is raised.value


def test_error_replies():
    native = NativeAdapter()
    with pytest.raises(ProtocolError) as raised:
        native.receive_text(json.dumps(native_start(encoding="opus")))
    assert json.loads(native.error_message(raised.value).text) == {
        "type": "error", "code": "unsupported_encoding", "message": raised.value.message}
    hook_adapter = AudioHookAdapter()
    run(hook_adapter, [hook_open()])
    with pytest.raises(ProtocolError) as raised:
        hook_adapter.receive_bytes(bytes(321))
    reply = json.loads(hook_adapter.error_message(raised.value).text)
    assert (reply["type"], reply["seq"], reply["clientseq"]) == ("disconnect", 2, 1)
    assert reply["parameters"] == {"reason": "error", "info": raised.value.message}
    assert hook_adapter.close("call ended") == []  # one disconnect is enough
    assert TwilioAdapter().error_message(raised.value) is None
