"""The `hoop` command line."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hoop.config import get_settings

app = typer.Typer(help="Hoop Inventory: stock ledger, documents, costing.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _uow():  # type: ignore[no-untyped-def]
    from hoop.bootstrap import engine_for
    from hoop.service.unit_of_work import UnitOfWork

    return UnitOfWork(engine_for())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to HOOP_DATABASE_URL."""
    from hoop.bootstrap import upgrade

    upgrade(get_settings().database_url)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    scheduler: Annotated[bool, typer.Option(help="run the scheduler in-process")] = True,
) -> None:
    """Apply migrations, start the scheduler, and serve the API."""
    import uvicorn

    from hoop.bootstrap import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    if workers > 1:
        if scheduler:
            _start_scheduler(settings.scheduler_interval)
        uvicorn.run(
            "hoop.entrypoints.asgi:app", host=host, port=port, workers=workers, log_level="warning"
        )
        return
    from hoop.bootstrap import build_app

    web = build_app(settings)
    if scheduler:
        _start_scheduler(settings.scheduler_interval, web.state.uow)
    console.print(f"Hoop serving on http://{host}:{port}  (API docs at /docs)")
    uvicorn.run(web, host=host, port=port, log_level="warning")


def _start_scheduler(interval: float, uow=None) -> None:  # type: ignore[no-untyped-def]
    from hoop import scheduler

    scheduler.start_in_thread(uow or _uow(), interval)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="run each job once and exit")] = False,
) -> None:
    """Run the scheduler alone (deadlines, outbox, audit sealing). Many may run at once."""
    from hoop import scheduler

    logging.basicConfig(level=logging.INFO)
    uow = _uow()
    if once:
        console.print(scheduler.run_once(uow))
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    interval = get_settings().scheduler_interval
    console.print(f"worker running every {interval}s; Ctrl-C to stop")
    scheduler.loop(uow, interval, stop)


@app.command()
def verify(
    org: Annotated[int | None, typer.Option(help="only this org id")] = None,
) -> None:
    """Prove every balance equals the sum of the ledger and the audit chain is intact."""
    from hoop.service.verify import verify_all

    uow = _uow()
    result = verify_all(uow, org)
    for p in result["problems"]:
        console.print(f"[red]✗[/red] {p}")
    if result["problems"]:
        _fail(f"{len(result['problems'])} problem(s) in {result['orgs']} org(s)")
    print(
        f"ok: {result['orgs']} org(s); balances equal the ledger; audit chain intact "
        f"({result['sealed']} event(s) sealed now)"
    )


@app.command()
def demo() -> None:
    """Apply migrations and load the demo org (idempotent: skips if already loaded)."""
    from hoop.bootstrap import upgrade
    from hoop.service.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo

    upgrade(get_settings().database_url)
    created = load_demo(_uow(), console=console)
    state = "loaded" if created else "already present"
    print(f"demo data {state}. Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help="products | locations | stock")],
    path: Annotated[Path, typer.Argument(help="a .csv or .xlsx file", exists=False)],
    org: Annotated[int | None, typer.Option(help="org id (default: the only org)")] = None,
    email: Annotated[str | None, typer.Option(help="act as this user")] = None,
) -> None:
    """Import products, locations or opening stock. Every row is checked first; if any row is
    bad nothing is written and each bad row is reported."""
    from hoop.service.importer import ImportFailed, run_import

    try:
        report = run_import(_uow(), kind, path, org_id=org, email=email, console=console)
    except ImportFailed as exc:
        for err in exc.errors[:200]:
            console.print(f"[red]row {err['row']}[/red]: {err['message']}")
        if len(exc.errors) > 200:
            console.print(f"... and {len(exc.errors) - 200} more")
        _fail(f"{exc.message}; nothing was written")
    print(report)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
