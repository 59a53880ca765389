"""Composition root: settings → engine → unit of work → app. Nothing happens at import time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from sqlalchemy import Engine

from hoop.adapters.db.engine import make_engine, normalize_url
from hoop.config import Settings, get_settings
from hoop.service.unit_of_work import UnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def pending_migration(engine: Engine) -> tuple[str | None, str] | None:
    """(current, head) when the database is not at the code's migration head, else None."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return None if current == head else (current, str(head))


def engine_for(settings: Settings | None = None) -> Engine:
    settings = settings or get_settings()
    return make_engine(settings.database_url, settings.pool_size)


def build_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    from hoop.entrypoints.api.app import create_app

    settings = settings or get_settings()
    engine = engine or engine_for(settings)
    return create_app(UnitOfWork(engine), settings)
