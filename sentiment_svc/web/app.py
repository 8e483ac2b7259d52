"""The ASGI application: routes, start-up and shutdown around one `Service`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.trustedhost import TrustedHostMiddleware

from sentiment_svc import __version__
from sentiment_svc.config import Settings
from sentiment_svc.live.contacts import TextContacts
from sentiment_svc.live.service import Service
from sentiment_svc.web import analytics, contacts, feeds, ingest, pages, rest, schemas, tickets
from sentiment_svc.web.audiohook_auth import AudioHookCredentials, guarded
from sentiment_svc.web.audiosocket import AudioSocketServer
from sentiment_svc.web.auth import TokenRegistry
from sentiment_svc.web.http_protocol import HeaderTimeoutProtocol, with_header_timeout
from sentiment_svc.web.logs import drop_query_strings_from_url_logs
from sentiment_svc.web.platform_auth import PlatformCredentials, check_access
from sentiment_svc.web.websocket_protocol import BufferedWebSocketProtocol

log = logging.getLogger(__name__)
LOOPBACK_NAMES = ("127.0.0.1", "localhost")

# Settings for uvicorn. uvloop: every call sends 50 websocket frames a second, and the event
# loop's share of the CPU per frame is about a tenth lower on uvloop than on asyncio's own
# loop (BENCHMARKS.md). HTTP: h11 with a deadline for each request header (no slowloris).
# Websockets: frames up to 1 MiB, no per-message compression (PCM hardly compresses, and
# inflating every 20 ms frame costs more CPU than the bytes saved), and a receive buffer of
# a few frames instead of pausing the socket after each one.
UVICORN_OPTIONS: dict[str, object] = {
    "loop": "uvloop",
    "http": HeaderTimeoutProtocol,
    "ws": BufferedWebSocketProtocol,
    "ws_max_size": 1 << 20,
    "ws_per_message_deflate": False,
}


def create_app(settings: Settings, tokens: TokenRegistry,
               platforms: PlatformCredentials | None = None,
               audiohook: AudioHookCredentials | None = None) -> FastAPI:
    """`platforms`: the telephony platforms' own ingest credentials (`web.platform_auth`);
    `audiohook`: the Genesys AudioHook integrations' (`web.audiohook_auth`)."""
    platforms = platforms or PlatformCredentials()
    check_access(tokens, platforms)
    drop_query_strings_from_url_logs()  # ?token=… must never reach a log file
    tokens = guarded(tokens, audiohook)
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings)
        service.start()
        app.state.service = service
        app.state.store = service.store
        app.state.db = service.db
        app.state.customer_ids = service.customer_ids
        app.state.contacts = TextContacts(service)
        audiosocket = None  # Asterisk AudioSocket's TCP listener, where a port is set
        if settings.audiosocket_port is not None:
            audiosocket = AudioSocketServer(service, settings)
        app.state.audiosocket = audiosocket
        loading = asyncio.create_task(service.load_models())
        loading.add_done_callback(_report_loading)
        purging = asyncio.create_task(service.purge_forever())
        delivering = asyncio.create_task(service.webhooks.run())  # CRM webhooks
        delivering.add_done_callback(_report_webhooks)
        try:
            if audiosocket is not None:
                await audiosocket.start()
            yield
        finally:
            loading.cancel()
            purging.cancel()
            delivering.cancel()
            if audiosocket is not None:
                await audiosocket.stop()
            await app.state.contacts.close_all()
            await service.shutdown()

    # /docs and /redoc load their scripts from the service: contact centres often have no
    # route to a CDN.
    app = FastAPIOffline(
        title="sentiment-svc",
        version=__version__,
        summary="Real-time call sentiment monitoring for ru/uk contact centres",
        lifespan=lifespan,
    )
    app.state.tokens = tokens
    app.state.tickets = tickets.TicketBook()
    app.state.platforms = platforms
    app.state.audiohook = audiohook or AudioHookCredentials()
    app.state.allowed_origins = settings.allowed_origins
    app.state.allowed_hosts = allowed_hosts(settings, tokens)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(app.state.allowed_hosts))
    app.include_router(ingest.router)
    app.include_router(feeds.router)
    app.include_router(rest.router)
    app.include_router(analytics.router)
    app.include_router(contacts.router)
    app.include_router(schemas.router)
    app.include_router(tickets.router)
    app.include_router(pages.router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        service: Service = app.state.service
        problem = service.unhealthy()
        if problem is not None:
            return JSONResponse({"status": problem}, status_code=503)
        load = {"instance_id": service.instance_id, **service.load()}
        refusal = service.overloaded()
        if refusal is not None:  # a balancer sends new calls elsewhere meanwhile
            return JSONResponse({"status": f"busy: {refusal.message}", **load}, status_code=503)
        return JSONResponse({"status": "ready", **load})

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        service: Service = app.state.service
        if service.scheduler is not None:
            service.metrics.asr_queue_depth.set(service.scheduler.depth)
            service.metrics.asr_workers_alive.set(service.scheduler.workers_alive)
            service.metrics.asr_backlog.set(service.scheduler.backlog_s)
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def uvicorn_options(settings: Settings) -> dict[str, object]:
    return {**UVICORN_OPTIONS, "http": with_header_timeout(settings.header_timeout_s)}


def allowed_hosts(settings: Settings, tokens: TokenRegistry) -> tuple[str, ...]:
    if settings.allowed_hosts is not None:
        return settings.allowed_hosts
    return LOOPBACK_NAMES if tokens.is_open else ("*",)


def _report_webhooks(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("CRM webhook delivery stopped: %r", task.exception())


def _report_loading(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("models failed to load: %s", task.exception())
