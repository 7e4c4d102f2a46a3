"""Anonymisation of recorded exchanges, before anything touches the disk.

Credentials are never kept (secret headers, the `key` query parameter); e-mail
addresses, phone numbers, card numbers and IP addresses are masked by default, and
`--redact REGEX` adds patterns. One `Anonymiser` serves one exchange (its request and
its response), so one value gets one placeholder (`<email-1>`, `<phone-2>`, ...),
numbered by first occurrence (kind by kind, and `--redact` patterns one after the other
in the order given): the same request anonymised again by a fresh instance
gives the same text, which is what lets a replay match it.

Recorded streams are anonymised as raw text (SSE events holding JSON), so every pattern
treats a JSON escape before a value (`\\n`, `\\t`, ...) as a boundary rather than as part
of the value, and never starts inside one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

KEPT_REQUEST_HEADERS = frozenset(
    {
        "content-type",
        "accept",
        "anthropic-version",
        "anthropic-beta",
        "openai-beta",
        "openai-organization",
        "openai-project",
        "user-agent",
        "x-stainless-lang",
        "x-stainless-package-version",
        "x-goog-api-client",
    }
)
SECRET_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie", "proxy-authorization"}
)
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "set-cookie",
        # hop-by-hop: they describe the upstream connection, not the answer
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        # the recorded body is decoded text, so its upstream length and encoding no longer apply
        "content-length",
        "content-encoding",
    }
)
SECRET_QUERY_PARAMETERS = frozenset({"key"})
PLACEHOLDER_KINDS = ("email", "phone", "card", "ip", "redacted")


def _starts_after(excluded: str) -> str:
    """A left boundary: not after one of `excluded`, except right after a JSON escape, and never inside one."""
    return rf"(?:(?<![{excluded}])|(?<=\\[nrtbf]))(?<!\\)"


EMAIL = re.compile(_starts_after(r"\w.%+\-") + r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[^\W\d_]{2,}")
# Thirteen to nineteen digits, together or in groups with one kind of separator; Luhn decides.
CARD = re.compile(
    _starts_after(r"\w.") + r"(?:\d{13,19}|\d{4}(?P<separator>[ \-])\d{2,6}(?:(?P=separator)\d{1,6}){1,3})(?!\w|\.\d)"
)
# A candidate made of hex digits and colons (maybe ending in dotted IPv4); ipaddress decides,
# which keeps times (12:30:45) and MAC addresses out.
IPV6 = re.compile(
    _starts_after(r"\w:") + r"(?=[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}(?:(?<=:)\d{1,3}(?:\.\d{1,3}){3})?(?![\w:]|\.\d)"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(_starts_after(r"\w.") + rf"{_OCTET}(?:\.{_OCTET}){{3}}(?!\.?\d)")
PHONE = re.compile(
    _starts_after(r"\w+.")
    + r"(?:"
    + r"\+\d{1,3}(?:[ .\-]?(?:\(\d{1,5}\)|\d{1,5})){1,6}"  # international: +44 20 7946 0958, +14155552671
    + r"|\(\d{2,5}\)[ .\-]?\d{3,4}[ .\-]?\d{3,4}"  # (555) 123-4567
    + r"|\d{2,5}(?P<separator>[ .\-])\d{2,4}(?:(?P=separator)\d{2,4}){1,3}"  # 555-123-4567, 020 7946 0958
    + r")(?!\w|\.\d)"
)
DATE = re.compile(r"\d{4}([ ./\-])\d{1,2}\1\d{1,2}|\d{1,2}([ ./\-])\d{1,2}\2\d{4}")
PLACEHOLDER = re.compile(rf"<(?:{'|'.join(PLACEHOLDER_KINDS)})-\d+>")


def luhn_valid(digits: str) -> bool:
    """The check digit of card numbers: it catches most numbers that only look like one."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_card(found: str) -> bool:
    digits = re.sub(r"\D", "", found)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_ipv6(found: str) -> bool:
    if not re.search(r"[0-9A-Fa-f]", found):
        return False  # "::" alone is more often C++ or prose than an address
    try:
        ipaddress.IPv6Address(found)
    except ValueError:
        return False
    return True


def _is_phone(found: str) -> bool:
    digits = re.sub(r"\D", "", found)
    if not 8 <= len(digits) <= 15:
        return False
    if found[0] in "+(":
        return True
    if DATE.fullmatch(found):
        return False
    groups = re.split(r"[ .\-]", found)
    # "10 20 30 40" is a list of numbers; "06 12 34 56 78" is a (French) phone number.
    return any(len(group) > 2 for group in groups) or found.startswith("0")


class Anonymiser:
    """Masks one exchange's sensitive values with consistent placeholders."""

    def __init__(self, extra_patterns: Sequence[str] = ()) -> None:
        self.extra_patterns = [_compile_redaction(pattern) for pattern in extra_patterns]
        self._placeholders: dict[str, dict[str, str]] = {kind: {} for kind in PLACEHOLDER_KINDS}
        self._originals: dict[str, str] = {}
        self._steps: list[tuple[re.Pattern[str], str, Callable[[str], bool]]] = [
            *((pattern, "redacted", _any_text) for pattern in self.extra_patterns),
            (EMAIL, "email", _any_text),
            (CARD, "card", _is_card),
            (IPV6, "ip", _is_ipv6),
            (IPV4, "ip", _any_text),
            (PHONE, "phone", _is_phone),
        ]

    def text(self, text: str) -> str:
        """The text with every sensitive value replaced by its placeholder."""
        for pattern, kind, accept in self._steps:
            text = pattern.sub(lambda found, kind=kind, accept=accept: self._mask(found, kind, accept), text)
        return text

    def json(self, value: Any) -> Any:
        """A copy of a JSON value with its strings anonymised; keys, numbers and booleans untouched.

        Walks with an explicit stack (no recursion, whatever the depth), in document order so
        placeholders are numbered as they appear in the JSON text.
        """
        if not isinstance(value, (dict, list)):
            return self.text(value) if isinstance(value, str) else value
        root = _empty_like(value)
        stack = [(_items(value), root)]
        while stack:
            items, target = stack[-1]
            for key, item in items:
                if isinstance(item, (dict, list)):
                    child = _empty_like(item)
                    _put(target, key, child)
                    stack.append((_items(item), child))
                    break
                _put(target, key, self.text(item) if isinstance(item, str) else item)
            else:
                stack.pop()
        return root

    def headers(self, mapping: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """The request headers worth keeping (the allow-list), lower-cased names, anonymised values."""
        return {
            name: self.text(value)
            for name, value in _lower_pairs(mapping).items()
            if name in KEPT_REQUEST_HEADERS and name not in SECRET_HEADERS
        }

    def response_headers(self, mapping: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """The response headers without cookies, secrets and hop-by-hop ones; lower-cased names, anonymised values."""
        return {
            name: self.text(value)
            for name, value in _lower_pairs(mapping).items()
            if name not in DROPPED_RESPONSE_HEADERS and name not in SECRET_HEADERS
        }

    def query(self, mapping: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
        """The query parameters without the `key` credential, values anonymised."""
        pairs = mapping.items() if isinstance(mapping, Mapping) else mapping
        return {
            str(name): self.text(str(value))
            for name, value in pairs
            if str(name).lower() not in SECRET_QUERY_PARAMETERS
        }

    def restore(self, text: str) -> str:
        """The text with the placeholders this instance handed out replaced by their original values."""
        return PLACEHOLDER.sub(lambda found: self._originals.get(found.group(0), found.group(0)), text)

    def _mask(self, found: re.Match[str], kind: str, accept: Callable[[str], bool]) -> str:
        value = found.group(0)
        if not value or not accept(value):
            return value
        seen = self._placeholders[kind]
        if value not in seen:
            placeholder = f"<{kind}-{len(seen) + 1}>"
            seen[value] = placeholder
            self._originals[placeholder] = value
        return seen[value]


def _compile_redaction(pattern: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"--redact {pattern!r} is not a valid regular expression: {exc}") from None
    if compiled.fullmatch(""):
        # It would put a placeholder between every two characters.
        raise ValueError(f"--redact {pattern!r} matches empty text; give a pattern that needs at least one character")
    return compiled


def _any_text(found: str) -> bool:
    return True


def _lower_pairs(mapping: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Names lower-cased; a name given twice keeps its values joined, as HTTP reads them."""
    pairs = mapping.items() if isinstance(mapping, Mapping) else mapping
    merged: dict[str, str] = {}
    for name, value in pairs:
        name = str(name).lower()
        merged[name] = f"{merged[name]}, {value}" if name in merged else str(value)
    return merged


def _empty_like(container: dict | list) -> dict | list:
    return {} if isinstance(container, dict) else []


def _items(container: dict | list) -> Iterable[tuple[Any, Any]]:
    return iter(container.items()) if isinstance(container, dict) else ((None, item) for item in container)


def _put(target: dict | list, key: Any, value: Any) -> None:
    if isinstance(target, dict):
        target[key] = value
    else:
        target.append(value)
