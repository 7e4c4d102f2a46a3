"""Which Host names Django's side of the site answers (admin, dashboard, management API), and
that the provider routes, /health, /llmsim/stats and /metrics answer any."""

from __future__ import annotations

import pytest

from simulator import exposure
from tests.admin_login import get
from tests.conftest import start_server, stop_server

ELSEWHERE = "llmsim.attacker.example"


def port_of(server) -> str:
    return server.base_url.rsplit(":", 1)[1]


@pytest.mark.live
def test_the_admin_answers_only_this_machines_loopback_names_by_default(llmsim_server):
    port = port_of(llmsim_server)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert get(f"{llmsim_server.base_url}/admin/login/", {"Host": host})[0] == 200, host
    status, headers, body = get(f"{llmsim_server.base_url}/admin/login/", {"Host": f"{ELSEWHERE}:{port}"})
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert ELSEWHERE in body and "DJANGO_ALLOWED_HOSTS" in body
    for path in ("/llmsim/dashboard/", "/llmsim/api/scenarios/"):
        assert get(f"{llmsim_server.base_url}{path}", {"Host": ELSEWHERE})[0] == 400, path
    # The provider routes are answered before Django: any Host will do.
    for path in ("/health", "/llmsim/stats", "/metrics", "/v1/models"):
        status, _, _ = get(f"{llmsim_server.base_url}{path}", {"Host": ELSEWHERE, "Authorization": "Bearer test"})
        assert status == 200, path


@pytest.mark.live
def test_the_log_says_why_a_host_was_refused_in_one_line(llmsim_server):
    get(f"{llmsim_server.base_url}/admin/login/", {"Host": "refused.example"})
    lines = llmsim_server.log().splitlines()
    said = [n for n, line in enumerate(lines) if "Invalid HTTP_HOST header: 'refused.example'" in line]
    assert said, "the refusal is not logged"
    after = lines[said[-1] + 1 : said[-1] + 2]
    assert not any(line.startswith("Traceback") for line in after)  # a client's mistake, not a bug


@pytest.mark.live
@pytest.mark.parametrize("kind", ["runserver", "serve"])
def test_DJANGO_ALLOWED_HOSTS_chooses_the_names_and_a_refused_one_is_told_why(tmp_path, kind):
    server = start_server(tmp_path, kind, {"DJANGO_ALLOWED_HOSTS": "llmsim.internal,10.0.0.5"})
    try:
        assert get(f"{server.base_url}/admin/login/", {"Host": "llmsim.internal"})[0] == 200
        assert get(f"{server.base_url}/admin/login/", {"Host": "10.0.0.5:8000"})[0] == 200
        status, _, body = get(f"{server.base_url}/admin/login/", {"Host": ELSEWHERE})
        assert status == 400 and "DJANGO_ALLOWED_HOSTS" in body
    finally:
        stop_server(server)


@pytest.mark.live
@pytest.mark.parametrize(
    "command",
    [
        lambda port: ["serve", "--host", "0.0.0.0", "--port", str(port), "--workers", "1", "--no-migrate"],
        lambda port: ["runserver", f"0.0.0.0:{port}", "--noreload"],
    ],
    ids=["serve", "runserver"],
)
def test_listening_on_every_interface_says_what_to_set(tmp_path, command):
    server = start_server(tmp_path, extra_env={"LLMSIM_OPS_AUTH": "public"}, command=command)
    try:
        log = server.log()
        assert "listening on all interfaces" in log and "set DJANGO_ALLOWED_HOSTS" in log
        assert "Set LLMSIM_OPS_AUTH=private" in log
        # The addresses it prints are ones to use from this machine, not 0.0.0.0.
        assert "Listening on all interfaces, port" in log and f'base_url="{server.base_url}/v1"' in log
        assert get(f"{server.base_url}/admin/login/")[0] == 200
        assert get(f"{server.base_url}/admin/login/", {"Host": "10.1.2.3"})[0] == 400
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("host", "name"), [("10.0.0.5", "10.0.0.5"), ("llmsim.internal", "llmsim.internal"), ("fd00::5", "[fd00::5]")]
)
def test_an_address_the_server_is_told_to_listen_on_is_answered(settings, monkeypatch, host, name):
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "")  # recorded, so that the test's changes are undone...
    monkeypatch.delenv("DJANGO_ALLOWED_HOSTS")  # ...then unset: the user did not choose
    settings.ALLOWED_HOSTS = ["localhost"]
    exposure.note_bind_address(host)
    allowed = settings.ALLOWED_HOSTS
    assert allowed == ["localhost", name]
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "localhost")  # what the user chose stays as it is
    settings.ALLOWED_HOSTS = ["localhost"]
    exposure.note_bind_address(host)
    allowed = settings.ALLOWED_HOSTS
    assert allowed == ["localhost"]
