"""Which rule answers a request: a rule's matchers, compiled once, and a scenario's RuleSet.

A rule has matchers (all that are set must hold) and steps (rules.actions). Its Match is
compiled once, when the rule is made: regular expressions (RE2), casefolded texts, the
header's glob. `RuleSet.first_match()` then tries the rules in play for the request's
model, by priority, and returns the first whose matchers all hold.

Matchers read a message's first RULE_TEXT_CHARS characters: with linear-time (RE2)
matching and this bound, ten regex rules cost the event loop a bounded time even on a
10 MiB body.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple, Protocol

from simulator.engine.regexes import PatternError, compile_pattern
from simulator.engine.rules.actions import Action, RuleError
from simulator.engine.types import MEMO_NAME_CHARS, CompletionRequest

RULE_TEXT_CHARS = 65_536
SYSTEM_ROLES = ("system", "developer")
TOOL_RESULT_ROLES = ("tool", "function")

# Whether a message's text (its first RULE_TEXT_CHARS characters) passes a text matcher.
TextTest = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Match:
    """What a request must look like; unset matchers match anything."""

    model: str = ""  # exact name or glob (gpt-4*)
    last_user: str = ""  # the last user message contains this (or matches it, with regex)
    any_message: str = ""  # some message contains this (or matches it, with regex)
    system: str = ""  # the system/developer prompt contains this (plain text, even with regex)
    regex: bool = False  # last_user / any_message are regular expressions
    ignore_case: bool = True
    tools_present: bool | None = None
    tool_offered: str = ""  # a tool of this name is offered
    last_is_tool_result: bool | None = None
    header: str = ""  # "name: value" (value may be a glob); "name" alone: present
    api_key: str = ""


class Facts(Protocol):
    """What matchers read beyond the neutral request: its headers (lower-case names) and the caller's key.

    A RequestFacts, or the server's Call as it is (it has both): no object to build per request.
    """

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def api_key(self) -> str | None: ...


class RequestFacts(NamedTuple):
    """Facts as values: for sequences (whose keys need them) and tests."""

    headers: Mapping[str, str] = MappingProxyType({})
    api_key: str = ""


# Whether one matcher holds for a request.
Check = Callable[[CompletionRequest, Facts], bool]


def check_regex(text: str) -> None:
    """RuleError when `text` is not a regular expression rules can use (RE2's syntax)."""
    text_test(text, regex=True, ignore_case=False)


def text_test(text: str, *, regex: bool, ignore_case: bool) -> TextTest:
    """The test of a text matcher: contains `text`, or matches it with `regex`.

    Plain texts are found with `in` (on casefolded text when case does not count), which
    costs a fraction of a regular expression's search.
    """
    if regex:
        try:
            search = compile_pattern(text, ignore_case=ignore_case).search
        except PatternError as exc:
            raise RuleError(str(exc)) from None
        # RE2 searches UTF-8: given a str, the binding also maps the match's byte offsets
        # back to characters, which a yes or no does not need.
        return lambda content: search(content.encode()) is not None
    if ignore_case:
        needle = text.casefold()
        return lambda content: needle in content.casefold()
    return lambda content: text in content


def last_user_text(request: CompletionRequest) -> str:
    """The text of the last user message ("" when there is none), as matchers read it."""
    for message in reversed(request.messages):
        if message.role == "user":
            return message.content[:RULE_TEXT_CHARS]
    return ""


# --- one check per matcher -----------------------------------------------------------------


def tools_present_check(wanted: bool) -> Check:
    """tools_present: whether the request offers tools at all."""
    return lambda request, facts: bool(request.tools) == wanted


def tool_offered_check(name: str) -> Check:
    """tool_offered: a tool of this name is offered."""
    return lambda request, facts: bool(request.tools) and name in [tool.name for tool in request.tools]


def last_is_tool_result_check(wanted: bool) -> Check:
    """last_is_tool_result: whether the last message is a tool's result."""
    return lambda request, facts: (bool(request.messages) and request.messages[-1].role in TOOL_RESULT_ROLES) == wanted


def api_key_check(key: str) -> Check:
    """api_key: the caller's key is this one."""
    return lambda request, facts: facts.api_key == key


def header_check(header: str) -> Check:
    """header: "name: value" (value may be a glob) was sent; "name" alone: was sent, with any value."""
    name, _, value = header.partition(":")
    name = name.strip().lower()
    if not value.strip():
        return lambda request, facts: name in facts.headers
    glob = re.compile(fnmatch.translate(value.strip())).match
    return lambda request, facts: (sent := facts.headers.get(name)) is not None and glob(sent) is not None


def last_user_check(test: TextTest) -> Check:
    """last_user: the last user message passes the text test."""
    return lambda request, facts: test(last_user_text(request))


def some_message_check(test: TextTest, roles: tuple[str, ...] = ()) -> Check:
    """any_message, and system (with `roles` SYSTEM_ROLES): some message (of those roles) passes the text test."""

    def check(request: CompletionRequest, facts: Facts) -> bool:
        for message in request.messages:
            if (not roles or message.role in roles) and test(message.content[:RULE_TEXT_CHARS]):
                return True
        return False

    return check


def checks_of(match: Match) -> tuple[Check, ...]:
    """A check per matcher that is set, but the model's, the cheapest first."""
    checks: list[Check] = []
    if match.tools_present is not None:
        checks.append(tools_present_check(match.tools_present))
    if match.tool_offered:
        checks.append(tool_offered_check(match.tool_offered))
    if match.last_is_tool_result is not None:
        checks.append(last_is_tool_result_check(match.last_is_tool_result))
    if match.api_key:
        checks.append(api_key_check(match.api_key))
    if match.header:
        checks.append(header_check(match.header))
    regex, ignore_case = match.regex, match.ignore_case
    if match.last_user:
        checks.append(last_user_check(text_test(match.last_user, regex=regex, ignore_case=ignore_case)))
    if match.any_message:
        checks.append(some_message_check(text_test(match.any_message, regex=regex, ignore_case=ignore_case)))
    if match.system:  # plain text, even in a regex rule
        checks.append(some_message_check(text_test(match.system, regex=False, ignore_case=ignore_case), SYSTEM_ROLES))
    return tuple(checks)


def all_of(checks: tuple[Check, ...]) -> Check:
    """A check that holds when each of `checks` does (the one check itself, when there is one)."""
    if len(checks) == 1:
        return checks[0]

    def all_hold(request: CompletionRequest, facts: Facts) -> bool:
        return all(check(request, facts) for check in checks)

    return all_hold


@dataclass(frozen=True, slots=True)
class Rule:
    """A response rule: when it answers (match) and with what (steps)."""

    name: str
    match: Match
    steps: tuple[Action, ...]  # one step: the same action every time
    priority: int = 100  # lower first
    scope: str = "conversation"
    when_exhausted: str = "repeat_last"
    id: int = 0  # the database id (sequence positions are kept per rule)
    # Every matcher but the model's, made from `match` when the rule is made (a regular
    # expression RE2 refuses is a RuleError here). RuleSet decides the model matcher apart,
    # once per model name: load tests send few.
    fits_request: Check = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fits_request", all_of(checks_of(self.match)))

    def fits_model(self, model: str) -> bool:
        """Whether a model name fits the model matcher (exact or glob, any case)."""
        return not self.match.model or fnmatch.fnmatchcase(model.lower(), self.match.model.lower())

    def matches(self, request: CompletionRequest, facts: Facts) -> bool:
        """Whether every matcher holds, the model's included."""
        return self.fits_model(request.model) and self.fits_request(request, facts)


class RuleSet(tuple):
    """A scenario's rules, by priority, and which of them each model name leaves in play.

    A tuple (so it compares, hashes and iterates as one) that remembers, per model name,
    the rules whose model matcher holds. The memo is bounded: a load test could send
    endless model names.
    """

    MEMO_LIMIT = 1024

    def __new__(cls, rules: Sequence[Rule] = ()) -> RuleSet:
        return super().__new__(cls, rules)

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        self.in_play_by_model: dict[str, tuple[Rule, ...]] = {}

    def in_play(self, model: str) -> tuple[Rule, ...]:
        """The rules whose model matcher holds for this model name, worked out once per name."""
        found = self.in_play_by_model.get(model)
        if found is None:
            found = tuple(rule for rule in self if rule.fits_model(model))
            if len(model) > MEMO_NAME_CHARS:
                return found  # not kept: a megabyte-long model name must not stay in memory
            if len(self.in_play_by_model) >= self.MEMO_LIMIT:
                self.in_play_by_model.clear()
            self.in_play_by_model[model] = found
        return found

    def first_match(self, request: CompletionRequest, facts: Facts) -> Rule | None:
        """The first rule whose matchers all hold."""
        for rule in self.in_play(request.model):
            if rule.fits_request(request, facts):
                return rule
        return None


NO_RULES = RuleSet()


def describe(match: Match) -> str:
    """A one-line account of what a rule matches (the admin's preview)."""
    parts = []
    how = "matches" if match.regex else "contains"
    case = "" if match.ignore_case else " (case-sensitive)"
    if match.model:
        parts.append(f"model is {match.model}")
    if match.last_user:
        parts.append(f"last user message {how} {match.last_user!r}{case}")
    if match.any_message:
        parts.append(f"a message {how} {match.any_message!r}{case}")
    if match.system:
        parts.append(f"system prompt contains {match.system!r}")
    if match.tools_present is not None:
        parts.append("tools are offered" if match.tools_present else "no tools are offered")
    if match.tool_offered:
        parts.append(f"tool {match.tool_offered!r} is offered")
    if match.last_is_tool_result is not None:
        negation = "" if match.last_is_tool_result else "not "
        parts.append(f"the last message is {negation}a tool result")
    if match.header:
        parts.append(f"header {match.header}")
    if match.api_key:
        parts.append("a specific API key")
    return "Every request" if not parts else "Requests where " + " and ".join(parts)
