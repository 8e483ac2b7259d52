"""The web consoles, served by the service itself: plain HTML, CSS and JavaScript modules
from `sentiment_svc/web/static/` (committed as they are; nothing to build).

``/console`` (operator), ``/supervisor`` (the wall of live calls), ``/qa`` (search,
playback, replay) and ``/qa/analytics`` (CX measures and prompt follow-through over time,
plotted with Chart.js, vendored in ``static/vendor/`` with its licence) are static pages;
they sign in with a token kept in the browser's sessionStorage and talk to the same REST
API and websockets as any other client. ``/``
redirects to ``/console``. Every answer carries a Content-Security-Policy that allows
scripts and styles from this origin only (no inline script), so a quoted customer utterance
can never run as code.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES = {"console": "console.html", "supervisor": "supervisor.html", "qa": "qa.html",
         "analytics": "analytics.html"}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".ico": "image/x-icon",
    ".png": "image/png",
}

router = APIRouter(include_in_schema=False)


def content_security_policy(request: Request) -> str:
    """Scripts, styles and fetches from this origin only; media also from blob: URLs (a
    recording is fetched with the bearer token and played from a Blob)."""
    host = request.headers.get("host", "")
    sockets = f" ws://{host} wss://{host}" if host else ""
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' blob:",
        f"connect-src 'self'{sockets}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _file(request: Request, path: Path, cache: str) -> FileResponse:
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        headers={
            "Content-Security-Policy": content_security_policy(request),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": cache,
        },
    )


@router.get("/")
async def index() -> RedirectResponse:
    return RedirectResponse("/console", status_code=307)


@router.get("/console")
async def console(request: Request) -> FileResponse:
    return _file(request, STATIC_DIR / PAGES["console"], "no-cache")


@router.get("/supervisor")
async def supervisor(request: Request) -> FileResponse:
    return _file(request, STATIC_DIR / PAGES["supervisor"], "no-cache")


@router.get("/qa")
async def qa(request: Request) -> FileResponse:
    return _file(request, STATIC_DIR / PAGES["qa"], "no-cache")


@router.get("/qa/analytics")
async def analytics(request: Request) -> FileResponse:
    return _file(request, STATIC_DIR / PAGES["analytics"], "no-cache")


@router.get("/static/{name:path}")
async def static(request: Request, name: str) -> FileResponse:
    if "\0" in name:  # no file has one, and the OS refuses to look it up
        raise HTTPException(404, "not found")
    path = (STATIC_DIR / name).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise HTTPException(404, "not found")
    return _file(request, path, "no-cache")
