"""JSON Schema `pattern`s: whether a string matches one, and strings that do.

Patterns are ECMA-262 regexes, and the client's: they are matched by RE2
(simulator/engine/regexes.py), in time linear in the text whatever the pattern. The
string generator reads the subset tool schemas use, with a bounded nesting and a
bounded output, so no pattern makes it loop or recurse without end.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from random import Random

from simulator.engine.regexes import Pattern, PatternError, compile_pattern
from simulator.engine.schema.limits import MAX_GENERATED_LENGTH

# Patterns kept compiled and generated from (longer ones: matched, not remembered).
_MAX_PATTERN_CHARS = 1_000
_MAX_PATTERN_NESTING = 100


# -- Matching ---------------------------------------------------------------------------


# RE2 reads most ECMA-262 patterns once named groups are respelt. What it refuses
# (lookarounds, backreferences) but Python's re reads is valid, and accepted but not
# checked; so are Unicode property escapes (\p{L}) that neither reads.
_UNICODE_PROPERTY = re.compile(r"\\[pP]\{")


def _python_spelling(pattern: str) -> str:
    return re.sub(r"\(\?<(?![=!])", "(?P<", pattern)


def problem(pattern: str) -> str | None:
    """Why `pattern` is not a valid regular expression (None: it is, or may be)."""
    if matcher(pattern) is not None or _UNICODE_PROPERTY.search(pattern):
        return None
    try:  # Python's re only compiles it, to tell a valid pattern RE2 refuses from a broken one
        re.compile(_python_spelling(pattern))
    except re.error as exc:
        return str(exc)
    except (RecursionError, OverflowError):
        return "too deeply nested or too large"
    return None


def matcher(pattern: str) -> Pattern | _Lookaheads | None:
    """`pattern` compiled by RE2 (None when RE2 cannot take it)."""
    # Patterns come with each request: remember the usual short ones, not every one.
    return _short_regex(pattern) if len(pattern) <= _MAX_PATTERN_CHARS else _compiled_regex(pattern)


def _compiled_regex(pattern: str) -> Pattern | _Lookaheads | None:
    try:
        return compile_pattern(_python_spelling(pattern))
    except PatternError:
        pass
    try:
        return _Lookaheads.of(_python_spelling(pattern))
    except (PatternError, ValueError):
        return None


_short_regex = lru_cache(maxsize=1024)(_compiled_regex)


@dataclass(frozen=True, slots=True)
class _Lookaheads:
    """A pattern that opens with lookaheads, as password rules do: ^(?=.*[0-9])(?!.*\\s)[a-z0-9]{6}$.

    RE2 reads no lookaround, but anchored at the start each lookahead is a pattern of
    its own that must match (or not) there, and the rest is an ordinary pattern.
    """

    must: tuple[Pattern, ...]
    must_not: tuple[Pattern, ...]
    rest: Pattern

    @classmethod
    def of(cls, pattern: str) -> _Lookaheads:
        """ValueError when `pattern` does not open with ^ and lookaheads; PatternError from RE2."""
        if not pattern.startswith("^(?=") and not pattern.startswith("^(?!"):
            raise ValueError("no leading lookahead")
        must: list[Pattern] = []
        must_not: list[Pattern] = []
        at = 1
        while pattern.startswith(("(?=", "(?!"), at):
            end = _group_end(pattern, at)
            inner = compile_pattern(f"^(?:{pattern[at + 3 : end]})")
            (must if pattern[at + 2] == "=" else must_not).append(inner)
            at = end + 1
        return cls(tuple(must), tuple(must_not), compile_pattern("^" + pattern[at:]))

    def search(self, text: str) -> object | None:
        if all(p.search(text) for p in self.must) and not any(p.search(text) for p in self.must_not):
            return self.rest.search(text)
        return None


def _group_end(pattern: str, start: int) -> int:
    """The index of the ")" closing the group opened at `start` (ValueError when it is not closed)."""
    depth, at, in_class = 0, start, False
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[at + 1 : at + 2] == "]":  # a literal ] first in a class
                at += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return at
        at += 1
    raise ValueError("unclosed group")


def matches(pattern: str, text: str, *, unreadable: bool = True) -> bool:
    """Whether `pattern` matches somewhere in `text`; `unreadable` when RE2 cannot take the pattern."""
    found = matcher(pattern)
    return unreadable if found is None else found.search(text) is not None


# -- Strings from simple patterns ------------------------------------------------------


class _Unsupported(Exception):
    """A regex construct the pattern generator does not handle (lookarounds, backrefs...)."""


_PRINTABLE = tuple(chr(code) for code in range(32, 127))
_ALNUM = tuple(string.ascii_letters + string.digits)
_ESCAPE_SETS = {
    "d": tuple(string.digits),
    "w": tuple(string.ascii_letters + string.digits + "_"),
    "s": (" ",),
}
_LITERAL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}
# A node: ("chars", choices) | ("seq", nodes) | ("alt", nodes) | ("repeat", node, low, high|None)
_Node = tuple


class _PatternParser:
    """A recursive-descent parser for the regex subset tool schemas use."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.at = 0
        self.nesting = 0

    def parse(self) -> _Node:
        node = self._alternation()
        if self.at != len(self.pattern):
            raise _Unsupported(self.pattern[self.at :])
        return node

    def _peek(self) -> str:
        return self.pattern[self.at] if self.at < len(self.pattern) else ""

    def _take(self) -> str:
        char = self._peek()
        if not char:
            raise _Unsupported("unexpected end")
        self.at += 1
        return char

    def _alternation(self) -> _Node:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.at += 1
            branches.append(self._sequence())
        return branches[0] if len(branches) == 1 else ("alt", tuple(branches))

    def _sequence(self) -> _Node:
        nodes = []
        while self._peek() not in ("", "|", ")"):
            atom = self._atom()
            if atom is not None:
                nodes.append(self._quantified(atom))
        return ("seq", tuple(nodes))

    def _atom(self) -> _Node | None:
        char = self._take()
        if char in "^$":
            return None
        if char == "(":
            self.nesting += 1
            if self.nesting > _MAX_PATTERN_NESTING:
                raise _Unsupported("groups nested too deeply")
            lookaround = False
            if self._peek() == "?":
                self.at += 1
                flags = re.match(r"[imsu]+\)", self.pattern[self.at :])
                if flags:  # (?i): what we generate for a literal matches it either way
                    self.at += flags.end()
                    return None
                named = self.pattern.startswith("P<", self.at) or (
                    self.pattern.startswith("<", self.at) and self.pattern[self.at + 1 : self.at + 2] not in ("=", "!")
                )
                lookaround = not named and self.pattern.startswith(("=", "!", "<=", "<!"), self.at)
                if named:
                    self.at = self.pattern.index(">", self.at) + 1
                elif lookaround:
                    self.at += 1 if self._peek() in "=!" else 2
                elif self._take() != ":":
                    raise _Unsupported("group flags")
            node = self._alternation()
            if self._take() != ")":
                raise _Unsupported("unbalanced group")
            self.nesting -= 1
            # A lookaround matches no text: generate none, and let the re-check retry misses.
            return None if lookaround else node
        if char == "[":
            return ("chars", self._class())
        if char == ".":
            return ("chars", _ALNUM)
        if char == "\\":
            return self._escape()
        if char in "*+?":
            raise _Unsupported("nothing to repeat")
        return ("chars", (char,))

    def _escape(self) -> _Node | None:
        char = self._take()
        if char in "bBAZz":
            return None  # boundaries match between characters; the re-check catches misses
        return ("chars", self._escape_chars(char))

    def _escape_chars(self, char: str) -> tuple[str, ...]:
        if char.lower() in _ESCAPE_SETS:
            chars = _ESCAPE_SETS[char.lower()]
            if char.isupper():
                chars = tuple(c for c in _PRINTABLE if not re.fullmatch(f"\\{char.lower()}", c))
            return chars
        if char in _LITERAL_ESCAPES:
            return (_LITERAL_ESCAPES[char],)
        if char in "xu":
            width = 2 if char == "x" else 4
            digits = self.pattern[self.at : self.at + width]
            self.at += width
            try:
                return (chr(int(digits, 16)),)
            except ValueError:
                raise _Unsupported("bad escape") from None
        if char.isalnum():
            raise _Unsupported(f"escape \\{char}")  # backreferences, \p{...}
        return (char,)

    def _class(self) -> tuple[str, ...]:
        negated = self._peek() == "^"
        if negated:
            self.at += 1
        chosen: list[str] = []
        first = True
        while True:
            char = self._take()
            if char == "]" and not first:
                break
            first = False
            members = list(self._escape_chars(self._take())) if char == "\\" else [char]
            if len(members) == 1 and self._peek() == "-" and self.pattern[self.at + 1 : self.at + 2] not in ("]", ""):
                self.at += 1
                end = self._take()
                if end == "\\":
                    end = self._escape_chars(self._take())[0]
                if ord(end) < ord(members[0]):
                    raise _Unsupported("bad range")
                members = [chr(code) for code in range(ord(members[0]), ord(end) + 1)]
            chosen.extend(members)
        if negated:
            excluded = set(chosen)
            chosen = [c for c in _PRINTABLE if c not in excluded]
            # Letters and digits read better than punctuation, when the class allows them.
            chosen = [c for c in chosen if c.isalnum()] or chosen
        if not chosen:
            raise _Unsupported("empty class")
        return tuple(dict.fromkeys(chosen))

    def _quantified(self, atom: _Node) -> _Node:
        char = self._peek()
        if char in ("*", "+", "?"):
            self.at += 1
            low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        elif char == "{" and (match := re.match(r"\{(\d+)(,(\d*))?\}", self.pattern[self.at :])):
            self.at += match.end()
            low = int(match.group(1))
            high = low if match.group(2) is None else (int(match.group(3)) if match.group(3) else None)
        else:
            return atom
        if self._peek() in ("?", "+"):  # lazy or possessive: the same strings match
            self.at += 1
        return ("repeat", atom, low, high)


@lru_cache(maxsize=256)
def _parse_pattern(pattern: str) -> _Node:
    return _PatternParser(pattern).parse()


def _emit(node: _Node, rng: Random, out: list[str], extra: int) -> None:
    kind = node[0]
    if kind == "chars":
        if len(out) >= MAX_GENERATED_LENGTH:  # (a{1000}){1000}: give up rather than make a million
            raise _Unsupported("the pattern makes strings too long")
        out.append(rng.choice(node[1]))
    elif kind == "seq":
        for child in node[1]:
            _emit(child, rng, out, extra)
    elif kind == "alt":
        _emit(rng.choice(node[1]), rng, out, extra)
    else:
        _, child, low, high = node
        # Open-ended and very wide repeats stay short; later attempts stretch them.
        high = low + extra if high is None else min(high, low + extra)
        for _ in range(rng.randint(low, high)):
            _emit(child, rng, out, extra)


def string_matching(pattern: str, rng: Random, extra: int = 3) -> str | None:
    """A string the regex produces (None when the regex uses constructs we can't generate)."""
    if len(pattern) > _MAX_PATTERN_CHARS:  # parsed trees are kept: not ones this big
        return None
    out: list[str] = []
    try:
        _emit(_parse_pattern(pattern), rng, out, extra)
    except (_Unsupported, ValueError):
        return None
    return "".join(out)
