"""The top-level docker-compose.yml, brought up for real with podman-compose as a user
would bring it up with Docker: the image built from the Dockerfile, two replicas
behind the load balancer, PostgreSQL, Redis and Prometheus; driven with the official
SDKs through the load balancer's port, and taken down again.

Needs rootful podman, podman-compose and the local base images of
scripts/container-base (.ci/run runs it); skips with the reason elsewhere."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest
import yaml
from google import genai

from tests.conftest import ROOT, free_port
from tests.services import container_tools

# The image the stack runs here; a tag of its own, so that a user's llmsim:latest stays.
IMAGE = "localhost/llmsim:compose-test"
# The services `podman-compose up` starts: all but Grafana (no Debian package, so no
# local image; docker compose leaves it to its profile, podman-compose 1.0 has none).
SERVICES = ["loadbalancer", "prometheus"]
REPLICAS = ["llmsim-1", "llmsim-2"]


@dataclass
class Stack:
    project: str
    url: str  # the load balancer
    prometheus: str
    token: str  # LLMSIM_ADMIN_TOKEN
    environment: dict[str, str]

    def compose(self, *arguments: str, timeout: float = 600) -> str:
        done = subprocess.run(
            ["podman-compose", "-p", self.project, *arguments],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def containers(self, service: str | None = None) -> list[str]:
        filters = ["--filter", f"label=io.podman.compose.project={self.project}"]
        if service:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        names = podman("ps", "--all", *filters, "--format", "{{.Names}}")
        return names.split()

    def replica(self, service: str) -> str:
        (name,) = self.containers(service)
        return name

    def inside(self, service: str, method: str, path: str, body: dict | None = None, **headers: str) -> Any:
        """A request to one replica, from inside its container (replicas publish no port)."""
        program = (
            "import json, sys, urllib.request, urllib.error\n"
            "method, path, body, headers = json.loads(sys.argv[1])\n"
            "data = None if body is None else json.dumps(body).encode()\n"
            "request = urllib.request.Request('http://127.0.0.1:8000' + path, data, headers, method=method)\n"
            "try:\n"
            "    response = urllib.request.urlopen(request, timeout=10)\n"
            "except urllib.error.HTTPError as error:\n"
            "    response = error\n"
            "print(json.dumps({'status': response.status, 'body': json.loads(response.read() or b'null')}))\n"
        )
        headers = {"content-type": "application/json", "authorization": "Bearer test", **headers}
        argument = json.dumps([method, path, body, headers])
        return json.loads(podman("exec", self.replica(service), "python3", "-c", program, argument))

    def management(self, method: str, path: str, body: bytes | None = None, content_type: str = "") -> Any:
        """The management API through the load balancer, with the admin token."""
        headers = {"authorization": f"Bearer {self.token}"}
        if content_type:
            headers["content-type"] = content_type
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


def podman(*arguments: str, timeout: float = 120) -> str:
    done = subprocess.run(["podman", *arguments], capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"podman {' '.join(arguments[:3])}: {done.stderr[-2000:]}"
    return done.stdout.strip()


def eventually(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """check() until it returns something true; its last error or value in the failure."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (OSError, AssertionError, ValueError, KeyError) as exc:
            last = exc
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout} s; last: {last!r}")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    container_tools()
    project = f"llmsim-test-{os.getpid()}"
    port, prometheus_port = free_port(), free_port()
    token = secrets.token_urlsafe(16)
    environment = {
        **os.environ,
        # Docker's image format: the OCI one that podman writes by default drops HEALTHCHECK.
        "BUILDAH_FORMAT": "docker",
        "LLMSIM_IMAGE": IMAGE,
        "LLMSIM_PORT": str(port),
        "PROMETHEUS_PORT": str(prometheus_port),
        "LLMSIM_ADMIN_TOKEN": token,
    }
    running = Stack(project, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prometheus_port}", token, environment)
    previous_image = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", IMAGE], capture_output=True, text=True, check=False
    ).stdout.strip()
    try:
        # As `docker compose up` builds it, from the compose file's `build: .`; once,
        # since the replicas and the migration share the image.
        running.compose("build", "migrate", timeout=900)
        running.compose("up", "-d", *SERVICES)
        eventually(lambda: get_json(running.url + "/health")["status"] == "ok", 120, "the load balancer answered")
        for service in REPLICAS:
            eventually(lambda s=service: running.inside(s, "GET", "/health")["status"] == 200, 60, f"{service} served")
        yield running
    finally:
        _take_down(running, previous_image)


def _take_down(running: Stack, previous_image: str) -> None:
    # Containers with their anonymous volumes (the images' VOLUMEs), the named volumes
    # and the network; then the image this run replaced, and build stages older than a
    # day (a later run reuses their cached layers), so that runs do not pile up images.
    names = running.containers()
    if names:
        # Nothing here needs a graceful stop (the image's own was tested): kill at once.
        removal = ["podman", "rm", "--force", "--time", "0", "--volumes", *names]
        subprocess.run(removal, capture_output=True, check=False)
    subprocess.run(
        ["podman-compose", "-p", running.project, "down", "-v"],
        cwd=ROOT,
        env=running.environment,
        capture_output=True,
        timeout=300,
        check=False,
    )
    # podman-compose 1.0 leaves the project's network behind.
    networks = podman("network", "ls", "--quiet", "--filter", f"label=io.podman.compose.project={running.project}")
    if networks:
        subprocess.run(["podman", "network", "rm", *networks.split()], capture_output=True, check=False)
    current = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Id}}", IMAGE], capture_output=True, text=True, check=False
    ).stdout.strip()
    if previous_image and previous_image != current:
        subprocess.run(["podman", "rmi", previous_image], capture_output=True, check=False)
    stale_build_stages = ["--filter", "label=io.llmsim.stage=build", "--filter", "until=24h"]
    subprocess.run(["podman", "image", "prune", "--force", *stale_build_stages], capture_output=True, check=False)


def test_the_official_sdks_are_answered_through_the_load_balancer(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key="test", max_retries=0)
    headers = {"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"}
    chat = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}], extra_headers=headers
    )
    assert chat.choices[0].message.content and chat.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text and chunks[-1].usage.completion_tokens > 0

    message = anthropic.Anthropic(base_url=stack.url, api_key="test", max_retries=0).messages.create(
        model="claude-haiku-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "Hello"}],
        extra_headers=headers,
    )
    assert message.content[0].text and message.usage.output_tokens > 0

    gemini = genai.Client(api_key="test", http_options={"base_url": stack.url, "headers": headers})
    answer = gemini.models.generate_content(model="gemini-2.0-flash", contents="Hello")
    assert answer.text and answer.usage_metadata.candidates_token_count > 0


def test_stats_add_up_both_replicas(stack: Stack) -> None:
    # Where the counts start: what both replicas say once the earlier tests' numbers are
    # published (each process publishes once a second; two intervals pass first).
    def agreed_total() -> list[int] | None:
        totals = {stack.inside(s, "GET", "/llmsim/stats")["body"]["requests"]["total"] for s in REPLICAS}
        return [totals.pop()] if len(totals) == 1 else None

    time.sleep(2.5)
    (before,) = eventually(agreed_total, 15, "the replicas agreed on their count")
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key="test", max_retries=0)
    sent = 6
    for _ in range(sent):  # round robin: three to each replica
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "count me"}],
            max_tokens=5,
            extra_headers={"x-llmsim-ttft-ms": "0", "x-llmsim-tbt-ms": "0"},
        )
    for service in REPLICAS:
        stats = eventually(
            lambda s=service: _total_is(stack.inside(s, "GET", "/llmsim/stats")["body"], before + sent),
            15,
            f"{service} counted every replica's requests",
        )
        assert stats["processes"] == 2 and stats["aggregation"] == "redis"


def _total_is(stats: dict, total: int) -> dict:
    counted = (stats["requests"]["total"], stats["processes"], stats["requests"]["by_model"])
    assert stats["requests"]["total"] == total, f"counted {counted}"
    return stats


def test_one_rate_limit_is_one_budget_across_replicas(stack: Stack) -> None:
    scenario = "compose-budget"
    import_scenario(stack, scenario, "within budget", requests_per_minute=4)
    _both_replicas_answer(stack, scenario, "within budget")
    stack.management("POST", "/llmsim/api/reset-rate-limits/")
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key="test", max_retries=0)
    statuses = []
    for _ in range(8):  # round robin: four to each replica, which alone would allow all
        try:
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "spend"}],
                extra_headers={"x-llmsim-scenario": scenario},
            )
            statuses.append(200)
        except openai.RateLimitError as exc:
            assert exc.body["code"] == "rate_limit_exceeded"
            statuses.append(429)
    assert statuses.count(200) == 4, statuses
    assert statuses.count(429) == 4, statuses


def test_an_admin_edit_reaches_both_replicas(stack: Stack) -> None:
    scenario = "compose-edit"
    for text in ("before the edit", "after the edit"):
        import_scenario(stack, scenario, text)
        _both_replicas_answer(stack, scenario, text)


def import_scenario(stack: Stack, name: str, text: str, **fields: Any) -> None:
    """Through the management API, as an admin edit: a scenario answering `text`."""
    scenario = {"name": name, "generator": "fixed", "fixed_text": text, "latency_profile": "instant", **fields}
    document = yaml.safe_dump({"scenarios": [scenario]}).encode()
    stack.management("POST", "/llmsim/api/import/", document, "application/yaml")


def _both_replicas_answer(stack: Stack, scenario: str, text: str) -> None:
    """Each replica, asked directly, answers `text` for the scenario (within 10 s)."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "which?"}]}
    for service in REPLICAS:

        def answers(service: str = service) -> bool:
            reply = stack.inside(service, "POST", "/v1/chat/completions", body, **{"x-llmsim-scenario": scenario})
            return reply["status"] == 200 and reply["body"]["choices"][0]["message"]["content"] == text

        eventually(answers, 10, f"{service} answered {text!r}")


def test_prometheus_scrapes_both_replicas(stack: Stack) -> None:
    def both_up() -> dict[str, str]:
        targets = get_json(stack.prometheus + "/api/v1/targets")["data"]["activeTargets"]
        health = {target["labels"]["instance"]: target["health"] for target in targets}
        return health if health == {"llmsim-1:8000": "up", "llmsim-2:8000": "up"} else {}

    eventually(both_up, 30, "Prometheus scraped both replicas")
    query = urllib.parse.quote("llmsim_processes")
    result = get_json(f"{stack.prometheus}/api/v1/query?query={query}")["data"]["result"]
    assert {sample["metric"]["instance"]: sample["value"][1] for sample in result} == {
        "llmsim-1:8000": "2",
        "llmsim-2:8000": "2",
    }


def test_the_image_runs_unprivileged_and_read_only_with_a_health_check_and_stops_quickly(stack: Stack) -> None:
    name = stack.replica("llmsim-2")
    assert podman("exec", name, "id", "-u") == "10001"
    # The compose file runs it read-only, as Kubernetes does: the server needs no more.
    refused = subprocess.run(["podman", "exec", name, "touch", "/opt/llmsim/x"], capture_output=True, text=True)
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert json.loads(podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", IMAGE))["Test"]
    podman("healthcheck", "run", name)  # exits non-zero when /health does not answer
    started = time.monotonic()
    podman("stop", "--time", "30", name, timeout=60)
    # SIGTERM ends granian's workers; a server that ignored it would be killed after 30 s.
    assert time.monotonic() - started < 10
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name) != "137"
