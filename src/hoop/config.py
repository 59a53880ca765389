"""Settings from the environment (HOOP_*)."""

from __future__ import annotations

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOOP_", extra="ignore")

    database_url: str = "sqlite:///./hoop.db"
    scheduler_interval: float = 5.0
    token_ttl_seconds: int = 7 * 24 * 3600
    pool_size: int = Field(20, ge=1)
    # threads per server process that run the request handlers (AnyIO's, for sync routes, and
    # as many again for the routes that hop by deps.in_thread). AnyIO's default, 40, let a
    # burst of 100 requests per process fight over the GIL: 200 simultaneous orders on 2 cores
    # finished ~1.7x sooner (p99) with 3-8 threads than with 40, steady throughput the same
    threads: int = Field(6, ge=1)
    # how old a policy's reorder point may grow before the scheduler recomputes it from demand
    reorder_refresh_seconds: float = 3600.0


class SettingsError(ValueError):
    """A HOOP_* environment variable that is not a valid setting, said in one line."""


def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as e:
        problems = "; ".join(
            f"HOOP_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in e.errors()
        )
        raise SettingsError(problems) from None
