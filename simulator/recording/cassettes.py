"""Cassettes: recorded exchanges with a provider, one human-readable YAML file each.

The recorder (`llmsim record`) writes them, `llmsim import --cassettes` turns them into
a replay scenario, `llmsim calibrate` fits model profiles to their timing. The format
(version 1) is documented in docs/recording.md; this module is its one reader and writer.

Sizes are bounded twice: a cassette holds at most `max_cassette_bytes` of answer (the
recorder stops keeping a stream's pieces past it, while the client still gets them all),
and a directory at most `max_directory_bytes` (the writer refuses with a message saying
which limit and how to raise it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

FORMAT_VERSION = 1
PROVIDERS = ("openai", "anthropic", "gemini")
SUFFIX = ".yaml"
DEFAULT_MAX_CASSETTE_BYTES = 8 * 1024**2
DEFAULT_MAX_DIRECTORY_BYTES = 1024**3


class CassetteError(ValueError):
    """A cassette that cannot be read; the message names the file and the field."""


class CassetteLimit(RuntimeError):
    """A cassette or the directory would pass its size limit; the message says how to go on."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a streamed answer as it arrived: one SSE event, or a piece of a JSON array."""

    at_ms: float  # since the request was sent upstream
    text: str


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # the parsed JSON body, anonymised
    body_text: str | None = None  # a body that was not JSON


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    duration_ms: float = 0.0
    complete: bool = True  # False: the upstream dropped the connection mid-answer
    body: Any = None  # a JSON answer
    body_text: str | None = None  # an answer that was not JSON
    chunks: tuple[Chunk, ...] | None = None  # a streamed answer

    @property
    def streamed(self) -> bool:
        return self.chunks is not None


@dataclass(frozen=True, slots=True)
class Exchange:
    provider: str
    upstream: str
    recorded_at: str  # UTC, ISO 8601 with milliseconds
    request: RecordedRequest
    response: RecordedResponse


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_yaml(exchange: Exchange) -> str:
    request, response = exchange.request, exchange.response
    request_data: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "headers": dict(request.headers),
    }
    request_data.update(_body_fields(request.body, request.body_text))
    response_data: dict[str, Any] = {
        "status": response.status,
        "headers": dict(response.headers),
        "duration_ms": round(response.duration_ms, 1),
        "complete": response.complete,
    }
    if response.chunks is not None:
        response_data["chunks"] = [{"at_ms": round(chunk.at_ms, 1), "text": chunk.text} for chunk in response.chunks]
    else:
        response_data.update(_body_fields(response.body, response.body_text))
    document = {
        "llmsim_cassette": FORMAT_VERSION,
        "recorded_at": exchange.recorded_at,
        "provider": exchange.provider,
        "upstream": exchange.upstream,
        "request": request_data,
        "response": response_data,
    }
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _body_fields(body: Any, body_text: str | None) -> dict[str, Any]:
    if body_text is not None:
        return {"body_text": body_text}
    return {"body": body} if body is not None else {}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (SSE events, long prompts) as literal blocks, readable as they were sent."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    if any(mark in text for mark in _UNICODE_LINE_BREAKS):
        style = '"'  # plain or block styles would read these back as line breaks; quoted keeps them
    elif "\n" in text and not _has_trailing_space(text):
        style = "|"
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


# What YAML takes for line breaks besides \n and \r (next line, line and paragraph separators).
_UNICODE_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


def _has_trailing_space(text: str) -> bool:
    # A literal block cannot keep spaces before a line break; those strings stay quoted.
    return any(line != line.rstrip(" \t") for line in text.split("\n"))


_Dumper.add_representer(str, _represent_text)


def from_yaml(text: str, source: str = "<cassette>") -> Exchange:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CassetteError(f"{source}: not YAML ({exc})") from None
    if not isinstance(document, dict) or "llmsim_cassette" not in document:
        raise CassetteError(f"{source}: not a cassette (no llmsim_cassette field)")
    if type(document["llmsim_cassette"]) is not int or document["llmsim_cassette"] != FORMAT_VERSION:
        raise CassetteError(f"{source}: llmsim_cassette {document['llmsim_cassette']!r} (this LLMSim reads version 1)")
    read = _Reader(source)
    provider = read.choice(document, "provider", PROVIDERS)
    request = read.mapping(document, "request")
    response = read.mapping(document, "response")
    chunks = None
    if "chunks" in response:
        chunks = tuple(
            Chunk(read.number(piece, "at_ms", where), read.text(piece, "text", where))
            for where, piece in (
                (f"response.chunks[{i}]", piece) for i, piece in enumerate(read.list(response, "chunks", "response"))
            )
        )
    return Exchange(
        provider=provider,
        upstream=str(document.get("upstream", "")),
        recorded_at=str(document.get("recorded_at", "")),
        request=RecordedRequest(
            method=read.text(request, "method", "request"),
            path=read.text(request, "path", "request"),
            query=read.strings(request, "query", "request"),
            headers=read.strings(request, "headers", "request"),
            body=request.get("body"),
            body_text=request.get("body_text"),
        ),
        response=RecordedResponse(
            status=int(read.number(response, "status", "response")),
            headers=read.strings(response, "headers", "response"),
            duration_ms=float(read.number(response, "duration_ms", "response")) if "duration_ms" in response else 0.0,
            complete=read.boolean(response, "complete", "response", default=True),
            body=response.get("body"),
            body_text=response.get("body_text"),
            chunks=chunks,
        ),
    )


class _Reader:
    """Field access that names the file and the field when something is wrong."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> CassetteError:
        return CassetteError(f"{self.source}: {where} {message}")

    def mapping(self, data: dict, key: str) -> dict:
        value = data.get(key)
        if not isinstance(value, dict):
            raise self.fail(key, "must be a mapping")
        return value

    def list(self, data: dict, key: str, where: str) -> list:
        value = data.get(key)
        if not isinstance(value, list):
            raise self.fail(f"{where}.{key}", "must be a list")
        return value

    def text(self, data: Any, key: str, where: str) -> str:
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", "must be text")
        return value

    def number(self, data: Any, key: str, where: str) -> float:
        value = data.get(key) if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(f"{where}.{key}", "must be a number")
        return value

    def boolean(self, data: dict, key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "must be true or false")
        return value

    def strings(self, data: dict, key: str, where: str) -> dict[str, str]:
        value = data.get(key) or {}
        if not isinstance(value, dict):
            raise self.fail(f"{where}.{key}", "must be a mapping")
        return {str(name): str(item) for name, item in value.items()}

    def choice(self, data: dict, key: str, choices: tuple[str, ...]) -> str:
        value = data.get(key)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {value!r}")
        return value


def file_name(exchange: Exchange, sequence: int) -> str:
    stamp = re.sub(r"[^0-9T]", "", exchange.recorded_at.split(".")[0]) or "unknown"
    return f"{stamp}-{sequence:06d}-{exchange.provider}-{_safe(model_of(exchange))}{SUFFIX}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "none"


def model_of(exchange: Exchange) -> str:
    """The model the recorded request asked for."""
    return model_in(exchange.request.body, exchange.request.path)


def model_in(body: Any, path: str) -> str:
    """The model a request asks for: in the body, or in a Gemini path (models/<id>:method)."""
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        return body["model"]
    found = re.search(r"/models/([^/:]+)", path)
    return found.group(1) if found else ""


class CassetteDirectory:
    """Where a recorder writes: one file per exchange, within a size limit for the whole."""

    def __init__(
        self,
        path: Path,
        max_cassette_bytes: int = DEFAULT_MAX_CASSETTE_BYTES,
        max_directory_bytes: int = DEFAULT_MAX_DIRECTORY_BYTES,
    ) -> None:
        self.path = path
        self.max_cassette_bytes = max_cassette_bytes
        self.max_directory_bytes = max_directory_bytes
        path.mkdir(parents=True, exist_ok=True)
        existing = sorted(path.glob(f"*{SUFFIX}"))
        self.used_bytes = sum(cassette.stat().st_size for cassette in existing)
        # After the highest number on disk, not the count: a deleted cassette's number
        # must not come round again and overwrite a later one.
        self.sequence = max((_sequence_in(cassette.name) for cassette in existing), default=0)

    def write(self, exchange: Exchange) -> Path:
        """Write one cassette; CassetteLimit when it or the directory would pass a limit."""
        text = to_yaml(exchange).encode()
        if len(text) > self.max_cassette_bytes:
            raise CassetteLimit(
                f"a cassette of {len(text):,} bytes passes the limit of {self.max_cassette_bytes:,} per cassette "
                "(--max-cassette-bytes): not recorded"
            )
        if self.used_bytes + len(text) > self.max_directory_bytes:
            raise CassetteLimit(
                f"{self.path} holds {self.used_bytes:,} bytes of cassettes and this one ({len(text):,} bytes) would "
                f"pass its limit of {self.max_directory_bytes:,} (--max-directory-bytes): move the cassettes away or "
                "raise the limit; requests are still forwarded, not recorded"
            )
        self.sequence += 1
        target = self.path / file_name(exchange, self.sequence)
        partial = target.with_suffix(".partial")
        partial.write_bytes(text)
        partial.replace(target)  # a reader never sees half a cassette
        self.used_bytes += len(text)
        return target


class ChunkBuffer:
    """The pieces of one streamed answer, kept up to a byte limit (the cassette's)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.chunks: list[Chunk] = []
        self.size = 0
        self.truncated = False

    def add(self, at_ms: float, text: str) -> None:
        if self.truncated:
            return
        size = len(text.encode())
        if self.size + size > self.limit_bytes:
            self.truncated = True  # the cassette is dropped: a partial one would replay a lie
            self.chunks.clear()
            return
        self.chunks.append(Chunk(at_ms, text))
        self.size += size


def _sequence_in(name: str) -> int:
    found = re.match(r"[0-9T]+-(\d+)-", name)
    return int(found.group(1)) if found else 0


def read_directory(path: Path) -> Iterator[tuple[Path, Exchange]]:
    """Every cassette in `path` (not below it), in name order: the order they were recorded."""
    if not path.is_dir():
        raise CassetteError(f"{path}: no such directory")
    for cassette in sorted(path.glob(f"*{SUFFIX}")):
        try:
            text = cassette.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CassetteError(f"{cassette}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        yield cassette, from_yaml(text, source=str(cassette))
