"""The AudioSocket listener and the joining of call legs, end to end without models: a real
`Service` (real VAD, analysis, storage and recordings; the `tests.standins` recogniser and
text encoder) behind a real `AudioSocketServer` on loopback, fed by real TCP connections
that speak AudioSocket as Asterisk does, with recorded speech on each leg.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid

import numpy as np
import pytest
import soundfile

from sentiment_svc.config import Settings
from sentiment_svc.domain.vocabulary import CallStatus, Channel
from sentiment_svc.live.service import Service
from sentiment_svc.protocols.base import CallStart, ProtocolError
from sentiment_svc.web.audiosocket import AudioSocketServer, allow_list, peer_allowed
from tests.conftest import REAL_AUDIO
from tests.protocol_sessions import audiosocket_message
from tests.standins import ScriptedRecogniser, model_free_engines

RATE = 8000
FRAME_BYTES = 320  # 20 ms of 8 kHz slin
PACE_S = 0.1  # send 100 ms of audio every 100 ms: real time, in 5-message writes
PROMPTS = REAL_AUDIO / "asterisk_core_sounds_ru"


def prompt(name: str) -> np.ndarray:
    pcm, rate = soundfile.read(PROMPTS / f"{name}.wav", dtype="int16")
    assert rate == RATE
    return pcm


def with_silence(pcm: np.ndarray, before_s: float, after_s: float) -> np.ndarray:
    return np.concatenate([np.zeros(int(before_s * RATE), np.int16), pcm,
                           np.zeros(int(after_s * RATE), np.int16)])


class Pbx:
    """A service with its AudioSocket listener, as `serve` runs it."""

    def __init__(self, tmp_path, **settings) -> None:
        self.service = Service(Settings(data_dir=tmp_path, audiosocket_port=0, **settings))
        self.service.engines = model_free_engines()
        self.service.scheduler = ScriptedRecogniser()  # type: ignore[assignment]
        self.listener = AudioSocketServer(self.service, self.service.settings)

    async def __aenter__(self) -> Pbx:
        await self.listener.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.listener.stop()
        await self.service.shutdown()

    async def connect(self, leg: Channel | None) -> tuple[asyncio.StreamReader,
                                                          asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.listener.ports[leg])

    async def ended(self, call_id: str, timeout_s: float = 20.0):
        """The stored call once it has ended."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            detail = await self.service.db(self.service.store.get_call, call_id)
            if detail is not None and detail.status is not CallStatus.LIVE \
                    and call_id not in self.service.calls:
                return detail
            assert asyncio.get_running_loop().time() < deadline, f"call {call_id} never ended"
            await asyncio.sleep(0.05)

    def recording(self, call_id: str) -> np.ndarray:
        pcm, rate = soundfile.read(self.service.store.recording_path(call_id), dtype="int16",
                                   always_2d=True)
        assert rate == RATE
        return pcm


async def stream_leg(writer: asyncio.StreamWriter, call_id: str, pcm: np.ndarray,
                     digits: str = "", speed: float = 1.0) -> None:
    """An AudioSocket leg as Asterisk's application sends it: the UUID, then 20 ms
    messages at `speed` x real time (a key press first, where given)."""
    writer.write(audiosocket_message(0x01, uuid.UUID(call_id).bytes))
    for digit in digits:
        writer.write(audiosocket_message(0x03, digit.encode()))
    raw = pcm.astype("<i2").tobytes()
    step = int(PACE_S / 0.02) * FRAME_BYTES
    for offset in range(0, len(raw), step):
        piece = raw[offset:offset + step]
        writer.write(b"".join(audiosocket_message(0x10, piece[i:i + FRAME_BYTES])
                              for i in range(0, len(piece), FRAME_BYTES)))
        await writer.drain()
        await asyncio.sleep(PACE_S / speed)


async def hang_up(writer: asyncio.StreamWriter) -> None:
    """Asterisk's own hang-up: the socket closes, no terminate message."""
    writer.close()
    await writer.wait_closed()


def reset(writer: asyncio.StreamWriter) -> None:
    """The connection drops: an RST, no FIN."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def voiced(column: np.ndarray, start_s: float, end_s: float) -> float:
    """RMS of a recording column between two times."""
    part = column[int(start_s * RATE):int(end_s * RATE)].astype(float)
    return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0


def test_two_audiosocket_legs_are_one_stereo_call(tmp_path):
    call_id = str(uuid.uuid4())
    customer = with_silence(prompt("something-terribly-wrong"), 0.2, 1.2)
    operator = with_silence(prompt("confbridge-has-joined"), 1.0, 0.5)
    join_after_s = 0.6  # the operator's leg connects later, as a snoop started on answer

    async def scenario() -> tuple:
        async with Pbx(tmp_path, audiosocket_operator_port=0) as pbx:
            _, customer_leg = await pbx.connect(Channel.CUSTOMER)

            async def operator_side() -> None:
                await asyncio.sleep(join_after_s)
                _, operator_leg = await pbx.connect(Channel.OPERATOR)
                await stream_leg(operator_leg, call_id, operator)
                await hang_up(operator_leg)

            async def customer_side() -> None:
                await stream_leg(customer_leg, call_id, customer, digits="7")
                await hang_up(customer_leg)

            await asyncio.gather(customer_side(), operator_side())
            return await pbx.ended(call_id), pbx.recording(call_id)

    detail, recording = asyncio.run(scenario())
    assert detail.status is CallStatus.COMPLETED and detail.protocol == "audiosocket"
    assert detail.channels == 2 and recording.shape[1] == 2
    assert {u.channel for u in detail.utterances} == {Channel.CUSTOMER, Channel.OPERATOR}
    assert [(d.digits, d.channel) for d in detail.dtmf] == [("*", Channel.CUSTOMER)]  # masked
    # each leg's speech is on its own channel, where it was said: the operator's prompt
    # starts 1.0 s into its leg, which joined about 0.6 s into the call
    said = len(prompt("confbridge-has-joined")) / RATE
    operator_at = join_after_s + 1.0
    assert voiced(recording[:, 1], operator_at + 0.2, operator_at + said - 0.2) > 300
    assert voiced(recording[:, 1], 0.0, join_after_s) == 0.0  # silence until it joined
    assert voiced(recording[:, 0], 0.3, 1.5) > 300
    first_operator = min(u.start for u in detail.utterances if u.channel is Channel.OPERATOR)
    assert first_operator == pytest.approx(operator_at, abs=0.35)


def test_a_leg_that_drops_marks_the_call_interrupted(tmp_path):
    call_id = str(uuid.uuid4())
    speech = with_silence(prompt("confbridge-has-joined"), 0.2, 0.6)

    async def scenario():
        async with Pbx(tmp_path, audiosocket_operator_port=0) as pbx:
            _, customer_leg = await pbx.connect(Channel.CUSTOMER)
            _, operator_leg = await pbx.connect(Channel.OPERATOR)
            await asyncio.gather(stream_leg(customer_leg, call_id, speech, speed=2),
                                 stream_leg(operator_leg, call_id, speech[::-1].copy(), speed=2))
            await hang_up(operator_leg)  # this leg ended as Asterisk ends it ...
            reset(customer_leg)  # ... this one dropped without a hang-up
            return await pbx.ended(call_id), pbx.recording(call_id)

    detail, recording = asyncio.run(scenario())
    assert detail.status is CallStatus.INTERRUPTED
    assert len(recording) >= len(speech) - RATE // 10  # the audio that came is kept
    assert any(u.channel is Channel.CUSTOMER for u in detail.utterances)


def test_a_whole_call_on_one_port_and_a_bad_message_fails_it_keeping_its_audio(tmp_path):
    call_id = str(uuid.uuid4())
    speech = with_silence(prompt("something-terribly-wrong"), 0.2, 0.8)

    async def scenario():
        async with Pbx(tmp_path) as pbx:  # no operator port: each connection is a call
            assert list(pbx.listener.ports) == [None]
            reader, writer = await pbx.connect(None)
            await stream_leg(writer, call_id, speech, speed=2)
            writer.write(audiosocket_message(0x10, bytes(7)))  # odd-length audio
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 10)  # the server ends it
            writer.close()
            return answer, await pbx.ended(call_id), pbx.recording(call_id)

    answer, detail, recording = asyncio.run(scenario())
    assert answer == b"\x00\x00\x00"  # the terminate message, then the close
    assert detail.status is CallStatus.FAILED and detail.channels == 1
    assert len(recording) == len(speech)
    assert [u.channel for u in detail.utterances] == [Channel.CUSTOMER]


def test_a_second_leg_for_the_same_speaker_is_refused(tmp_path):
    call_id = str(uuid.uuid4())
    speech = with_silence(prompt("something-terribly-wrong"), 0.1, 0.6)

    async def scenario():
        async with Pbx(tmp_path, audiosocket_operator_port=0) as pbx:
            _, first = await pbx.connect(Channel.CUSTOMER)
            streaming = asyncio.create_task(stream_leg(first, call_id, speech, speed=2))
            await asyncio.sleep(0.3)
            reader, second = await pbx.connect(Channel.CUSTOMER)
            second.write(audiosocket_message(0x01, uuid.UUID(call_id).bytes)
                         + audiosocket_message(0x10, bytes(FRAME_BYTES)))
            refused = await asyncio.wait_for(reader.read(), 10)
            await streaming
            await hang_up(first)
            errors = pbx.service.metrics.registry.get_sample_value(
                "sentiment_protocol_errors_total",
                {"protocol": "audiosocket", "code": "duplicate_start"})
            return refused, errors, await pbx.ended(call_id)

    refused, errors, detail = asyncio.run(scenario())
    assert refused == b"\x00\x00\x00" and errors == 1
    assert detail.status is CallStatus.COMPLETED and detail.utterances


def test_peers_outside_the_allow_list_are_refused_before_a_byte_is_read(tmp_path):
    async def scenario():
        async with Pbx(tmp_path, audiosocket_allow=("10.20.30.0/24",)) as pbx:
            reader, writer = await pbx.connect(None)
            writer.write(audiosocket_message(0x01, uuid.uuid4().bytes) + bytes(FRAME_BYTES))
            try:
                closed = await asyncio.wait_for(reader.read(), 10)
            except ConnectionResetError:  # closed with our bytes unread: the kernel resets
                closed = b""
            writer.close()
            refused = pbx.service.metrics.registry.get_sample_value(
                "sentiment_protocol_errors_total",
                {"protocol": "audiosocket", "code": "peer_not_allowed"})
            return closed, refused, pbx.service.store.list_calls()

    closed, refused, calls = asyncio.run(scenario())
    assert closed == b"" and refused == 1 and calls == []


def test_allow_list_entries():
    networks = allow_list(("10.0.0.5", "192.168.10.0/24", "fd00::/8"))
    assert peer_allowed("10.0.0.5", networks) and not peer_allowed("10.0.0.6", networks)
    assert peer_allowed("::ffff:192.168.10.77", networks)  # IPv4 on a dual-stack socket
    assert peer_allowed("fd12::1", networks) and not peer_allowed("not-an-address", networks)
    with pytest.raises(ValueError, match="'pbx.local' is not an address"):
        allow_list(("pbx.local",))


def test_legs_join_only_at_the_first_legs_rate_and_the_call_ends_with_its_last_leg(tmp_path):
    """`CallLegs` directly: the second leg joins the first's call at the time it came; a
    leg at another rate is refused without disturbing the call; the worst status wins."""
    def leg(speaker: Channel, rate: int = RATE) -> CallStart:
        return CallStart(call_id="legs-1", operator_id="op-1", customer_id=None,
                         language="ru", sample_rate=rate, encoding="pcm16", channels=1,
                         channel_map={0: speaker},
                         tracks=(Channel.CUSTOMER, Channel.OPERATOR), leg=speaker)

    async def scenario():
        pbx = Pbx(tmp_path)
        legs = pbx.service.legs
        try:
            first = await legs.join(leg(Channel.CUSTOMER), "audiosocket", None, None, 100.0)
            with pytest.raises(ProtocolError) as refused:
                await legs.join(leg(Channel.OPERATOR, 16000), "audiosocket", None, None, 100.5)
            second = await legs.join(leg(Channel.OPERATOR), "audiosocket", None, None, 101.25)
            assert second.call is first.call and second.timeline is first.timeline
            assert (first.offset_s, second.offset_s) == (0.0, 1.25)
            await legs.leave(second, CallStatus.INTERRUPTED)
            assert "legs-1" in pbx.service.calls  # the customer's leg goes on
            await legs.leave(first, CallStatus.COMPLETED)
            return refused.value, await pbx.ended("legs-1")
        finally:
            await pbx.service.shutdown()

    refused, detail = asyncio.run(scenario())
    assert refused.code == "unsupported_sample_rate" and "16000 Hz" in refused.message
    assert detail.status is CallStatus.INTERRUPTED and detail.channels == 2
