"""Screenshots of the main pages for the README, taken in Debian's Chromium over the demo data.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only NAME ...]

Loads the demo org into a temporary SQLite database, serves the app with uvicorn on a free
port, signs in as the demo owner and saves one PNG per page (and the order requests on a
375-px phone)."""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from hoop.bootstrap import build_app, upgrade
from hoop.config import Settings
from hoop.service.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAGES = [
    ("dashboard", "/"),
    ("products", "/products"),
    ("product", "/products/1"),
    ("receipt", "/documents/new?type=receipt"),
    ("approvals", "/documents/approvals"),
    ("orders", "/orders"),
    ("replenishment", "/replenishment"),
    # the demo's partly received order: its first open list entry, found when the page is taken
    ("purchase-order", "/purchase-orders?status=partially_received"),
    ("valuation", "/reports/valuation"),
    ("settings", "/settings"),
]


def serve(url: str) -> tuple[str, uvicorn.Server]:
    app = build_app(Settings(database_url=url))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--only", nargs="*", help="retake only these pages (by name)")
    args = ap.parse_args()
    out = Path(args.out)
    only = set(args.only or [])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/demo.db"
        upgrade(url)
        app = build_app(Settings(database_url=url))
        load_demo(app.state.uow)
        base, server = serve(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(base + "/login")
            page.fill("input[name=email]", DEMO_EMAIL)
            page.fill("input[name=password]", DEMO_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + "/")
            for name, path in PAGES:
                if only and name not in only:
                    continue
                page.goto(base + path)
                if name == "purchase-order":  # from the list to the order itself
                    po = page.locator("[data-po]").first.get_attribute("data-po")
                    page.goto(f"{base}/purchase-orders/{po}")
                page.screenshot(path=str(out / f"{name}.png"), full_page=True)
                print("saved", out / f"{name}.png")
            if only and "orders-phone" not in only:
                browser.close()
                server.should_exit = True
                return
            phone = browser.new_context(
                viewport={"width": 375, "height": 812},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            phone.add_cookies(page.context.cookies())
            mobile = phone.new_page()
            mobile.goto(base + "/orders?status=pending_seller")
            mobile.screenshot(path=str(out / "orders-phone.png"), full_page=True)
            print("saved", out / "orders-phone.png")
            browser.close()
        server.should_exit = True


if __name__ == "__main__":
    main()
