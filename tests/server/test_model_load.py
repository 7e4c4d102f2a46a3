"""A model under load on a live server, through the official SDKs: gaps stretch with the
number running, requests past capacity wait (a later first token), past the queue each
provider's overload error with retry-after; /llmsim/stats and /metrics show who runs and waits."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors

from tests.conftest import get_json
from tests.stats.test_metrics import metrics, value

pytestmark = pytest.mark.live
LIVE_SERVERS = ("serve",)  # the admission is the pipeline's, whatever the server

BASE_MS = 25  # time to first token and between tokens, at no load
TOKENS = {"x-llmsim-tokens": "6"}
CAPACITY, QUEUE = 2, 1
LOAD_FACTOR = 3.0


@pytest.fixture(scope="module")
def loaded_models(llmsim_server, django_db_blocker):
    """Model profiles (503 and 429 for OpenAI's overload) with a capacity of 2, a queue of 1, x3 at full load."""
    from simulator.models import ModelProfile
    from simulator.state.snapshots import read_version

    alias = llmsim_server.db_alias
    suffix = uuid.uuid4().hex[:8]
    with django_db_blocker.unblock():
        rows = [
            ModelProfile.objects.using(alias).create(
                model_id=f"loaded-{status}-{suffix}",
                ttft_mean_ms=BASE_MS,
                tbt_mean_ms=BASE_MS,
                max_concurrency=CAPACITY,
                load_factor=LOAD_FACTOR,
                queue_size=QUEUE,
                overload_status=status,
            )
            for status in (503, 429)
        ]
        llmsim_server.wait_for_version(read_version(alias))
    yield {row.overload_status: row.model_id for row in rows}
    with django_db_blocker.unblock():
        for row in rows:
            row.delete(using=alias)
        llmsim_server.wait_for_version(read_version(alias))


@pytest.fixture(scope="module")
def clients(llmsim_server):
    """One client per SDK, made before the bursts (thread-safe: each burst shares them)."""
    base = llmsim_server.base_url
    with (
        openai.OpenAI(base_url=f"{base}/v1", api_key="test", max_retries=0) as openai_client,
        anthropic.Anthropic(base_url=base, api_key="test", max_retries=0) as anthropic_client,
    ):
        gemini_client = genai.Client(api_key="test", http_options={"base_url": base, "headers": TOKENS})
        yield {"openai": openai_client, "anthropic": anthropic_client, "gemini": gemini_client}


def openai_stream(client: openai.OpenAI, model: str, headers: dict[str, str] = TOKENS) -> list[float]:
    """The arrival times of a chat stream's chunks, from the request's start."""
    start = time.monotonic()
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers=headers
    )
    return [time.monotonic() - start for chunk in stream if chunk.choices and chunk.choices[0].delta.content]


def anthropic_stream(client: anthropic.Anthropic, model: str) -> list[float]:
    start = time.monotonic()
    stream = client.messages.create(
        model=model, max_tokens=100, messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers=TOKENS
    )
    return [time.monotonic() - start for event in stream if event.type == "content_block_delta"]


def gemini_stream(client: genai.Client, model: str) -> list[float]:
    start = time.monotonic()
    return [time.monotonic() - start for _ in client.models.generate_content_stream(model=model, contents="hi")]


def mean_gap_ms(times: list[float]) -> float:
    """From the first token to the last: a client thread that reads two chunks late still counts right."""
    return (times[-1] - times[0]) / (len(times) - 1) * 1000


def together(count: int, work) -> list:
    """`work()` from `count` threads at once; each result, or the exception it raised."""
    barrier = threading.Barrier(count)

    def one():
        barrier.wait()
        try:
            return work()
        except Exception as error:
            return error

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: one(), range(count)))


def test_alone_the_gaps_are_the_profiles_and_at_capacity_the_last_admitted_is_load_factor_slower(
    clients, loaded_models
):
    model = loaded_models[503]
    longer = {"x-llmsim-tokens": "12"}  # eleven gaps: a chunk read late moves the mean little
    alone = mean_gap_ms(openai_stream(clients["openai"], model, longer))
    assert BASE_MS * 0.6 < alone < BASE_MS * 1.6

    gaps = sorted(
        mean_gap_ms(times) for times in together(CAPACITY, lambda: openai_stream(clients["openai"], model, longer))
    )
    # Admitted one after the other: the first runs alone (x1), the second at full load (x3).
    assert gaps[0] < BASE_MS * 1.6
    assert BASE_MS * LOAD_FACTOR * 0.75 < gaps[-1] < BASE_MS * LOAD_FACTOR * 1.35


def check_burst(results: list, error_type: type[Exception], status: int) -> list:
    """Three times capacity at once: capacity runs, the queue waits (a later first token), the rest are refused."""
    errors = [result for result in results if isinstance(result, Exception)]
    answered = [result for result in results if not isinstance(result, Exception)]
    assert all(isinstance(error, error_type) for error in errors), errors
    assert {getattr(error, "status_code", getattr(error, "code", None)) for error in errors} == {status}
    assert len(answered) >= CAPACITY + QUEUE and len(errors) >= 2, results
    first_tokens = sorted(times[0] for times in answered)
    # The queued one started when a running one ended (six tokens later).
    assert first_tokens[-1] > first_tokens[0] + 3 * BASE_MS / 1000
    return errors


def test_past_capacity_and_queue_openai_answers_503_engine_overloaded_with_retry_after(
    llmsim_server, clients, loaded_models
):
    model = loaded_models[503]
    seen: dict = {}

    def watch():  # until the burst is in flight: two run, one waits
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and seen.get("stats") != {"running": CAPACITY, "waiting": QUEUE}:
            seen["stats"] = get_json(f"{llmsim_server.base_url}/llmsim/stats")["load"]["by_model"].get(model)
        seen["metrics"] = metrics(llmsim_server)

    watcher = threading.Thread(target=watch)
    watcher.start()
    errors = check_burst(
        together(3 * CAPACITY, lambda: openai_stream(clients["openai"], model)), openai.InternalServerError, 503
    )
    watcher.join()
    error = errors[0]
    assert error.status_code == 503
    assert error.body == {
        "message": "The engine is currently overloaded, please try again later.",
        "type": "service_unavailable_error",
        "param": None,
        "code": "server_is_overloaded",
    }
    assert int(error.response.headers["retry-after"]) >= 1
    assert error.response.headers["x-request-id"]

    assert seen["stats"] == {"running": CAPACITY, "waiting": QUEUE}
    assert value(seen["metrics"]["llmsim_model_requests_running"], "llmsim_model_requests_running", model=model) == 2
    assert value(seen["metrics"]["llmsim_model_requests_waiting"], "llmsim_model_requests_waiting", model=model) == 1
    overloads = value(
        metrics(llmsim_server)["llmsim_requests"],
        "llmsim_requests_total",
        endpoint="/v1/chat/completions",
        model=model,
        status="503",
    )
    assert overloads == len(errors)  # counted against the model
    # Once the burst is over, nothing runs or waits.
    assert model not in get_json(f"{llmsim_server.base_url}/llmsim/stats")["load"]["by_model"]


def test_a_profile_can_have_openai_answer_an_overload_with_429(clients, loaded_models):
    results = together(3 * CAPACITY, lambda: openai_stream(clients["openai"], loaded_models[429]))
    error = check_burst(results, openai.RateLimitError, 429)[0]
    assert error.status_code == 429 and error.body["type"] == "server_error"
    assert "currently overloaded" in error.body["message"]
    assert int(error.response.headers["retry-after"]) >= 1


def test_past_capacity_and_queue_anthropic_answers_529_overloaded_error(clients, loaded_models):
    results = together(3 * CAPACITY, lambda: anthropic_stream(clients["anthropic"], loaded_models[503]))
    error = check_burst(results, anthropic.OverloadedError, 529)[0]
    assert error.status_code == 529
    assert error.body["type"] == "error"
    assert error.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert error.response.headers["request-id"] == error.body["request_id"]
    assert int(error.response.headers["retry-after"]) >= 1


def test_past_capacity_and_queue_gemini_answers_503_unavailable(clients, loaded_models):
    results = together(3 * CAPACITY, lambda: gemini_stream(clients["gemini"], loaded_models[503]))
    error = check_burst(results, genai_errors.ServerError, 503)[0]
    assert error.code == 503 and error.status == "UNAVAILABLE"
    assert error.message == "The model is overloaded. Please try again later."
    assert int(error.response.headers["retry-after"]) >= 1


def test_a_client_that_leaves_the_queue_gives_up_its_place(llmsim_server, clients, loaded_models):
    model = loaded_models[503]
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: llmsim\r\nAuthorization: Bearer test\r\n"
        b"Content-Type: application/json\r\nx-llmsim-tokens: 40\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    host, port = llmsim_server.base_url.removeprefix("http://").split(":")

    def load_now() -> dict | None:
        return get_json(f"{llmsim_server.base_url}/llmsim/stats")["load"]["by_model"].get(model)

    def until(expected: dict | None) -> dict | None:
        deadline, seen = time.monotonic() + 3, None
        while time.monotonic() < deadline and (seen := load_now()) != expected:
            time.sleep(0.02)
        return seen

    sockets = [socket.create_connection((host, int(port))) for _ in range(CAPACITY + QUEUE)]
    try:
        for sock in sockets[:CAPACITY]:
            sock.sendall(request)
        assert until({"running": CAPACITY, "waiting": 0}) == {"running": CAPACITY, "waiting": 0}
        sockets[-1].sendall(request)  # while the first two run (40 tokens: about 1-3 s), it queues
        assert until({"running": CAPACITY, "waiting": QUEUE}) == {"running": CAPACITY, "waiting": QUEUE}
        sockets[-1].close()
        assert until({"running": CAPACITY, "waiting": 0}) == {"running": CAPACITY, "waiting": 0}
    finally:
        for sock in sockets:
            sock.close()
    assert until(None) is None  # the running ones, cut short, free their slots too
