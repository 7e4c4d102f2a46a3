"""Anonymisation of recorded exchanges (simulator.recording.anonymise)."""

from __future__ import annotations

import json

import pytest

from simulator.recording.anonymise import (
    DROPPED_RESPONSE_HEADERS,
    KEPT_REQUEST_HEADERS,
    SECRET_HEADERS,
    Anonymiser,
    luhn_valid,
)


def masked(text: str) -> str:
    return Anonymiser().text(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to bob@example.com today", "write to <email-1> today"),
        ("Jane.Doe+tag@mail.example.co.uk.", "<email-1>."),
        ("josé@exemple.fr", "<email-1>"),
        ("<a@b.io>", "<<email-1>>"),
    ],
)
def test_it_masks_email_addresses(text, expected):
    assert masked(text) == expected


@pytest.mark.parametrize(
    "phone",
    [
        "+14155552671",
        "+1 (415) 555-2671",
        "+44 20 7946 0958",
        "+33 6 12 34 56 78",
        "+49-30-1234567",
        "555-123-4567",
        "555.123.4567",
        "(555) 123-4567",
        "020 7946 0958",
        "06 12 34 56 78",
    ],
)
def test_it_masks_phone_numbers(phone):
    assert masked(f"call {phone} now") == "call <phone-1> now"


@pytest.mark.parametrize(
    "card",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "378282246310005",  # American Express, 15 digits
        "3782 822463 10005",
        "6011000990139424",
    ],
)
def test_it_masks_card_numbers_that_pass_luhn(card):
    assert masked(f"card: {card}.") == "card: <card-1>."


def test_a_card_number_is_not_taken_for_a_phone_number():
    anonymiser = Anonymiser()
    assert anonymiser.text("4111 1111 1111 1111") == "<card-1>"
    assert anonymiser.restore("<card-1>") == "4111 1111 1111 1111"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 192.168.1.10 to 10.0.0.1", "from <ip-1> to <ip-2>"),
        ("host=255.255.255.255;", "host=<ip-1>;"),
        ("v6 2001:db8::1 here", "v6 <ip-1> here"),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", "<ip-1>"),
        ("fe80::1ff:fe23:4567:890a%eth0", "<ip-1>%eth0"),
        ("loopback ::1.", "loopback <ip-1>."),
        ("mapped ::ffff:192.0.2.1 address", "mapped <ip-1> address"),
        ("ends with 2001:db8::1.", "ends with <ip-1>."),
    ],
)
def test_it_masks_ip_addresses(text, expected):
    assert masked(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "created 1733000000",  # a Unix timestamp
        "id 12345678901234",  # a long id, not a valid card number
        "order 4111111111111112",  # sixteen digits failing the Luhn check
        "on 2026-12-07, 07.12.2026, 12/07/2026",
        "pi is 3.14159265358979 and e 2.718281828459045",
        "version 1.2.3 and 10.15.7",
        "not an address: 256.1.1.1 or 1.2.3.4.5",
        "at 12:30:45 or 12:30",
        "mac 00:1a:2b:3c:4d:5e",
        "std::vector<int> and a :: b",
        "scores 10 20 30 40",
        "user @alice and a@b",
        "temperature -0.0123456789",
        '{"created":1733000000,"index":0,"logprob":-1.234567891}',
    ],
)
def test_it_leaves_lookalikes_alone(text):
    assert masked(text) == text


def test_one_value_gets_one_placeholder_across_calls():
    anonymiser = Anonymiser()
    first = anonymiser.text("bob@example.com, ann@example.com")
    second = anonymiser.text("ann@example.com then bob@example.com and 10.0.0.1")
    assert first == "<email-1>, <email-2>"
    assert second == "<email-2> then <email-1> and <ip-1>"


def test_a_fresh_instance_gives_the_same_text():
    request = {"messages": [{"role": "user", "content": "I am bob@example.com, +44 20 7946 0958, on 10.1.2.3"}]}
    assert Anonymiser().json(request) == Anonymiser().json(request)
    assert Anonymiser().json(request)["messages"][0]["content"] == "I am <email-1>, <phone-1>, on <ip-1>"


def test_placeholders_are_numbered_in_document_order():
    body = {"a": {"deep": ["one@example.com"]}, "b": "two@example.com", "c": ["three@example.com"]}
    assert Anonymiser().json(body) == {"a": {"deep": ["<email-1>"]}, "b": "<email-2>", "c": ["<email-3>"]}


def test_json_touches_only_string_values():
    body = {"bob@example.com": "bob@example.com", "count": 4111111111111111, "on": True, "none": None, "x": 1.5}
    assert Anonymiser().json(body) == {
        "bob@example.com": "<email-1>",
        "count": 4111111111111111,
        "on": True,
        "none": None,
        "x": 1.5,
    }


def test_json_does_not_change_its_argument():
    body = {"messages": [{"content": "bob@example.com"}]}
    Anonymiser().json(body)
    assert body == {"messages": [{"content": "bob@example.com"}]}


def test_json_walks_deep_values_without_recursion():
    depth = 5000  # far beyond Python's recursion limit and the 64 levels a body may have
    value: object = "bob@example.com"
    for level in range(depth):
        value = {"nested": value} if level % 2 else [value]
    result = Anonymiser().json(value)
    for level in reversed(range(depth)):
        result = result["nested"] if level % 2 else result[0]
    assert result == "<email-1>"


def test_json_of_a_scalar():
    anonymiser = Anonymiser()
    assert anonymiser.json("bob@example.com") == "<email-1>"
    assert anonymiser.json(42) == 42
    assert anonymiser.json(None) is None


def test_raw_sse_text_is_masked_without_breaking_its_json():
    content = "Contact:\nbob@example.com\n+44 20 7946 0958\tor 10.0.0.1"
    event = f"data: {json.dumps({'delta': {'content': content}})}\n\n"
    anonymised = Anonymiser().text(event)
    decoded = json.loads(anonymised.removeprefix("data: "))
    assert decoded["delta"]["content"] == "Contact:\n<email-1>\n<phone-1>\tor <ip-1>"


def test_headers_keep_only_the_allow_list():
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer sk-secret",
        "X-Api-Key": "sk-ant-secret",
        "api-key": "azure-secret",
        "x-goog-api-key": "AIza-secret",
        "Cookie": "session=secret",
        "Proxy-Authorization": "Basic secret",
        "Anthropic-Version": "2023-06-01",
        "User-Agent": "my-app (bob@example.com)",
        "X-Custom": "whatever",
    }
    kept = Anonymiser().headers(headers)
    assert kept == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "user-agent": "my-app (<email-1>)",
    }
    assert "secret" not in repr(kept)


def test_headers_accept_pairs():
    pairs = [("Accept", "text/event-stream"), ("authorization", "Bearer x")]
    assert Anonymiser().headers(pairs) == {"accept": "text/event-stream"}


def test_the_allow_list_holds_no_secret():
    assert not KEPT_REQUEST_HEADERS & SECRET_HEADERS


def test_response_headers_drop_cookies_secrets_and_hop_by_hop_ones():
    headers = [
        ("Content-Type", "text/event-stream"),
        ("X-Request-Id", "req_123"),
        ("Set-Cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("Connection", "keep-alive"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "123"),
        ("Content-Encoding", "gzip"),
        ("Authorization", "Bearer echoed"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("Vary", "Origin"),
        ("vary", "Accept-Encoding"),
    ]
    assert Anonymiser().response_headers(headers) == {
        "content-type": "text/event-stream",
        "x-request-id": "req_123",
        "x-forwarded-for": "<ip-1>",
        "vary": "Origin, Accept-Encoding",
    }


@pytest.mark.parametrize("name", sorted(DROPPED_RESPONSE_HEADERS | SECRET_HEADERS))
def test_each_dropped_response_header_is_dropped(name):
    assert Anonymiser().response_headers({name.upper(): "value"}) == {}


def test_query_drops_the_key_and_masks_values():
    query = {"alt": "sse", "key": "AIza-secret", "user": "bob@example.com"}
    assert Anonymiser().query(query) == {"alt": "sse", "user": "<email-1>"}
    assert Anonymiser().query([("KEY", "AIza-secret"), ("alt", "sse")]) == {"alt": "sse"}


def test_redact_patterns_mask_one_after_the_other():
    anonymiser = Anonymiser([r"ACME-\d+", r"project (?:apollo|gemini)"])
    text = anonymiser.text("ticket ACME-42 for project apollo, ACME-42 again, ACME-7 by bob@example.com")
    # The first pattern's values are numbered before the second's, wherever they stand.
    assert text == "ticket <redacted-1> for <redacted-3>, <redacted-1> again, <redacted-2> by <email-1>"


def test_a_redact_pattern_wins_over_the_default_kinds():
    anonymiser = Anonymiser([r"\S+@internal\.example"])
    assert anonymiser.text("ops@internal.example and bob@example.com") == "<redacted-1> and <email-1>"


@pytest.mark.parametrize("pattern", ["(unclosed", "[a-", "*stars"])
def test_an_invalid_redact_pattern_is_refused_by_name(pattern):
    with pytest.raises(ValueError, match=r"--redact") as raised:
        Anonymiser([pattern])
    assert repr(pattern) in str(raised.value)


def test_a_redact_pattern_matching_empty_text_is_refused():
    with pytest.raises(ValueError, match=r"matches empty text"):
        Anonymiser(["x*"])


def test_restore_puts_the_original_values_back():
    original = "bob@example.com, 4111 1111 1111 1111, +44 20 7946 0958, 10.0.0.1, 2001:db8::1, ACME-42"
    anonymiser = Anonymiser([r"ACME-\d+"])
    anonymised = anonymiser.text(original)
    assert "bob" not in anonymised and "4111" not in anonymised and "ACME" not in anonymised
    assert anonymiser.restore(anonymised) == original


def test_restore_leaves_unknown_placeholders_alone():
    anonymiser = Anonymiser()
    anonymiser.text("bob@example.com")
    assert anonymiser.restore("<email-1> <email-2> <phone-1>") == "bob@example.com <email-2> <phone-1>"


def test_placeholders_survive_a_second_pass():
    anonymiser = Anonymiser()
    once = anonymiser.text("bob@example.com 10.0.0.1 +44 20 7946 0958 4111111111111111")
    assert anonymiser.text(once) == once


@pytest.mark.parametrize(
    "text",
    ["a." * 20_000 + "@", "a@" + "b." * 20_000, "1-" * 20_000, "+1 " * 20_000, "1:" * 20_000, "4111 " * 20_000],
)
def test_long_lookalike_runs_take_linear_time(text):
    # A regular expression that backtracks badly takes minutes here, not milliseconds.
    Anonymiser().text(text)


def test_luhn():
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
