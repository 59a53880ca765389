"""Statements on the hottest path (placing an order, authenticating its caller), run on
PostgreSQL through the driver's connection directly.

SQLAlchemy builds a result object with per-column metadata for every statement: for the
three statements of an order, with 3 to 8 columns each, about 0.2 ms of CPU per order
(py-spy, benchmarks/bench_orders.py). Here a row comes back as the driver's plain tuple. A
driver error is raised as SQLAlchemy's own (`DBAPIError` and its subclasses, with the
driver's error as `.orig`), so the unit of work still retries a deadlock and the API's error
handlers still see an integrity error; a lost connection is invalidated, as SQLAlchemy
does, so the pool replaces it. On SQLite this is plain `exec_driver_sql`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError


def fetch_one(conn: Connection, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The first row of `sql` (psycopg `%(name)s` parameters), or None."""
    if conn.dialect.name != "postgresql":
        row = conn.exec_driver_sql(sql, dict(params)).first()
        return None if row is None else tuple(row)
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        return driver.execute(sql, params).fetchone()  # type: ignore[arg-type]
    except psycopg.Error as e:
        if isinstance(e, psycopg.OperationalError) and driver.closed:
            conn.invalidate(e)
        raise DBAPIError.instance(
            sql, params, e, psycopg.Error, connection_invalidated=conn.invalidated
        ) from e
