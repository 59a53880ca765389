"""adapters/db/hot: statements run on the driver's connection fail as SQLAlchemy's own."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from hoop.adapters.db import hot
from hoop.service.unit_of_work import _retryable


def test_rows_come_back_as_tuples(engine) -> None:
    with engine.connect() as conn:
        assert hot.fetch_one(conn, "SELECT 1, 'a'", {}) == (1, "a")
        assert hot.fetch_one(conn, "SELECT 1 WHERE 1 = 0", {}) is None


def test_driver_errors_are_raised_as_sqlalchemys(engine) -> None:
    """So the unit of work's retry and the API's error handlers treat them as before."""
    if engine.dialect.name != "postgresql":
        return  # SQLite goes through SQLAlchemy itself
    # (each in a connection of its own: the pool rolls back what a failed statement left)
    with engine.connect() as conn, pytest.raises(DataError) as caught:
        hot.fetch_one(conn, "SELECT 1 / %(z)s", {"z": 0})
    assert caught.value.orig.sqlstate == "22012"  # division by zero
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE hot_once (k int PRIMARY KEY)")
        hot.fetch_one(conn, "INSERT INTO hot_once VALUES (1) RETURNING k", {})
        with pytest.raises(IntegrityError):
            hot.fetch_one(conn, "INSERT INTO hot_once VALUES (1) RETURNING k", {})
    with engine.connect() as conn, pytest.raises(DBAPIError) as caught:
        # a deadlock, as the server reports one
        deadlock = "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = 'deadlock_detected'; END $$"
        hot.fetch_one(conn, deadlock, {})
    assert _retryable(caught.value)


def test_a_connection_the_server_dropped_is_invalidated(postgres_url: str) -> None:
    """A hot statement on a connection whose backend is gone fails as SQLAlchemy's
    OperationalError and invalidates the connection, so the pool replaces it."""
    from sqlalchemy.exc import OperationalError

    from hoop.adapters.db.engine import make_engine

    eng = make_engine(postgres_url, pool_size=1)
    admin = make_engine(postgres_url, pool_size=1)
    try:
        with eng.connect() as conn:
            pid = hot.fetch_one(conn, "SELECT pg_backend_pid()", {})[0]
            with admin.begin() as c:
                c.exec_driver_sql("SELECT pg_terminate_backend(%(p)s)", {"p": pid})
            with pytest.raises(OperationalError) as caught:
                hot.fetch_one(conn, "SELECT 1", {})
            assert caught.value.connection_invalidated and conn.invalidated
        with eng.connect() as conn:  # a fresh connection, on another backend
            assert hot.fetch_one(conn, "SELECT pg_backend_pid()", {})[0] != pid
    finally:
        eng.dispose()
        admin.dispose()
