"""The landing page at /, the docs at /docs/, and the addresses servers print when they start."""

from __future__ import annotations

import html
import re
import urllib.request

import pytest
from django.test import Client
from django.urls import reverse

from simulator import docs_pages
from simulator.landing import startup_lines
from tests.conftest import get_json

BASE_URLS = (
    'base_url="{origin}/v1"',  # openai
    'base_url="{origin}"',  # anthropic
    'http_options={{"base_url": "{origin}"}}',  # google-genai
)
PAGES = ("/admin/", "/llmsim/dashboard/", "/metrics", "/llmsim/stats", "/health", "/docs/")


@pytest.fixture
def web():
    """Django's test client (conftest's `client` is the openai SDK's)."""
    return Client()


def text_of(response) -> str:
    return html.unescape(response.content.decode())


@pytest.mark.django_db
def test_it_gives_each_sdk_its_base_url_built_from_the_address_the_browser_used(web):
    page = web.get("/", HTTP_HOST="llmsim.localhost:9000")
    assert page.status_code == 200
    text = text_of(page)
    origin = "http://llmsim.localhost:9000"
    for setting in BASE_URLS:
        assert setting.format(origin=origin) in text
    assert f"curl {origin}/v1/chat/completions" in text
    assert f'client = OpenAI(base_url="{origin}/v1", api_key="anything")' in text
    for path in PAGES:
        assert f'href="{origin}{path}"' in text


@pytest.mark.django_db
def test_it_fetches_nothing_from_elsewhere(web):
    page = web.get("/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "<script" not in text
    for reference in re.findall(r'(?:src|href)="([^"]*)"', text):
        assert reference.startswith(("http://testserver/", "data:", "/")), reference


@pytest.mark.django_db
def test_the_admins_view_site_link_leads_to_it(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()
    assert '<a href="/">View site</a>' in index
    assert admin_client.get("/").status_code == 200


@pytest.mark.django_db
def test_with_private_numbers_it_still_links_them_and_says_they_ask_for_a_login(web, settings):
    settings.LLMSIM_OPS_AUTH = "private"
    page = web.get("/")
    assert page.status_code == 200
    text = text_of(page)
    for path in PAGES:
        assert f'href="http://testserver{path}"' in text
    assert "The numbers are private here" in text
    assert web.get("/llmsim/dashboard/").status_code == 302  # the page itself stays protected


def test_startup_lines_give_a_usable_address_for_all_interfaces():
    lines = startup_lines("0.0.0.0", 8000)
    assert lines[0] == "Listening on all interfaces, port 8000; from this machine:"
    text = "\n".join(lines)
    for setting in BASE_URLS:
        assert setting.format(origin="http://127.0.0.1:8000") in text
    for page in ("/admin/", "/llmsim/dashboard/", "/metrics", "/docs/"):
        assert f"http://127.0.0.1:8000{page}" in text
    assert 'base_url="http://[::1]:8000/v1"' in "\n".join(startup_lines("::", 8000))
    assert 'base_url="http://10.0.0.5:9000"' in "\n".join(startup_lines("10.0.0.5", 9000))


@pytest.mark.django_db
def test_the_docs_serve_the_readme_with_working_section_links(web):
    page = web.get("/docs/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "<h1" in text and "LLMSim</h1>" in text
    anchors = set(re.findall(r' id="([^"]+)"', text))
    assert "two-commands" in anchors
    assert {link[1:] for link in re.findall(r'href="(#[^"]+)"', text)} <= anchors
    assert 'href="/docs/limits.md"' in text  # README's docs/limits.md, as this server serves it
    # README's docs/configuration.md#…, as this server serves it
    assert 'href="/docs/configuration.md#reached-by-others-what-is-public-the-secret-key-host-names-https"' in text
    assert web.get("/docs/limits.md").status_code == 200
    assert web.get("/docs/no-such-page.md").status_code == 404
    assert web.get("/docs/..%2Fllmsim_project%2Fsettings.py").status_code == 404
    assert web.get("/docs/grafana-dashboard.json").status_code == 404


@pytest.mark.django_db
def test_every_page_of_the_manual_is_served_linked_and_its_links_lead_somewhere(web):
    pages = {url: web.get(url) for _, url in docs_pages.manual()}
    assert len(pages) == len(docs_pages.MANUAL)  # every page of the manual is on disk
    texts = {url: response.content.decode() for url, response in pages.items()}
    ids = {url: set(re.findall(r' id="([^"]+)"', text)) for url, text in texts.items()}
    for url, text in texts.items():
        assert pages[url].status_code == 200, url
        # Each page's navigation leads to every other page.
        assert {other for other in texts if f'href="{other}"' not in text} == set(), url
        for href in re.findall(r'href="([^"]+)"', text):
            target, _, fragment = href.partition("#")
            if target.startswith("/docs/"):
                assert target in ids, (url, href)
                assert not fragment or fragment in ids[target], (url, href)
            elif not target:
                assert fragment in ids[url], (url, href)
    landing = web.get("/").content.decode()
    for page, url in docs_pages.manual():
        assert f'href="{url}"' in landing and page.title in landing
    # The README is the index: its own text links every other page.
    readme = texts[reverse("docs")].split("<article>")[1]
    assert {url for url in texts if url != reverse("docs") and f'href="{url}"' not in readme} == set()


@pytest.mark.django_db
def test_the_docs_show_html_in_the_files_as_text_and_name_files_they_do_not_serve(web, settings, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# Title\n\n<script>alert(1)</script>\n\nSee [the bench](bench/README.md) and [limits](docs/x.md#a-b).\n"
    )
    (tmp_path / "docs" / "x.md").write_text("# X\n\n## A b\n\nBack to [the README](../README.md#title).\n")
    settings.BASE_DIR = tmp_path
    text = web.get("/docs/").content.decode()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert '<a title="bench/README.md in the project\'s folder">the bench</a>' in html.unescape(text)
    assert 'href="/docs/x.md#a-b"' in text
    other = web.get("/docs/x.md").content.decode()
    assert 'id="a-b"' in other and 'href="/docs/#title"' in other


@pytest.mark.live
def test_it_says_what_is_running_and_the_server_prints_the_same_addresses(llmsim_server, request):
    kind = request.node.callspec.params["llmsim_server"]
    with urllib.request.urlopen(f"{llmsim_server.base_url}/", timeout=10) as response:
        assert response.status == 200
        text = html.unescape(response.read().decode())
    health = get_json(f"{llmsim_server.base_url}/health")
    assert f'id="snapshot-version">{health["snapshot_version"]}<' in text
    assert f'id="model-profiles">{health["model_profiles"]}<' in text
    assert 'id="active-scenario">default<' in text
    served_by = {"runserver": "runserver (Daphne)", "serve": "granian, 1 worker", "serve-uvicorn": "uvicorn, 1 worker"}
    assert f"served by <b>{served_by[kind]}</b>" in text
    log = llmsim_server.log()
    for setting in BASE_URLS:
        assert setting.format(origin=llmsim_server.base_url) in text
        assert setting.format(origin=llmsim_server.base_url) in log
    for path in ("/admin/", "/llmsim/dashboard/", "/metrics", "/docs/"):
        assert f"{llmsim_server.base_url}{path}" in log
