"""One transaction per command, retried when the database reports a deadlock or a
serialization failure, so such errors never reach a client."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

T = TypeVar("T")

RETRYABLE_PG = {"40001", "40P01", "55P03"}
MAX_ATTEMPTS = 8


def _retryable(exc: DBAPIError) -> bool:
    code = getattr(exc.orig, "sqlstate", None)
    if code in RETRYABLE_PG:
        return True
    msg = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in msg or "busy" in msg)


class UnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_lock = threading.RLock() if engine.dialect.name == "sqlite" else None
        # On PostgreSQL a read runs in autocommit: under READ COMMITTED every statement takes its
        # own snapshot anyway, and this saves the BEGIN and COMMIT round trips.
        opts: dict[str, object] = {"hoop_write": False}
        if engine.dialect.name == "postgresql":
            opts["isolation_level"] = "AUTOCOMMIT"
        self._read_engine = engine.execution_options(**opts)

    def write(self, fn: Callable[[Connection], T]) -> T:
        """Run fn in one write transaction; commit on return, roll back on any exception."""
        if self._write_lock is not None:
            # SQLite has one writer at a time: threads of this process queue here in order
            # instead of sleeping in SQLite's busy handler (which makes the latency tail long).
            with self._write_lock:
                return self._write(fn)
        return self._write(fn)

    def _write(self, fn: Callable[[Connection], T]) -> T:
        return self._retried(self.engine.begin, fn)

    @staticmethod
    def _retried(
        open_: Callable[[], AbstractContextManager[Connection]], fn: Callable[[Connection], T]
    ) -> T:
        """fn on a connection from open_, run again from the start on a deadlock or a
        serialization failure (after a short random wait that doubles each time)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with open_() as conn:
                    return fn(conn)
            except DBAPIError as exc:
                if attempt == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    def statementwise(self, fn: Callable[[Connection], T]) -> T:
        """Run fn where each statement is a transaction of its own (PostgreSQL; elsewhere as
        write): for a command whose reads may stand apart and whose writes are one statement.
        It saves the BEGIN and COMMIT round trips, and a row its statement locks is free the
        moment the statement ends instead of when the client gets round to sending COMMIT.
        Retried like write on a deadlock or a serialization failure."""
        if self.engine.dialect.name != "postgresql":
            return self.write(fn)
        return self._retried(self._read_engine.connect, fn)  # in autocommit on PostgreSQL

    def snapshot(self, fn: Callable[[Connection], T]) -> T:
        """Run fn in one read-only snapshot (REPEATABLE READ on PostgreSQL), so several
        statements see the database at one instant even while others write."""
        if self.engine.dialect.name != "postgresql":
            return self.write(fn)  # SQLite: BEGIN IMMEDIATE already excludes writers
        eng = self.engine.execution_options(isolation_level="REPEATABLE READ")
        with eng.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            return fn(conn)

    def read(self, fn: Callable[[Connection], T]) -> T:
        with self._read_engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                return fn(conn)
            with conn.begin():
                return fn(conn)
