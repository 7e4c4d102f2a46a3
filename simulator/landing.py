"""Where a newcomer lands: the page at `/` and the lines a server prints when it starts.

Both give the same addresses: the base URL to hand each SDK, and where the admin, the
dashboard, the numbers and the docs are. The page builds them from the request's own
address (what the browser reached, so what a client on that machine can reach too);
the startup lines from the address the server listens on.
"""

from __future__ import annotations

import functools
import importlib.metadata
import tomllib
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from simulator import docs_pages
from simulator.exposure import WILDCARDS
from simulator.state import snapshots


@dataclass(frozen=True)
class Sdk:
    name: str  # the package, as pip knows it
    setting: str  # what its client takes, with the address filled in
    snippet: str  # a first request, ready to paste


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    note: str = ""


def sdks(origin: str) -> list[Sdk]:
    """The official SDKs pointed at a server reached at `origin` (scheme://host:port)."""
    return [
        Sdk(
            "openai",
            f'base_url="{origin}/v1"',
            "from openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{origin}/v1", api_key="anything")\n'
            "reply = client.chat.completions.create(\n"
            '    model="gpt-4o", messages=[{"role": "user", "content": "Hello!"}]\n'
            ")\n"
            "print(reply.choices[0].message.content)",
        ),
        Sdk(
            "anthropic",
            f'base_url="{origin}"',
            "from anthropic import Anthropic\n\n"
            f'client = Anthropic(base_url="{origin}", api_key="anything")\n'
            "message = client.messages.create(\n"
            '    model="claude-sonnet-4-5", max_tokens=256, messages=[{"role": "user", "content": "Hello!"}]\n'
            ")\n"
            "print(message.content[0].text)",
        ),
        Sdk(
            "google-genai",
            f'http_options={{"base_url": "{origin}"}}',
            "from google import genai\n\n"
            f'client = genai.Client(api_key="anything", http_options={{"base_url": "{origin}"}})\n'
            'response = client.models.generate_content(model="gemini-2.5-flash", contents="Hello!")\n'
            "print(response.text)",
        ),
    ]


def curl_snippet(origin: str) -> str:
    return (
        f"curl {origin}/v1/chat/completions \\\n"
        '  -H "Authorization: Bearer anything" -H "Content-Type: application/json" \\\n'
        '  -d \'{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello!"}]}\''
    )


def pages(origin: str) -> list[Link]:
    """The server's own pages, in the order a newcomer needs them."""
    return [
        Link("Admin", f"{origin}/admin/", "model profiles, scenarios and rules, errors, settings"),
        Link("Dashboard", f"{origin}/llmsim/dashboard/", "live numbers of a load test"),
        Link("Metrics", f"{origin}/metrics", "Prometheus text format"),
        Link("Stats", f"{origin}/llmsim/stats", "the same numbers as JSON"),
        Link("Health", f"{origin}/health", "for load balancers and probes"),
        Link("Docs", f"{origin}/docs/", "the README and docs/, served by this server"),
    ]


@functools.cache
def version() -> str:
    """LLMSim's version: the checkout's pyproject.toml, else the installed package's, else ""."""
    try:
        with open(settings.BASE_DIR / "pyproject.toml", "rb") as file:
            return tomllib.load(file)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        pass
    try:
        return importlib.metadata.version("llmsim")
    except importlib.metadata.PackageNotFoundError:
        return ""


def product() -> str:
    """ "LLMSim 0.1.0", or "LLMSim" where the version is unknown."""
    return f"LLMSim {version()}".rstrip()


def origin_for(host: str, port: int | str) -> str:
    """The address to print for a server listening on `host`: on all interfaces, this
    machine's loopback (the one address sure to reach it)."""
    host = host.strip("[]")
    if host in WILDCARDS:
        host = "::1" if host == "::" else "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def startup_lines(host: str, port: int | str) -> list[str]:
    """What `serve` and `runserver` print once they listen: the same addresses as the page at /."""
    origin = origin_for(host, port)
    lines = []
    if host.strip("[]") in WILDCARDS:
        lines.append(f"Listening on all interfaces, port {port}; from this machine:")
    lines += [f"  {sdk.name + ' SDK:':<19}{sdk.setting}" for sdk in sdks(origin)]
    wanted = ("Admin", "Dashboard", "Metrics", "Docs")
    lines += [f"  {link.label + ':':<19}{link.url}" for link in pages(origin) if link.label in wanted]
    lines.append(f"  {'Start here:':<19}{origin}/")
    return lines


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    """GET /: what is running, how to point each SDK at it, and links to everything else."""
    origin = f"{request.scheme}://{request.get_host()}"
    snapshot = snapshots.current()  # in memory: the page reads no table
    context = {
        "version": version(),
        "server": settings.LLMSIM_SERVER,
        "snapshot": snapshot,
        "scenario_count": len(snapshot.scenarios),
        "sdks": sdks(origin),
        "curl": curl_snippet(origin),
        "pages": pages(origin),
        "manual": docs_pages.manual(),
        "private": settings.LLMSIM_OPS_AUTH == "private",
    }
    return render(request, "llmsim/landing.html", context)
