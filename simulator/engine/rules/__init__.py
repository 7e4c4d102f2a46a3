"""Response rules: scripted answers for requests that match, played alone or in sequence.

A rule has matchers (all that are set must hold) and an action. `parse_action()` turns
the action's plain data (from the admin, YAML or the management API) into an `Action`
and refuses unknown fields with a message naming the path; `first_match()` picks the
first enabled rule, by priority, that matches a request; `Sequences` remembers how far
each conversation (or API key) got through a rule's steps.

    text: "Hello"                                   # fixed text, streamed on the latency schedule
    content: "Hello"                                # the seed's name for text
    tool_calls: [{name: get_weather, arguments: {city: Paris}}]
    json: {"answer": 42}                            # content is this JSON
    error: {status: 429, message: "...", type: rate_limit_error, retry_after_ms: 1000}
    latency: {ttft_ms: 50, tbt_ms: 5}               # alone, or next to one of the others
    fault: {kind: disconnect | error | stall, after_tokens: 5, stall_ms: 2000, status: 500, message: "..."}
    generate: true                                  # answer as the model normally would
    sequence: [{error: {status: 429}, times: 2}, {generate: true}]
    scope: conversation | api_key | global          # whose position in the sequence (default conversation)
    when_exhausted: repeat_last | loop | error      # after the last step (default repeat_last)
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from simulator.engine.regexes import Pattern, PatternError, compile_pattern
from simulator.engine.types import MEMO_NAME_CHARS, CompletionRequest, StreamFault


class RuleError(ValueError):
    """A rule that cannot be used; the message names the field."""


ACTION_KINDS = ("text", "tool_calls", "json", "error", "generate")
FAULT_KINDS = ("disconnect", "error", "stall")
SCOPES = ("conversation", "api_key", "global")
WHEN_EXHAUSTED = ("repeat_last", "loop", "error")
# How much of each message a text matcher reads: with linear-time (RE2) matching and
# this bound, ten regex rules cost the event loop a bounded time even on a 10 MiB body.
RULE_TEXT_CHARS = 65_536
# Error statuses a rule may answer with (the providers' own).
ERROR_STATUSES = frozenset({400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    name: str
    arguments: dict[str, Any] | None = None  # None: generated from the offered tool's schema


@dataclass(frozen=True, slots=True)
class ScriptedError:
    status: int
    message: str | None = None  # None: the provider's usual message for the status
    error_type: str | None = None  # the provider's error type, e.g. rate_limit_error; None: usual for the status
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One scripted answer. `kind` says what replaces the generated answer; latency and fault add to it."""

    kind: str = "generate"  # text | tool_calls | json | error | generate
    text: str = ""
    tool_calls: tuple[ScriptedToolCall, ...] = ()
    json: Any = None
    error: ScriptedError | None = None
    ttft_ms: float | None = None
    tbt_ms: float | None = None
    fault: StreamFault | None = None
    times: int = 1  # in a sequence: how many requests in a row get this step


@dataclass(frozen=True, slots=True)
class Match:
    """What a request must look like; unset matchers match anything."""

    model: str = ""  # exact name or glob (gpt-4*)
    last_user: str = ""  # the last user message contains this (or matches it, with regex)
    any_message: str = ""  # some message contains this (or matches it, with regex)
    system: str = ""  # the system/developer prompt contains this
    regex: bool = False  # last_user / any_message are regular expressions
    ignore_case: bool = True
    tools_present: bool | None = None
    tool_offered: str = ""  # a tool of this name is offered
    last_is_tool_result: bool | None = None
    header: str = ""  # "name: value" (value may be a glob); "name" alone: present
    api_key: str = ""

    def patterns(self) -> tuple[Pattern | None, Pattern | None]:
        return _compiled(self.last_user, self.regex, self.ignore_case), _compiled(
            self.any_message, self.regex, self.ignore_case
        )


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    match: Match
    steps: tuple[Action, ...]  # one step: the same action every time
    priority: int = 100  # lower first
    scope: str = "conversation"
    when_exhausted: str = "repeat_last"
    id: int = 0  # the database id (sequence positions are kept per rule)
    # The matchers split in two, so that ten rules stay cheap on the request path: the
    # model matcher (a glob) is decided once per model name by RuleSet; the others are
    # conditions (Python expressions over r, f, u with their values) that RuleSet
    # compiles, for the rules in play, into one function.
    _fits_model: Callable[[str], bool] = field(default=None, repr=False, compare=False)
    _conditions: Conditions = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fits_model", _model_check_of(self.match))
        object.__setattr__(self, "_conditions", _conditions_of(self.match))


class RequestFacts(NamedTuple):
    """What matchers look at beyond the neutral request: headers and the caller's key.

    Finders read only these two attributes, so the server hands them its Call (which
    has both) rather than building one of these per request; sequences take a RequestFacts.
    """

    headers: Mapping[str, str] = MappingProxyType({})
    api_key: str = ""


# --- matching ------------------------------------------------------------------------


def _compiled(text: str, regex: bool, ignore_case: bool) -> Pattern | None:
    if not text:
        return None
    try:
        return compile_pattern(text if regex else re.escape(text), ignore_case=ignore_case)
    except PatternError as exc:
        raise RuleError(str(exc)) from None


def check_regex(text: str) -> None:
    """RuleError when `text` is not a regular expression rules can use (RE2's syntax)."""
    _compiled(text, True, False)


def _model_check_of(m: Match) -> Callable[[str], bool]:
    """Whether a model name fits the rule's model matcher (exact or glob, any case).

    A glob costs a regular expression's match: load tests send few model names, so
    RuleSet decides it once per name.
    """
    if not m.model:
        return lambda model: True
    pattern = m.model.lower()
    return lambda model: fnmatch.fnmatchcase(model.lower(), pattern)


# A rule's other matchers, as Python source that RuleSet compiles into one function
# for the rules in play: expressions over r (the request), f (RequestFacts), u (the last
# user message) and uf (u casefolded), and tests of one message m that hold when some
# message passes them; message text is read up to LIMIT (RULE_TEXT_CHARS) characters.
# Names are local to the rule ("{p}" is replaced by a prefix per rule); the matcher's
# own text only ever travels as a value, never as source.
class Conditions(NamedTuple):
    expressions: tuple[str, ...]
    message_tests: tuple[str, ...]  # each: some message m of the request passes it
    values: dict[str, Any]
    reads: frozenset[str]  # of "u" and "uf": what the finder must work out first


def _conditions_of(m: Match) -> Conditions:
    """The conditions of every matcher but the model's, the cheapest first."""
    expressions: list[str] = []
    message_tests: list[str] = []
    values: dict[str, Any] = {}
    reads: set[str] = set()
    if m.tools_present is not None:
        expressions.append("r.tools" if m.tools_present else "not r.tools")
    if m.tool_offered:
        expressions.append("r.tools and {p}tool in [t.name for t in r.tools]")
        values["tool"] = m.tool_offered
    if m.last_is_tool_result is not None:
        last_is_tool = "r.messages and r.messages[-1].role in ('tool', 'function')"
        expressions.append(last_is_tool if m.last_is_tool_result else f"not ({last_is_tool})")
    if m.api_key:
        expressions.append("f.api_key == {p}key")
        values["key"] = m.api_key
    if m.header:
        name, _, value = m.header.partition(":")
        values["header"] = name.strip().lower()
        if value.strip():
            expressions.append("({p}sent := f.headers.get({p}header)) is not None and {p}glob({p}sent) is not None")
            values["glob"] = re.compile(fnmatch.translate(value.strip())).match
        else:
            expressions.append("{p}header in f.headers")
    # Plain texts are found with `in` (on casefolded text when case does not count), which
    # costs a fraction of a regular expression's search; regexes keep their search.
    fold = ".casefold()" if m.ignore_case else ""
    if m.regex:
        last_user, any_message = m.patterns()
        if last_user is not None:
            expressions.append("{p}last(u) is not None")
            values["last"] = last_user.search
            reads.add("u")
        if any_message is not None:
            message_tests.append("{p}any(m.content[:LIMIT]) is not None")
            values["any"] = any_message.search
    else:
        if m.last_user:
            expressions.append("{p}text in uf" if m.ignore_case else "{p}text in u")
            values["text"] = m.last_user.casefold() if m.ignore_case else m.last_user
            reads.update(("u", "uf") if m.ignore_case else ("u",))
        if m.any_message:
            message_tests.append(f"{{p}}words in m.content[:LIMIT]{fold}")
            values["words"] = m.any_message.casefold() if m.ignore_case else m.any_message
    if m.system:
        message_tests.append(f"m.role in ('system', 'developer') and {{p}}needle in m.content[:LIMIT]{fold}")
        values["needle"] = m.system.casefold() if m.ignore_case else m.system
    return Conditions(tuple(expressions), tuple(message_tests), values, frozenset(reads))


Finder = Callable[[CompletionRequest, RequestFacts], "Rule | None"]


def _compile_finder(rules: Sequence[Rule]) -> Finder:
    """One function returning the first of `rules` whose conditions hold (their model matchers
    are known to hold): one call per request instead of one per rule, and the loops over
    the messages written out in it rather than called."""
    names: dict[str, Any] = {"LIMIT": RULE_TEXT_CHARS}
    lines = ["def find(r, f):"]
    reads = frozenset().union(*(rule._conditions.reads for rule in rules))
    if "u" in reads:
        lines += [  # the last user message: usually the last message, read without a loop
            "    u = ''",
            "    if r.messages and (m := r.messages[-1]).role == 'user':",
            "        u = m.content[:LIMIT]",
            "    else:",
            "        for m in reversed(r.messages):",
            "            if m.role == 'user':",
            "                u = m.content[:LIMIT]",
            "                break",
        ]
        if "uf" in reads:
            lines.append("    uf = u.casefold()")
    for index, rule in enumerate(rules):
        prefix = f"r{index}_"
        expressions, message_tests, values, _reads = rule._conditions
        names[f"{prefix}rule"] = rule
        names.update({prefix + key: value for key, value in values.items()})
        test = " and ".join(f"({e.replace('{p}', prefix)})" for e in expressions)
        tests = [t.replace("{p}", prefix) for t in message_tests]
        if not expressions and not tests:
            lines.append(f"    return {prefix}rule")
            break
        if not tests:
            lines += [f"    if {test}:", f"        return {prefix}rule"]
        elif len(tests) == 1:  # the usual case: return from inside the loop
            indent = "    "
            if test:
                lines.append(f"    if {test}:")
                indent += "    "
            lines += [
                f"{indent}for m in r.messages:",
                f"{indent}    if {tests[0]}:",
                f"{indent}        return {prefix}rule",
            ]
        else:  # several loops: each must find its message, or the rule is out (break)
            lines += ["    while True:", f"        if not ({test or 'True'}):", "            break"]
            for message_test in tests:
                lines += [
                    "        for m in r.messages:",
                    f"            if {message_test}:",
                    "                break",
                    "        else:",
                    "            break",
                ]
            lines.append(f"        return {prefix}rule")
    else:
        lines.append("    return None")
    # Our own source: a matcher's text is only ever a value bound by name, never code.
    exec(compile("\n".join(lines), "<rule set>", "exec"), names)
    return names["find"]


def matches(rule: Rule, request: CompletionRequest, facts: RequestFacts) -> bool:
    return rule._fits_model(request.model) and _compile_finder((rule,))(request, facts) is rule


class RuleSet(tuple):
    """A scenario's rules, by priority, and which of them each model name leaves in play.

    A tuple (so it compares, hashes and iterates as one) that remembers, per model name,
    the compiled check of the rules whose model matcher holds. The memo is bounded: a
    load test could send endless model names.
    """

    MEMO_LIMIT = 1024

    def __new__(cls, rules: Sequence[Rule] = ()) -> RuleSet:
        return super().__new__(cls, rules)

    def __init__(self, rules: Sequence[Rule] = ()) -> None:
        # Per model name, the compiled check of the rules in play: public, so that the
        # request path (simulation.scripted_action) looks it up in place:
        # `finders.get(model) or finder(model)`.
        self.finders: dict[str, Finder] = {}

    def finder(self, model: str) -> Finder:
        """The compiled check of the rules in play for this model name, made once and kept."""
        found = self.finders.get(model)
        if found is None:
            found = _compile_finder(self.in_play(model))
            if len(model) > MEMO_NAME_CHARS:
                return found  # not kept: a megabyte-long model name must not stay in memory
            if len(self.finders) >= self.MEMO_LIMIT:
                self.finders.clear()
            self.finders[model] = found
        return found

    def in_play(self, model: str) -> tuple[Rule, ...]:
        """The rules whose model matcher holds for this model name."""
        return tuple(rule for rule in self if rule._fits_model(model))

    def first_match(self, request: CompletionRequest, facts: RequestFacts) -> Rule | None:
        """The first rule whose matchers all hold."""
        model = request.model
        return (self.finders.get(model) or self.finder(model))(request, facts)


NO_RULES = RuleSet()


def first_match(rules: Sequence[Rule], request: CompletionRequest, facts: RequestFacts) -> Rule | None:
    """The first rule (rules come sorted by priority) whose matchers all hold."""
    rule_set = rules if isinstance(rules, RuleSet) else RuleSet(rules)
    return rule_set.first_match(request, facts)


# --- sequences -----------------------------------------------------------------------


def conversation_key(request: CompletionRequest, facts: RequestFacts) -> str:
    """Which conversation a request continues: x-llmsim-conversation, or its opening messages.

    An agent loop resends the same system prompt and first user message each turn, so
    those identify it; a test that needs several identical conversations names them.
    """
    named = facts.headers.get("x-llmsim-conversation")
    if named:
        return "c:" + named
    opening = [m for m in request.messages if m.role in ("system", "developer")][:1]
    opening += [m for m in request.messages if m.role == "user"][:1]
    digest = hashlib.blake2b(digest_size=12)
    for message in opening:
        digest.update(message.role.encode() + b"\0" + message.content.encode() + b"\0")
    return "h:" + digest.hexdigest()


class SequenceExhausted(Exception):
    """A sequence with when_exhausted "error" has played every step."""


def is_sequence(rule: Rule) -> bool:
    """Whether the rule's answer depends on how many requests came before (a position to keep)."""
    return not (len(rule.steps) == 1 and rule.steps[0].times == 1 and rule.when_exhausted != "error")


def position_key(rule: Rule, request: CompletionRequest, facts: RequestFacts) -> str:
    """Whose place in the rule's sequence a request takes: the rule, and its scope's conversation or key."""
    if rule.scope == "conversation":
        who = conversation_key(request, facts)
    elif rule.scope == "api_key":
        # Hashed: the key may end up in Redis, which must never hold API keys.
        who = "k:" + hashlib.blake2b(facts.api_key.encode(), digest_size=12).hexdigest()
    else:
        who = ""
    return f"{rule.id}:{rule.name}:{who}"


def step_at(rule: Rule, position: int) -> Action:
    """The step a request gets at this position (0: the first request); SequenceExhausted past the end."""
    total = sum(step.times for step in rule.steps)
    if position >= total:
        if rule.when_exhausted == "error":
            raise SequenceExhausted(rule.name)
        if rule.when_exhausted == "loop":
            position %= total
        else:
            return rule.steps[-1]
    for step in rule.steps:
        if position < step.times:
            return step
        position -= step.times
    return rule.steps[-1]


class Sequences:
    """How far each (rule, conversation or key) got through its steps; per process, bounded.

    With REDIS_URL the server keeps the positions in Redis instead (simulator.state.sequences),
    so that every process plays one sequence; this store is then only the fallback.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._positions: dict[str, int] = {}
        self._limit = limit

    def next_action(self, rule: Rule, request: CompletionRequest, facts: RequestFacts) -> Action:
        """The step this request gets, advancing the position; SequenceExhausted past the end."""
        if not is_sequence(rule):
            return rule.steps[0]  # nothing to remember
        key = position_key(rule, request, facts)
        position = self._positions.get(key, 0)
        if len(self._positions) >= self._limit and key not in self._positions:
            self._positions.clear()  # a load test with endless conversations: forget, don't grow
        self._positions[key] = position + 1
        return step_at(rule, position)

    def reset(self) -> None:
        self._positions.clear()


sequences = Sequences()


# --- parsing -------------------------------------------------------------------------

_ACTION_KEYS = {"text", "content", "tool_calls", "json", "error", "latency", "fault", "generate", "times"}
_RULE_ACTION_KEYS = _ACTION_KEYS | {"sequence", "scope", "when_exhausted"}


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise RuleError(f"{where}: must be {what}")
    if not isinstance(value, kind):
        raise RuleError(f"{where}: must be {what}")
    return value


def _unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise RuleError(f"{where}: unknown field {extra[0]!r}; known: {', '.join(sorted(known))}")


def _number(data: Mapping[str, Any], key: str, where: str, low: float = 0) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    _expect(value, (int, float), f"{where}.{key}", "a number")
    if value < low:
        raise RuleError(f"{where}.{key}: must be at least {low:g}")
    return float(value)


def _parse_error(data: Any, where: str) -> ScriptedError:
    if isinstance(data, int) and not isinstance(data, bool):
        data = {"status": data}
    _expect(data, dict, where, "a status or a mapping with status, message, type, retry_after_ms")
    _unknown(data, {"status", "message", "type", "retry_after_ms"}, where)
    status = data.get("status")
    if isinstance(status, bool) or not isinstance(status, int) or status not in ERROR_STATUSES:
        raise RuleError(f"{where}.status: must be one of {', '.join(map(str, sorted(ERROR_STATUSES)))}")
    message = data.get("message")
    if message is not None:
        _expect(message, str, f"{where}.message", "a string")
    kind = data.get("type")
    if kind is not None:
        _expect(kind, str, f"{where}.type", "a string")
    retry = _number(data, "retry_after_ms", where)
    return ScriptedError(status, message, kind, None if retry is None else retry / 1000.0)


def _parse_fault(data: Any, where: str) -> StreamFault:
    _expect(data, dict, where, "a mapping with kind, after_tokens, stall_ms, status, message")
    _unknown(data, {"kind", "after_tokens", "stall_ms", "status", "message"}, where)
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise RuleError(f"{where}.kind: must be one of {', '.join(FAULT_KINDS)}")
    after = data.get("after_tokens", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise RuleError(f"{where}.after_tokens: must be a whole number >= 0")
    stall = _number(data, "stall_ms", where) or 0.0
    if kind == "stall" and stall <= 0:
        raise RuleError(f"{where}.stall_ms: a stall needs a duration > 0")
    status = data.get("status", 500)
    if isinstance(status, bool) or not isinstance(status, int) or status not in ERROR_STATUSES:
        raise RuleError(f"{where}.status: must be one of {', '.join(map(str, sorted(ERROR_STATUSES)))}")
    message = data.get("message")
    if message is not None:
        _expect(message, str, f"{where}.message", "a string")
    return StreamFault(kind, after, stall, status, message)


def _parse_tool_calls(data: Any, where: str) -> tuple[ScriptedToolCall, ...]:
    if isinstance(data, dict):
        data = [data]
    _expect(data, list, where, "a list of {name, arguments}")
    if not data:
        raise RuleError(f"{where}: needs at least one call")
    calls = []
    for i, item in enumerate(data):
        at = f"{where}[{i}]"
        _expect(item, dict, at, "a mapping with name and arguments")
        _unknown(item, {"name", "arguments"}, at)
        name = item.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
            raise RuleError(f"{at}.name: must be a function name (letters, digits, _ and -, at most 64)")
        arguments = item.get("arguments")
        if arguments is not None:
            _expect(arguments, dict, f"{at}.arguments", "a mapping")
        calls.append(ScriptedToolCall(name, arguments))
    return tuple(calls)


def parse_step(data: Any, where: str = "action") -> Action:
    """One action from plain data; RuleError naming the field when it is wrong."""
    if isinstance(data, str):
        data = {"text": data}
    _expect(data, dict, where, "a mapping (text, tool_calls, json, error, latency, fault, generate)")
    _unknown(data, _ACTION_KEYS, where)
    # `content` is the seed's name for text (its mocks answer `response: {content: ...}`).
    kinds = [key for key in ("text", "content", "tool_calls", "json", "error", "generate") if key in data]
    if len(kinds) > 1:
        raise RuleError(f"{where}: use one of text, tool_calls, json, error, generate, not {' and '.join(kinds)}")
    if not kinds and "latency" not in data and "fault" not in data:
        raise RuleError(f"{where}: needs one of text, tool_calls, json, error, generate, latency, fault")
    kind = kinds[0] if kinds else "generate"
    fields: dict[str, Any] = {"kind": "text" if kind == "content" else kind}
    if kind in ("text", "content"):
        fields["text"] = _expect(data[kind], str, f"{where}.{kind}", "a string")
    elif kind == "tool_calls":
        fields["tool_calls"] = _parse_tool_calls(data["tool_calls"], f"{where}.tool_calls")
    elif kind == "json":
        fields["json"] = data["json"]
    elif kind == "error":
        fields["error"] = _parse_error(data["error"], f"{where}.error")
    elif data.get("generate") not in (None, True):
        raise RuleError(f"{where}.generate: must be true")
    latency = data.get("latency")
    if latency is not None:
        _expect(latency, dict, f"{where}.latency", "a mapping with ttft_ms and/or tbt_ms")
        _unknown(latency, {"ttft_ms", "tbt_ms"}, f"{where}.latency")
        fields["ttft_ms"] = _number(latency, "ttft_ms", f"{where}.latency")
        fields["tbt_ms"] = _number(latency, "tbt_ms", f"{where}.latency")
    if data.get("fault") is not None:
        fields["fault"] = _parse_fault(data["fault"], f"{where}.fault")
    times = data.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise RuleError(f"{where}.times: must be a whole number >= 1")
    fields["times"] = times
    return Action(**fields)


def parse_action(data: Any, where: str = "action") -> tuple[tuple[Action, ...], str, str]:
    """A rule's action (one step or a sequence) → (steps, scope, when_exhausted)."""
    if isinstance(data, dict):
        _unknown(data, _RULE_ACTION_KEYS, where)
        scope = data.get("scope", "conversation")
        if scope not in SCOPES:
            raise RuleError(f"{where}.scope: must be one of {', '.join(SCOPES)}")
        exhausted = data.get("when_exhausted", "repeat_last")
        if exhausted not in WHEN_EXHAUSTED:
            raise RuleError(f"{where}.when_exhausted: must be one of {', '.join(WHEN_EXHAUSTED)}")
        if "sequence" in data:
            rest = set(data) - {"sequence", "scope", "when_exhausted"}
            if rest:
                raise RuleError(f"{where}: put {sorted(rest)[0]!r} inside a step of the sequence")
            steps = data["sequence"]
            _expect(steps, list, f"{where}.sequence", "a list of steps")
            if not steps:
                raise RuleError(f"{where}.sequence: needs at least one step")
            return tuple(parse_step(s, f"{where}.sequence[{i}]") for i, s in enumerate(steps)), scope, exhausted
        step = {k: v for k, v in data.items() if k not in ("scope", "when_exhausted")}
        return (parse_step(step, where),), scope, exhausted
    return (parse_step(data, where),), "conversation", "repeat_last"


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
