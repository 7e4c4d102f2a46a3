"""Structured logs: every line logged for a request carries its id; JSON lines on request."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request

import pytest

from llmsim_project.logging import JsonFormatter, RequestIdFilter, request_id
from tests.conftest import INSTANT, post, start_server, stop_server


def record(message: str = "hello %s", args: tuple = ("world",), **extra) -> logging.LogRecord:
    log_record = logging.LogRecord("llmsim.test", logging.WARNING, __file__, 1, message, args, None)
    log_record.__dict__.update(extra)
    return log_record


def test_the_filter_adds_the_current_request_id():
    token = request_id.set("req_abc")
    try:
        log_record = record()
        assert RequestIdFilter().filter(log_record)
        assert log_record.request_id == "req_abc"
    finally:
        request_id.reset(token)
    outside = record()
    RequestIdFilter().filter(outside)
    assert outside.request_id == "-"


def test_json_lines_hold_the_message_the_id_and_the_fields():
    log_record = record(request_id="req_1", fields={"status": 200, "model": "gpt-4o"})
    line = json.loads(JsonFormatter().format(log_record))
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING"
    assert line["logger"] == "llmsim.test"
    assert line["request_id"] == "req_1"
    assert line["status"] == 200 and line["model"] == "gpt-4o"
    assert line["time"].endswith("+00:00")


@pytest.mark.live
def test_a_live_server_writes_json_lines_with_the_request_id(tmp_path):
    server = start_server(tmp_path, "serve", {"LLMSIM_LOG_FORMAT": "json", "LLMSIM_LOG_REQUESTS": "true"})
    try:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
        status, headers, _ = post(server, "/v1/chat/completions", body, INSTANT)
        assert status == 200
        provider_id = headers["x-request-id"]
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{server.base_url}/no-such-page/", timeout=5)
        django_id = missing.value.headers["X-Request-ID"]
        assert django_id.startswith("req_")

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
            by_id = {line["request_id"]: line for line in lines}
            if provider_id in by_id and django_id in by_id:
                break
            time.sleep(0.1)
        answered = by_id[provider_id]
        assert answered["path"] == "/v1/chat/completions"
        assert answered["status"] == 200
        assert answered["model"] == "gpt-4o"
        assert answered["completion_tokens"] > 0
        assert "Not Found" in by_id[django_id]["message"]
    finally:
        stop_server(server)
