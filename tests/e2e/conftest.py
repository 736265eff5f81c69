"""Browser tests: Playwright's sync API driving Debian's headless Chromium against `live_server`.

Chromium comes from Debian (`make e2e-deps`, or `.ci/run`), never from `playwright install`.
pytest-django's `live_server` serves static files through Django's finders (StaticFilesHandler),
so the Bootstrap assets from node_modules load as they do under `make run`; `page` fails a test
if any same-origin request (CSS, fonts, pages) fails, on any JavaScript error, and on anything the
Content-Security-Policy blocks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.urls import reverse

# Playwright's sync API runs an asyncio event loop in this thread, and Django refuses ORM calls
# from a thread with a running loop. The calls are synchronous and sequential, so allow them.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path(os.environ.get("BATON_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # git-ignored
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password
TIMEOUT_MS = 15_000


@pytest.fixture
def browser() -> Iterator[object]:
    """Chromium for one test, started after the test's database set-up, stopped before its
    tear-down.

    While Playwright runs, its event loop counts as running in this thread, and Django then
    keeps database connections per asyncio context: code in the test body gets fresh
    connection objects. The database set-up and tear-down (serialized rollback) must see the
    usual ones, so Playwright lives only inside the test, and the connections it saw are closed.
    """
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: run `make e2e-deps` (apt-get install chromium)")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
        connections.close_all()


@pytest.fixture
def page(browser, live_server, django_db_serialized_rollback) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh browser context (no cookies) on the live server; fails on broken requests.

    The live server needs committed data, hence a transactional database; like the suite's other
    transactional tests (`live_worker`, tests/handoff/test_concurrency.py) with serialized
    rollback, so the rows migrations create (activity types, reasons, the default scoring model)
    are restored for each test instead of being flushed away.
    """
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    origin = urlsplit(live_server.url).netloc
    broken: list[str] = []

    def on_response(response) -> None:  # type: ignore[no-untyped-def]
        if response.status >= 400 and urlsplit(response.url).netloc == origin:
            broken.append(f"{response.status} {response.url}")

    def on_request_failed(request) -> None:  # type: ignore[no-untyped-def]
        # ERR_ABORTED is the browser cancelling a request itself (a navigation started while the
        # favicon was loading), not the app failing it.
        if urlsplit(request.url).netloc == origin and "ERR_ABORTED" not in (request.failure or ""):
            broken.append(f"{request.failure} {request.url}")

    page.on("response", on_response)
    page.on("requestfailed", on_request_failed)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The browser reports what the Content-Security-Policy blocked (an inline script or style, a
    # handler attribute, a resource from elsewhere) as a console error: each one fails the test.
    csp_violations: list[str] = []

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error" and "Content Security Policy" in message.text:
            csp_violations.append(f"{message.text} ({page.url})")

    page.on("console", on_console)
    yield page
    context.close()
    assert not broken, f"requests to the app failed: {broken}"
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not csp_violations, f"the Content-Security-Policy blocked: {csp_violations}"


@pytest.fixture
def screenshot():  # type: ignore[no-untyped-def]
    """Save a full-page screenshot as tests/e2e/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:  # type: ignore[no-untyped-def]
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def log_in():  # type: ignore[no-untyped-def]
    """Sign in through the login form, as a person would."""

    def sign_in(page, username: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
        page.goto(reverse("login"))
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.locator("form:has(input[name=password]) [type=submit]").click()
        assert urlsplit(page.url).path != reverse("login"), f"{username} could not sign in"

    return sign_in

