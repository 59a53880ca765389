"""ASGI entry for multi-process serving: `uvicorn hoop.entrypoints.asgi:app`."""

from hoop.bootstrap import build_app

app = build_app()
