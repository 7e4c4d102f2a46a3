"""The external services of the scale-out mode (Redis, PostgreSQL) for tests that need them.

Their URLs come from LLMSIM_TEST_REDIS_URL and LLMSIM_TEST_DATABASE_URL. Where one is
unset or does not answer, its tests skip with the reason — unless
LLMSIM_REQUIRE_SERVICES=1 (as `.ci/run` sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import pytest


def _required() -> bool:
    return os.environ.get("LLMSIM_REQUIRE_SERVICES", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _required():
        pytest.fail(f"{reason} (LLMSIM_REQUIRE_SERVICES is set, so this test must run)")
    pytest.skip(reason)


def _answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def redis_url() -> str:
    """The test Redis URL, or skip (fail under LLMSIM_REQUIRE_SERVICES) when there is none."""
    url = os.environ.get("LLMSIM_TEST_REDIS_URL", "")
    if not url:
        _unavailable("LLMSIM_TEST_REDIS_URL is not set: no Redis to test the scale-out mode against")
    if not _answers(url, 6379):
        _unavailable(f"Redis at {url} does not answer")
    return url


def postgres_url() -> str:
    """The test PostgreSQL URL, or skip (fail under LLMSIM_REQUIRE_SERVICES) when there is none."""
    url = os.environ.get("LLMSIM_TEST_DATABASE_URL", "")
    if not url:
        _unavailable("LLMSIM_TEST_DATABASE_URL is not set: no PostgreSQL to test the scale-out mode against")
    if not _answers(url, 5432):
        _unavailable(f"PostgreSQL at {url} does not answer")
    return url


def unique_prefix() -> str:
    """A key prefix of this test run, so that runs sharing one Redis cannot see each other's state."""
    return f"llmsim-test-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on the test server, dropped afterwards
    (skips, or fails under LLMSIM_REQUIRE_SERVICES, when there is no server)."""
    import psycopg

    base = urlparse(postgres_url())
    name = f"llmsim_test_{uuid.uuid4().hex[:10]}"
    admin_url = urlunparse(base._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(base._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def container_tools() -> None:
    """Rootful podman, podman-compose and the base images of scripts/container-base, or
    skip (fail under LLMSIM_REQUIRE_SERVICES) with what is missing."""
    missing = [tool for tool in ("podman", "podman-compose") if shutil.which(tool) is None]
    if missing:
        _unavailable(f"{' and '.join(missing)} not installed: run scripts/container-base (as root)")
    if os.geteuid() != 0:
        _unavailable("the compose stack runs on rootful podman: run the tests as root")
    absent = [image for image in CONTAINER_BASE_IMAGES if not _podman_has(image)]
    if absent:
        _unavailable(f"no local image {', '.join(absent)}: run scripts/container-base")


# What scripts/container-base builds: the names in Dockerfile and docker-compose.yml.
CONTAINER_BASE_IMAGES = (
    "docker.io/library/debian:bookworm-slim",
    "docker.io/library/postgres:15-bookworm",
    "docker.io/library/redis:7-bookworm",
    "docker.io/library/haproxy:2.6-bookworm",
    "docker.io/prom/prometheus:v2.42.0",
)


def _podman_has(image: str) -> bool:
    return subprocess.run(["podman", "image", "exists", image], check=False).returncode == 0
