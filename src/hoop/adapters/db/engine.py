"""Engines for SQLite (WAL, BEGIN IMMEDIATE for writers) and PostgreSQL (psycopg 3 pool)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.pool import NullPool

# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 10.0


def normalize_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, pool_size: int = 20) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=60)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, paid only where it can matter: a connection that came
    back to the pool less than IDLE_PING_SECONDS ago was working a moment ago and is handed out
    as is; an older one is pinged first and, if the server has gone (a restart, an idle
    timeout), replaced. `pool_pre_ping` pinged on every checkout: a round trip and about
    0.7 ms of CPU on each request."""

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["hoop_idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("hoop_idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return  # new (just connected) or recently used
        try:
            dbapi_conn.execute("SELECT 1").fetchall()
            dbapi_conn.rollback()
        except Exception as e:  # the pool replaces it with a fresh connection
            raise exc.DisconnectionError(str(e)) from e


def _sqlite_engine(url: str) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if not memory:
        kwargs["poolclass"] = NullPool if "mode=ro" in url else None
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front, so two writers never deadlock on lock upgrade.
        write = conn.get_execution_options().get("hoop_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
