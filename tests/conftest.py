"""Shared fixtures. Database tests run on SQLite and, when HOOP_TEST_POSTGRES_URL is set, on
PostgreSQL too (HOOP_REQUIRE_POSTGRES=1 turns an unreachable server into a failure).

Each test run gets its own PostgreSQL schema, so parallel runs never see each other's rows;
tests isolate from each other by signing up their own org."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, text

from hoop.adapters.db.engine import make_engine, normalize_url
from hoop.bootstrap import upgrade
from hoop.service.unit_of_work import UnitOfWork

PG_URL = os.environ.get("HOOP_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("HOOP_REQUIRE_POSTGRES") == "1"


def _pg_schema_url(base: str, schema: str) -> str:
    url = normalize_url(base)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("db") / "hoop-test.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("HOOP_REQUIRE_POSTGRES=1 but HOOP_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL tests need HOOP_TEST_POSTGRES_URL")
    schema = f"hoop_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL, pool_size=1)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at HOOP_TEST_POSTGRES_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = _pg_schema_url(PG_URL, schema)
    upgrade(url)
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url, pool_size=20)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def uow(engine: Engine) -> UnitOfWork:
    return UnitOfWork(engine)


@pytest.fixture(scope="session")
def app(engine: Engine, db_url: str) -> Any:
    from hoop.bootstrap import build_app
    from hoop.config import Settings

    return build_app(Settings(database_url=db_url), engine)


@pytest.fixture(scope="session")
def client(app: Any) -> Any:
    from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture
def org(client: Any) -> Any:
    """A fresh org with its owner: an `OrgClient` that calls the API as that owner."""
    from tests.helpers import OrgClient

    return OrgClient.signup(client)
