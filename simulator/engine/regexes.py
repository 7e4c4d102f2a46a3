"""Regular expressions that users write — response rules, JSON Schema `pattern`s — matched by RE2.

Python's re backtracks: `^(a+)+$` takes seconds per character of a text that nearly
matches, and the text here is whatever a client sends, so one such pattern would stall
the event loop for every stream of the process. RE2 matches in time linear in the text
whatever the pattern; what it cannot match that way (lookarounds, backreferences,
repeat counts over 1,000) it refuses to compile, so such patterns are refused when a
rule is saved instead of when a request meets them. Our own fixed patterns stay on re.
"""

from __future__ import annotations

import re2

Pattern = re2._Regexp

# Wording for what RE2 refuses most often, by the start of its own message.
_REASONS = {
    "invalid perl operator: (?=": "lookahead (?=…) is not supported",
    "invalid perl operator: (?!": "negative lookahead (?!…) is not supported",
    "invalid perl operator: (?<=": "lookbehind (?<=…) is not supported",
    "invalid perl operator: (?<!": "negative lookbehind (?<!…) is not supported",
    "invalid repetition size": "repeat counts above 1000 are not supported",
    "pattern too large": "the pattern is too large",
    "bad repetition operator": "nested or possessive repeats such as a** or a++ are not supported",
}
_SHOWN_CHARS = 80


class PatternError(ValueError):
    """A pattern RE2 cannot take; the message says why, for the admin, import and API."""


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Pattern:
    """`pattern` compiled by RE2 (Python's syntax for named groups and flags works too)."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False  # a refused pattern is the caller's to report, not stderr noise
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise PatternError(f"invalid regular expression {_shown(pattern)}: {_reason(exc)}") from None


def _reason(exc: re2.error) -> str:
    detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
    if detail.startswith("invalid escape sequence: \\") and detail[-1:].isdigit():
        reason = "backreferences such as \\1 are not supported"
    else:
        reason = next((text for start, text in _REASONS.items() if detail.startswith(start)), detail)
    return (
        f"{reason} (patterns are matched by RE2, in time linear in the text: https://github.com/google/re2/wiki/Syntax)"
    )


def _shown(pattern: str) -> str:
    return repr(pattern if len(pattern) <= _SHOWN_CHARS else pattern[:_SHOWN_CHARS] + "…")
