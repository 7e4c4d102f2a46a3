"""OpenAI Embeddings: POST /v1/embeddings.

Each input gets a deterministic unit vector (simulator/engine/embeddings.py): the same
text, or the same tokens, always the same vector. The answer comes after the
embedding model's time to first token; injected errors and rate limits apply as to
chat requests. Response rules do not: their actions (text, tool calls, JSON) say
what a model answers, and an embedding model answers no text. The shapes are those of
OpenAI's API reference ("Create embeddings").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.engine import planner
from simulator.engine.embeddings import base64_floats, embedding
from simulator.engine.tokens import count_text, get_encoding
from simulator.engine.types import CompletionRequest, Message
from simulator.providers.openai.errors import common_headers, dialect, fault_error, model_not_found, openai_endpoint
from simulator.providers.openai.validate import (
    integer_field,
    invalid_type,
    missing_parameter,
    requested_model,
    too_long,
    type_name,
)
from simulator.server.http import JSON_CONTENT_TYPE, Call, ProviderError, compute, dump_json, quoted, send_bytes
from simulator.server.pipeline import Dialect, plan_answer, wait_for_reply
from simulator.state import snapshots

# Vector length per model when the request sends no `dimensions` (unknown models: 1536).
DEFAULT_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_UNKNOWN_MODEL_DIMENSIONS = 1536
# Models that only answer at their own length (OpenAI refuses `dimensions` for them).
_FIXED_DIMENSIONS = ("text-embedding-ada-002",)
MAX_INPUTS = 2048
# Tokens one input may have (every OpenAI embedding model); a request's total is the
# profile's context window (300,000 for the presets).
MAX_INPUT_TOKENS = 8192


def _invalid_input() -> ProviderError:
    # OpenAI's words for an empty string, an empty array or an empty token array.
    return ProviderError(
        400,
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        param="input",
    )


def _token_ids(raw: list[Any], param: str, vocabulary_size: int) -> list[int]:
    if not raw:
        raise _invalid_input()
    for i, token in enumerate(raw):
        if isinstance(token, bool) or not isinstance(token, int):
            raise invalid_type(f"{param}[{i}]", "an integer", token)
        if not 0 <= token < vocabulary_size:
            raise ProviderError(
                400,
                f"Invalid token id {token} in '{param}[{i}]': expected a value from 0 to {vocabulary_size - 1}.",
                param=f"{param}[{i}]",
                code="invalid_value",
            )
    return raw


def parse_inputs(raw: Any, encoding: str) -> list[tuple[str, int]]:
    """Each input as (text, tokens): a string, strings, token ids or lists of token ids.

    Token ids are decoded with the model's vocabulary, so tokens and the text they
    spell get the same vector.
    """
    if raw is None:
        raise missing_parameter("input")
    enc = get_encoding(encoding)
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list):
        if not raw:
            raise _invalid_input()
        token_ids = all(isinstance(item, int) and not isinstance(item, bool) for item in raw)
        items = [raw] if token_ids else raw  # token ids alone are one input
    else:
        raise invalid_type("input", "a string or an array", raw)
    if len(items) > MAX_INPUTS:
        raise too_long("input", MAX_INPUTS, len(items))
    inputs = []
    for i, item in enumerate(items):
        where = f"input[{i}]" if items is raw else "input"
        if isinstance(item, str):
            if not item:
                raise _invalid_input()
            inputs.append((item, count_text(item, encoding)))
        elif isinstance(item, list):
            tokens = _token_ids(item, where, enc.n_vocab)
            inputs.append((enc.decode_bytes(tokens).decode("utf-8", "replace"), len(tokens)))
        else:
            raise ProviderError(
                400,
                f"Invalid type for '{where}': expected a string or an array of integers, but got "
                f"{type_name(item)} instead.",
                param=where,
                code="invalid_type",
            )
        if inputs[-1][1] > MAX_INPUT_TOKENS:
            raise ProviderError(
                400,
                f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you requested "
                f"{inputs[-1][1]} tokens ({inputs[-1][1]} in your prompt; 0 for the completion). Please reduce your "
                "prompt; or completion length.",
                param=where,
                code="context_length_exceeded",
            )
    return inputs


def _dimensions(body: dict[str, Any], model_id: str) -> int:
    largest = DEFAULT_DIMENSIONS.get(model_id, _UNKNOWN_MODEL_DIMENSIONS)
    if body.get("dimensions") is not None and model_id in _FIXED_DIMENSIONS:
        raise ProviderError(400, "This model does not support specifying dimensions.", param="dimensions")
    return integer_field(body, "dimensions", 1, largest) or largest


def _encoding_format(body: dict[str, Any]) -> str:
    value = body.get("encoding_format")
    if value is None:
        return "float"
    if value not in ("float", "base64"):
        raise ProviderError(
            400,
            f"Invalid value: {quoted(value)}. Supported values are: 'float' and 'base64'.",
            param="encoding_format",
            code="invalid_value",
        )
    return value


def _context_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    return ProviderError(
        400,
        f"Requested {exc.prompt_tokens} tokens, max {exc.limit} tokens per request.",
        param="input",
        code="max_tokens_per_request",
    )


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    """A parsed embeddings request: its inputs (text, tokens) and how the vectors are written."""

    model: str
    inputs: list[tuple[str, int]]
    dimensions: int
    encoding_format: str

    @property
    def prompt_tokens(self) -> int:
        return sum(tokens for _, tokens in self.inputs)

    def completion_request(self) -> CompletionRequest:
        """What the planner needs: only the token count (for the rate limit, the prefill time
        and the per-request limit), as one message that carries it, not the texts to re-tokenize."""
        counted = Message("user", "", media_tokens=self.prompt_tokens)
        return CompletionRequest(model=self.model, messages=(counted,), max_tokens=0, thinking_budget=0)

    def answer_body(self) -> bytes:
        vectors = [embedding(text, self.dimensions) for text, _ in self.inputs]
        as_base64 = self.encoding_format == "base64"
        data = [
            {"object": "embedding", "index": index, "embedding": base64_floats(v) if as_base64 else v}
            for index, v in enumerate(vectors)
        ]
        tokens = self.prompt_tokens
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return dump_json({"object": "list", "data": data, "model": self.model, "usage": usage})


def parse_embeddings_request(body: Any) -> EmbeddingsRequest:
    """The request's fields, checked as OpenAI checks them (404 for an unknown model)."""
    model = requested_model(body)
    spec = snapshots.current().model_for(model)
    if spec is None:
        raise model_not_found(model)
    inputs = parse_inputs(body.get("input"), spec.encoding)
    dimensions = _dimensions(body, spec.id)
    encoding_format = _encoding_format(body)
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise invalid_type("user", "a string", user)
    return EmbeddingsRequest(model, inputs, dimensions, encoding_format)


def embeddings_dialect(model: str) -> Dialect:
    """How embeddings word the pipeline's failures (their own words for a request too long)."""
    return dialect(model, context_exceeded=_context_exceeded)


@openai_endpoint
async def embeddings(call: Call, body: Any) -> None:
    parsed = await compute(call, parse_embeddings_request, body)
    model = parsed.model
    plan = await plan_answer(call, parsed.completion_request(), embeddings_dialect(model), rules=False)
    if plan is None:
        return
    call.prompt_tokens = parsed.prompt_tokens
    if not await wait_for_reply(call, plan, lambda fault: fault_error(fault, model)):
        return
    await send_bytes(call, 200, parsed.answer_body(), [JSON_CONTENT_TYPE, *common_headers(call)])
