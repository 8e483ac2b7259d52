"""`open_store(settings)`: the call store the settings ask for, used by the service, the CLI
and the tests. SQLite under ``data_dir`` by default; PostgreSQL when ``database_url`` is set.

A URL that is malformed, or a server that cannot be reached or refuses us, becomes one
`StoreUnavailableError` whose message names the server (never the password) and the cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from sentiment_svc.config import Settings
from sentiment_svc.storage.base import CallRepository
from sentiment_svc.storage.errors import StoreError

POSTGRES_SCHEMES = ("postgresql", "postgres")


class StoreUnavailableError(StoreError):
    """The configured database cannot be used; the message says which and why."""


def describe_url(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable database URL>"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def check_database_url(url: str) -> None:
    """`StoreUnavailableError` unless `url` is a postgresql:// URL."""
    try:
        scheme = urlsplit(url).scheme
        urlsplit(url).port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as error:
        raise StoreUnavailableError(f"SENTIMENT_DATABASE_URL is malformed: {error}") from None
    if scheme not in POSTGRES_SCHEMES:
        raise StoreUnavailableError(
            "SENTIMENT_DATABASE_URL must be a postgresql://user:password@host:port/database"
            f" URL, not {scheme + '://' if scheme else 'one without a scheme'}"
        )


def open_store(settings: Settings,
               webhooks: Mapping[str, Iterable[str]] | None = None) -> CallRepository:
    """`webhooks`: CRM webhook target -> the events it takes, whose outbox rows the store
    writes with those events (`storage.outbox`)."""
    if not settings.database_url:
        from sentiment_svc.storage.db import CallStore

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return CallStore(settings.data_dir, webhooks=webhooks)
    return open_postgres(settings.database_url, webhooks=webhooks)


def open_postgres(url: str,
                  webhooks: Mapping[str, Iterable[str]] | None = None) -> CallRepository:
    import psycopg

    from sentiment_svc.storage.postgres import PgCallStore

    check_database_url(url)
    where = describe_url(url)
    try:
        return PgCallStore(url, webhooks=webhooks)
    except psycopg.Error as error:
        cause = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        password = _password(url)
        if password:
            cause = cause.replace(password, "***")
        raise StoreUnavailableError(f"cannot use the database {where}: {cause}") from None
    except StoreError as error:
        raise StoreUnavailableError(f"cannot use the database {where}: {error}") from None


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None
