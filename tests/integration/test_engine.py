"""The PostgreSQL pool hands out a working connection after the server dropped an idle one,
without a ping on every checkout (that cost a round trip per request)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from hoop.adapters.db import engine as engine_module
from hoop.adapters.db.engine import make_engine


def _pid(eng: Any) -> int:
    with eng.connect() as c:
        return int(c.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_an_idle_connection_the_server_dropped_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    eng = make_engine(postgres_url, pool_size=1)
    admin = make_engine(postgres_url, pool_size=1)
    try:
        first = _pid(eng)  # one connection, now idle in the pool
        assert _pid(eng) == first  # used again at once: no ping, same connection

        def drop(pid: int) -> None:
            with admin.begin() as c:
                c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})

        # the server drops it; the pool learns of it only by the ping an idle connection gets
        drop(first)
        monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 0.0)
        second = _pid(eng)
        assert second != first  # replaced by a fresh connection, and the query ran

        # without the ping (recently used), a dropped connection fails the request: that is
        # the risk the idle threshold takes, within IDLE_PING_SECONDS of its last use
        drop(second)
        monkeypatch.setattr(engine_module, "IDLE_PING_SECONDS", 3600.0)
        with pytest.raises(Exception, match="terminat|closed|server"):
            _pid(eng)
        assert _pid(eng) not in (first, second)  # and the pool then replaced it
    finally:
        eng.dispose()
        admin.dispose()
