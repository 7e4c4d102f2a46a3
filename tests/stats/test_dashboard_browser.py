"""The dashboard in headless Chromium while requests flow: its numbers change without a reload.

Needs Debian's chromium (scripts/install-browser) and the playwright package; skips
with the reason where either is missing, unless LLMSIM_REQUIRE_SERVICES=1 (CI). The
screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid

import pytest

from tests.browser import ARTIFACTS, chromium
from tests.conftest import INSTANT, post

pytestmark = pytest.mark.live

# Under Daphne (runserver) and granian the page is pushed over the WebSocket; uvicorn
# here has no WebSocket library, so the page falls back to polling /llmsim/stats.
TOTAL_JS = "parseInt(document.getElementById('requests-total').textContent.replace(/,/g, ''))"
EXPECTED_TRANSPORT = {"runserver": {"websocket"}, "serve": {"websocket"}, "serve-uvicorn": {"websocket", "polling"}}


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def create_staff_user(server, username: str, password: str, django_db_blocker) -> None:
    """In the live server's database; in a thread, as Playwright runs an event loop in this one."""

    def create() -> None:
        from django.contrib.auth.models import User
        from django.db import connections

        try:
            User.objects.db_manager(server.db_alias).create_user(username, password=password, is_staff=True)
        finally:
            connections[server.db_alias].close()

    with django_db_blocker.unblock(), concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(create).result()


class Traffic:
    """Requests sent from a thread while the page is watched."""

    def __init__(self, server, model: str) -> None:
        self.server, self.model = server, model
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        body = {"model": self.model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
        while not self.stop.is_set():
            post(self.server, "/v1/chat/completions", body, {**INSTANT, "x-llmsim-tokens": "8"})
            time.sleep(0.05)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def test_the_numbers_change_without_a_reload(browser, llmsim_server, request):
    kind = request.node.callspec.params["llmsim_server"]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        page.goto(f"{llmsim_server.base_url}/llmsim/dashboard/")
        page.evaluate("window.loadedOnce = true")  # gone if the page reloads
        page.wait_for_function("document.getElementById('transport').dataset.transport !== undefined", timeout=10000)
        total_before = int(page.inner_text("#requests-total").replace(",", ""))
        tokens_before = int(page.inner_text("#tokens-completion").replace(",", ""))
        model = f"gpt-4o-browser-{uuid.uuid4().hex[:6]}"

        with Traffic(llmsim_server, model):
            page.wait_for_function(f"{TOTAL_JS} >= {total_before + 5}", timeout=15000)
            page.wait_for_selector(f"#models text:has-text('{model[:21]}')", timeout=10000)

        assert page.evaluate("window.loadedOnce") is True
        assert int(page.inner_text("#tokens-completion").replace(",", "")) > tokens_before
        assert page.get_attribute("#transport", "data-transport") in EXPECTED_TRANSPORT[kind]
        assert page.locator("#spark-requests polyline").count() == 1
        assert page.inner_text("#latency tr[data-latency='ttft'] td") != "0"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{kind}.png"), full_page=True)
    finally:
        page.close()


@pytest.mark.parametrize("llmsim_server", ["runserver"], indirect=True)
def test_polling_alone_keeps_the_page_live(browser, llmsim_server):
    page = browser.new_page()
    try:
        page.goto(f"{llmsim_server.base_url}/llmsim/dashboard/?transport=poll")
        page.wait_for_function("document.getElementById('transport').dataset.transport === 'polling'", timeout=10000)
        before = int(page.inner_text("#requests-total").replace(",", ""))
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(3):
            assert post(llmsim_server, "/v1/chat/completions", body, INSTANT)[0] == 200
        page.wait_for_function(f"{TOTAL_JS} >= {before + 3}", timeout=10000)
    finally:
        page.close()


@pytest.mark.parametrize("llmsim_server", ["runserver"], indirect=True)
def test_the_reset_button_clears_the_counters_for_staff(browser, llmsim_server, django_db_blocker):
    username = f"staff-{uuid.uuid4().hex[:6]}"
    create_staff_user(llmsim_server, username, "pw-staff-123", django_db_blocker)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert post(llmsim_server, "/v1/chat/completions", body, INSTANT)[0] == 200

    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{llmsim_server.base_url}/admin/login/?next=/llmsim/dashboard/")
        page.fill("#id_username", username)
        page.fill("#id_password", "pw-staff-123")
        page.click("input[type=submit]")
        page.wait_for_url("**/llmsim/dashboard/")
        assert int(page.inner_text("#requests-total").replace(",", "")) >= 1
        page.on("dialog", lambda dialog: dialog.accept())
        page.click("#reset")
        page.wait_for_function("document.getElementById('requests-total').textContent === '0'", timeout=10000)
    finally:
        context.close()
