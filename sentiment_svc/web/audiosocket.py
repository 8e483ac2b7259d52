"""The AudioSocket listener: raw TCP from Asterisk into the same ingest sessions.

A thin asyncio shell (`asyncio.start_server`): each accepted connection from an allowed
peer gets an `AudioSocketAdapter` and an `IngestSession` over a `StreamTransport`, exactly
as a WebSocket gets its protocol's adapter; the session, the call legs and the service are
the WebSocket path's. It runs inside the service (`web.app`'s lifespan) when
``SENTIMENT_AUDIOSOCKET_PORT`` is set, and stops before the service does.

Ports: ``audiosocket_port`` takes customer legs, or whole calls heard as the customer when
no ``audiosocket_operator_port`` is set; ``audiosocket_operator_port`` takes operator legs
(`live.legs` joins the two legs of a UUID).

Authentication: AudioSocket has no headers and no credentials, so the listener is guarded
by where it listens and whom it answers: it binds ``audiosocket_host`` (loopback by
default: put it on the private interface that faces the PBX) and accepts only peers inside
``audiosocket_allow`` (addresses or networks; loopback by default): others are closed at
once, logged and counted (``sentiment_protocol_errors{code="peer_not_allowed"}``). Run it
on a network the PBX shares with the service only, or behind an IPsec/WireGuard link.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging

from sentiment_svc.config import Settings
from sentiment_svc.domain.close_codes import CloseCode
from sentiment_svc.domain.vocabulary import Channel, Protocol
from sentiment_svc.live.service import Service
from sentiment_svc.protocols.audiosocket import AudioSocketAdapter
from sentiment_svc.protocols.base import CONNECTION_DROPPED, Reply
from sentiment_svc.web.ingest import IngestSession, Received

log = logging.getLogger(__name__)
READ_BYTES = 16 * 1024  # at most this much per read; well under the adapter's limit
PEER_NOT_ALLOWED = "peer_not_allowed"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allow_list(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """The peers the listener answers; an entry that is no address or network raises
    ValueError naming it."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"audiosocket_allow: {entry!r} is not an address or network"
                             ) from None
    return tuple(networks)


def peer_allowed(host: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class StreamTransport:
    """An `IngestTransport` over asyncio streams: bytes as TCP delivers them."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def receive(self) -> Received:
        try:
            data = await self.reader.read(READ_BYTES)
        except OSError:  # reset by the peer, or the network failed
            return Received(closed=True, close_code=CONNECTION_DROPPED)
        if not data:  # an orderly close (FIN)
            return Received(closed=True, close_code=CloseCode.NORMAL)
        return Received(data=data)

    async def send(self, reply: Reply) -> None:
        if reply.data is not None:
            self.writer.write(reply.data)
            await self.writer.drain()

    async def close(self, code: CloseCode, reason: str) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


class AudioSocketServer:
    def __init__(self, service: Service, settings: Settings) -> None:
        self.service = service
        self.host = settings.audiosocket_host
        self.networks = allow_list(settings.audiosocket_allow)
        self.ports: dict[Channel | None, int] = {}  # leg (None: whole calls) -> bound port
        self._wanted: dict[Channel | None, int] = {}
        if settings.audiosocket_port is not None:
            paired = settings.audiosocket_operator_port is not None
            self._wanted[Channel.CUSTOMER if paired else None] = settings.audiosocket_port
            if paired:
                self._wanted[Channel.OPERATOR] = settings.audiosocket_operator_port
        self._servers: list[asyncio.Server] = []
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if any(network.prefixlen == 0 for network in self.networks):
            log.warning("AudioSocket accepts connections from any address (audiosocket_allow)")
        for leg, port in self._wanted.items():
            server = await asyncio.start_server(
                lambda r, w, leg=leg: self._serve(r, w, leg), self.host, port)
            self._servers.append(server)
            self.ports[leg] = server.sockets[0].getsockname()[1]
            log.info("AudioSocket listening on %s:%d (%s)", self.host, self.ports[leg],
                     f"{leg} legs" if leg else "whole calls")

    async def stop(self) -> None:
        """Stop listening and end the live sessions (their calls are stored interrupted)."""
        for server in self._servers:
            server.close()
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     leg: Channel | None) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        transport = StreamTransport(reader, writer)
        if not peer_allowed(str(peer[0]), self.networks):
            log.warning("AudioSocket connection from %s refused: not in audiosocket_allow",
                        peer[0])
            self.service.metrics.protocol_errors.labels(Protocol.AUDIOSOCKET,
                                                        PEER_NOT_ALLOWED).inc()
            await transport.close(CloseCode.FORBIDDEN, PEER_NOT_ALLOWED)
            return
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            session = IngestSession(transport, Protocol.AUDIOSOCKET,
                                    AudioSocketAdapter(leg=leg), self.service)
            await session.run()
        except asyncio.CancelledError:
            pass  # the service is stopping; the session stored its call as interrupted
        finally:
            self._sessions.discard(task)
            if not writer.is_closing():
                writer.close()
