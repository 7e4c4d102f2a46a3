"""Matching a live request to a recording, for replay.

A replay scenario answers a request with the recording whose key is the request's key.
The key is a digest of what identifies a request at a chosen strictness:

- "body": the whole JSON body (but `stream` and `stream_options`, which the stream flag
  already says), so any change — a temperature, a seed — is another request;
- "messages" (the default): the conversation, in one shape for every provider, and the
  names of the tools offered; sampling settings do not matter;
- "last_user": only the last user message, for apps whose earlier turns vary.

Provider, method, path, model and the stream flag are part of every key. Both sides are
keyed after the same anonymisation (the recorder's), so masked values still match.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from difflib import SequenceMatcher
from typing import Any, Generic, TypeVar

import orjson

from simulator.recording.cassettes import Exchange, model_in

STRICTNESS = ("body", "messages", "last_user")
DEFAULT_STRICTNESS = "messages"
NEAREST_MAX_CANDIDATES = 500
NEAREST_MAX_CHARS = 2000

Conversation = tuple[tuple[str, str], ...]
T = TypeVar("T")


def conversation_of(provider: str, body: Any) -> Conversation:
    """The conversation in a request body as (role, text) pairs, the same shape for every provider.

    Roles are system, user, assistant and tool. Consecutive text (and "[image]") parts of a
    message join with a newline into one entry; a tool call is an assistant entry
    "tool_call <name> <arguments as canonical JSON>"; a tool result is a "tool" entry.
    Shapes this does not know contribute nothing; it never raises.
    """
    if not isinstance(body, dict):
        return ()
    builder = _Builder()
    if provider == "anthropic":
        _anthropic(body, builder)
    elif provider == "gemini":
        _gemini(body, builder)
    else:
        _openai(body, builder)
    return tuple(builder.entries)


def last_user_text(conversation: Conversation) -> str:
    """The text of the last user entry, or "" when there is none."""
    for role, text in reversed(conversation):
        if role == "user":
            return text
    return ""


def is_stream(provider: str, path: str, body: Any) -> bool:
    """Whether the request asks for a streamed answer (Gemini says so in its path)."""
    if provider == "gemini":
        return _without_query(path).endswith(":streamGenerateContent")
    return isinstance(body, dict) and body.get("stream") is True


def request_key(provider: str, method: str, path: str, body: Any, strictness: str = DEFAULT_STRICTNESS) -> str:
    """The sha256 hex digest that a request and its recording share at `strictness`."""
    if strictness == "body":
        selector = body
        if isinstance(body, dict):
            selector = {name: value for name, value in body.items() if name not in ("stream", "stream_options")}
    elif strictness == "messages":
        selector = {"conversation": conversation_of(provider, body)}
        tools = tool_names(provider, body)
        if tools:
            selector["tools"] = tools
    elif strictness == "last_user":
        selector = last_user_text(conversation_of(provider, body))
    else:
        raise ValueError(f"strictness must be one of {', '.join(STRICTNESS)}, not {strictness!r}")
    path = _without_query(path)
    identity = [provider, method.upper(), path, model_in(body, path), is_stream(provider, path, body), selector]
    return hashlib.sha256(_canonical_bytes(identity)).hexdigest()


def exchange_keys(exchange: Exchange) -> dict[str, str]:
    """The key of a recorded exchange's request at each strictness, so an importer can store all three."""
    request = exchange.request
    body = request.body if request.body is not None else request.body_text
    return {
        strictness: request_key(exchange.provider, request.method, request.path, body, strictness)
        for strictness in STRICTNESS
    }


def tool_names(provider: str, body: Any) -> list[str]:
    """The names of the tools a request offers, sorted (built-in tools by their type)."""
    if not isinstance(body, dict):
        return []
    names = []
    for tool in _list(body.get("tools")):
        if not isinstance(tool, dict):
            continue
        if provider == "gemini":
            declarations = tool.get("functionDeclarations", tool.get("function_declarations"))
            names += [d["name"] for d in _list(declarations) if isinstance(d, dict) and isinstance(d.get("name"), str)]
            # Built-in Gemini tools (googleSearch, codeExecution…) are the tool's one key.
            names += [key for key in tool if key not in ("functionDeclarations", "function_declarations")]
            continue
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])  # OpenAI chat
        elif isinstance(tool.get("name"), str):
            names.append(tool["name"])  # Responses, Anthropic
        elif isinstance(tool.get("type"), str):
            names.append(tool["type"])  # built-in Responses tools: web_search, file_search…
    for function in _list(body.get("functions")):  # OpenAI chat's deprecated form
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return sorted(names)


def nearest(text: str, candidates: Sequence[tuple[str, str]]) -> tuple[str, float] | None:
    """The label of the candidate whose text is most like `text`, with its similarity (0 to 1).

    Similarity is difflib's SequenceMatcher ratio over the first 2,000 characters of each
    text, with quick_ratio as a pre-filter. The cost is bounded: only the first 500
    candidates by label order are compared. None when there are no candidates; ties go to
    the first label.
    """
    if not candidates:
        return None
    matcher = SequenceMatcher(None)
    matcher.set_seq2(text[:NEAREST_MAX_CHARS])  # the matcher caches what it learns about seq2
    best_label, best_ratio = None, -1.0
    for label, candidate in sorted(candidates, key=lambda pair: pair[0])[:NEAREST_MAX_CANDIDATES]:
        matcher.set_seq1(candidate[:NEAREST_MAX_CHARS])
        if matcher.real_quick_ratio() <= best_ratio or matcher.quick_ratio() <= best_ratio:
            continue  # both are upper bounds of ratio(): this one cannot win
        ratio = matcher.ratio()
        if ratio > best_ratio:
            best_label, best_ratio = label, ratio
    return best_label, best_ratio


class ReplayBook(Generic[T]):
    """The recordings of a replay scenario, found by key.

    Recordings with the same key play in recorded order, one per request, then the last
    one repeats — so an app that asks the same question twice gets both recorded answers.
    The cursor of each key lives in memory: each process (each worker of a server) keeps
    its own, and a restart starts over.
    """

    def __init__(
        self,
        entries: Iterable[tuple[dict[str, str], T]],
        describe: Callable[[T], tuple[str, str]] | None = None,
    ) -> None:
        """`entries`: (keys per strictness, recording) in recorded order; `describe` gives a
        recording's (label, text) for `candidates`, e.g. its cassette name and last user text."""
        self._recordings: dict[str, dict[str, list[T]]] = {strictness: {} for strictness in STRICTNESS}
        self._cursors: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()  # a threaded server may ask for the same key at once
        candidates = []
        for keys, recording in entries:
            for strictness, key in keys.items():
                if strictness in self._recordings:
                    self._recordings[strictness].setdefault(key, []).append(recording)
            if describe is not None:
                candidates.append(describe(recording))
        self.candidates: tuple[tuple[str, str], ...] = tuple(candidates)

    def find(self, key: str, strictness: str = DEFAULT_STRICTNESS) -> T | None:
        """The next recording for `key`, or None when nothing was recorded under it."""
        if strictness not in self._recordings:
            raise ValueError(f"strictness must be one of {', '.join(STRICTNESS)}, not {strictness!r}")
        recordings = self._recordings[strictness].get(key)
        if not recordings:
            return None
        with self._lock:
            played = self._cursors.get((strictness, key), 0)
            self._cursors[(strictness, key)] = played + 1
        return recordings[min(played, len(recordings) - 1)]


# --- one conversation shape from every provider's body -------------------------------


class _Builder:
    """Collects entries; the text parts of one message gather until a tool entry or the message ends."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []
        self.role = ""
        self.pieces: list[str] = []

    def text(self, role: str, text: Any) -> None:
        if isinstance(text, str) and text:
            if role != self.role:
                self.flush()
                self.role = role
            self.pieces.append(text)

    def entry(self, role: str, text: str) -> None:
        self.flush()
        if text:
            self.entries.append((role, text))

    def tool_call(self, name: Any, arguments: Any) -> None:
        self.entry("assistant", f"tool_call {name if isinstance(name, str) else ''} {_canonical_text(arguments)}")

    def flush(self) -> None:
        if self.pieces:
            self.entries.append((self.role, "\n".join(self.pieces)))
        self.role, self.pieces = "", []


def _openai(body: dict, out: _Builder) -> None:
    """Chat (`messages`), Responses (`instructions`, `input`), legacy completions (`prompt`), embeddings (`input`)."""
    for message in _list(body.get("messages")):
        if isinstance(message, dict):
            _openai_chat_message(message, out)
    out.text("system", body.get("instructions"))
    out.flush()
    for field in ("prompt", "input"):
        value = body.get(field)
        if isinstance(value, str):
            out.entry("user", value)
        for item in _list(value):
            if isinstance(item, str):
                out.entry("user", item)  # a batch of prompts or embedding inputs
            elif isinstance(item, dict):
                _responses_item(item, out)
    out.flush()


def _openai_chat_message(message: dict, out: _Builder) -> None:
    role = _role(message.get("role"))
    if role == "tool" or role == "function":
        out.entry("tool", _canonical_text(_parts_text(message.get("content"))))
        return
    _content(role, message.get("content"), out)
    for call in _list(message.get("tool_calls")):
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            out.tool_call(function.get("name"), function.get("arguments"))
    legacy_call = message.get("function_call")
    if isinstance(legacy_call, dict):
        out.tool_call(legacy_call.get("name"), legacy_call.get("arguments"))
    out.flush()


def _content(role: str, content: Any, out: _Builder) -> None:
    """A message's content, a string or a list of parts (OpenAI chat and Responses alike)."""
    if isinstance(content, str):
        out.text(role, content)
    for part in _list(content):
        if isinstance(part, dict):
            out.text(role, _part_text(part))


def _responses_item(item: dict, out: _Builder) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        _content(_role(item.get("role")), item.get("content"), out)
        out.flush()
    elif kind == "function_call":
        out.tool_call(item.get("name"), item.get("arguments"))
    elif kind == "function_call_output":
        out.entry("tool", _canonical_text(_parts_text(item.get("output"))))


def _anthropic(body: dict, out: _Builder) -> None:
    out.text("system", _parts_text(body.get("system")))
    out.flush()
    for message in _list(body.get("messages")):
        if not isinstance(message, dict):
            continue
        role = _role(message.get("role"))
        content = message.get("content")
        if isinstance(content, str):
            out.text(role, content)
        for block in _list(content):
            if not isinstance(block, dict):
                continue
            if block.get("type") == "tool_use":
                out.tool_call(block.get("name"), block.get("input"))
            elif block.get("type") == "tool_result":
                out.entry("tool", _canonical_text(_parts_text(block.get("content"))))
            else:
                out.text(role, _part_text(block))
        out.flush()


def _gemini(body: dict, out: _Builder) -> None:
    system = body.get("systemInstruction", body.get("system_instruction"))
    if isinstance(system, str):
        out.text("system", system)
    elif isinstance(system, dict):
        _gemini_parts("system", system.get("parts"), out)
    out.flush()
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    for content in _list(contents):
        if isinstance(content, dict):
            _gemini_parts(_role(content.get("role") or "user"), content.get("parts"), out)
    single = body.get("content")  # embedContent
    if isinstance(single, dict):
        _gemini_parts("user", single.get("parts"), out)
    for request in _list(body.get("requests")):  # batchEmbedContents
        if isinstance(request, dict) and isinstance(request.get("content"), dict):
            _gemini_parts("user", request["content"].get("parts"), out)
    nested = body.get("generateContentRequest")  # countTokens may wrap a whole request
    if isinstance(nested, dict):
        _gemini(nested, out)


def _gemini_parts(role: str, parts: Any, out: _Builder) -> None:
    for part in _list(parts):
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall", part.get("function_call"))
        response = part.get("functionResponse", part.get("function_response"))
        if isinstance(call, dict):
            out.tool_call(call.get("name"), call.get("args", {}))
        elif isinstance(response, dict):
            out.entry("tool", _gemini_tool_result(response.get("response")))
        elif isinstance(part.get("text"), str):
            if not part.get("thought"):  # thoughts are the model's scratch pad, not the conversation
                out.text(role, part["text"])
        elif _is_image(part.get("inlineData", part.get("inline_data"))) or _is_image(
            part.get("fileData", part.get("file_data"))
        ):
            out.text(role, "[image]")
    out.flush()


def _gemini_tool_result(response: Any) -> str:
    # The SDKs wrap a function's plain return value as {"result": value}; unwrapped, a
    # tool result reads the same as the other providers' string results.
    if isinstance(response, dict) and len(response) == 1:
        ((name, value),) = response.items()
        if name in ("result", "output") and isinstance(value, str):
            return value
    return _canonical_text(response)


def _is_image(data: Any) -> bool:
    return isinstance(data, dict) and str(data.get("mimeType", data.get("mime_type", ""))).startswith("image/")


def _part_text(part: dict) -> str | None:
    """The text of one content part (OpenAI chat, Responses, Anthropic), "[image]" for an image."""
    kind = part.get("type")
    if kind in ("text", "input_text", "output_text"):
        return part.get("text")
    if kind in ("image_url", "input_image", "image"):
        return "[image]"
    return None


def _parts_text(content: Any) -> Any:
    """A string as it is; a list of parts as their texts joined; anything else unchanged."""
    if isinstance(content, list):
        texts = [_part_text(part) if isinstance(part, dict) else part for part in content]
        return "\n".join(text for text in texts if isinstance(text, str) and text)
    return content


def _role(role: Any) -> str:
    if role == "model":
        return "assistant"
    if role == "developer":
        return "system"  # OpenAI's newer name for the system message
    return role if isinstance(role, str) else ""


def _canonical_text(value: Any) -> str:
    """Tool arguments and results as text: JSON (even JSON in a string) in one canonical form."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if not isinstance(parsed, (dict, list)):
            return value
        value = parsed
    if value is None:
        return ""
    return _canonical_bytes(value).decode()


def _canonical_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers past 64 bits, or keys that are not strings (a hand-edited cassette)
        return json.dumps(_string_keys(value), sort_keys=True, separators=(",", ":"), default=str).encode()


def _string_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(name): _string_keys(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_string_keys(item) for item in value]
    return value


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _without_query(path: str) -> str:
    return path.split("?", 1)[0]
