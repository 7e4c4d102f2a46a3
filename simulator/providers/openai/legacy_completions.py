"""OpenAI legacy Completions: POST /v1/completions (text_completion objects).

A prompt becomes a user message for the engine: the same planner, generators,
scenarios, response rules, rate limits and latency as Chat Completions, rendered as
`choices[].text`. Usage counts the prompt as plain text (no chat framing). The shapes
are those of OpenAI's API reference ("Completions", legacy).
"""

from __future__ import annotations

import random
import time
from typing import Any

from simulator.engine import planner
from simulator.engine.ids import new_id
from simulator.engine.logprobs import text_logprobs
from simulator.engine.snapshot import ModelSpec
from simulator.engine.tokens import count_text, get_encoding
from simulator.engine.types import CompletionRequest, Message, Plan, TokenLogprob
from simulator.providers.openai.chat.render import SYSTEM_FINGERPRINT, piece_json
from simulator.providers.openai.errors import (
    common_headers,
    dialect,
    fault_error,
    model_not_found,
    openai_endpoint,
    stream_error_event,
)
from simulator.providers.openai.logprobs import LegacyLogprobs
from simulator.providers.openai.validate import (
    SAMPLING_RANGES,
    boolean_field,
    integer_field,
    invalid_type,
    missing_parameter,
    number_field,
    requested_model,
    stop_sequences,
    stream_fields,
)
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    SSE_HEADERS,
    Call,
    ProviderError,
    compute,
    dump_json,
    quoted,
    send_bytes,
    start_stream,
)
from simulator.server.pipeline import plan_answer, stream_plan, wait_for_reply
from simulator.state import snapshots

# What OpenAI generates when the request sends no max_tokens.
DEFAULT_MAX_TOKENS = 16


def _invalid_prompt() -> ProviderError:
    return ProviderError(
        400,
        "'$.prompt' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        param="prompt",
    )


def parse_prompts(raw: Any, encoding: str) -> list[tuple[str, int]]:
    """Each prompt as (text, tokens): a string, strings, token ids or lists of token ids."""
    if raw is None:
        raise missing_parameter("prompt")
    enc = get_encoding(encoding)
    if isinstance(raw, str):
        return [(raw, count_text(raw, encoding))]
    if not isinstance(raw, list):
        raise invalid_type("prompt", "a string or an array", raw)
    if not raw:
        raise _invalid_prompt()
    if all(isinstance(item, int) and not isinstance(item, bool) for item in raw):
        raw = [raw]  # token ids alone are one prompt
    prompts = []
    for i, item in enumerate(raw):
        where = f"prompt[{i}]"
        if isinstance(item, str):
            prompts.append((item, count_text(item, encoding)))
            continue
        if not isinstance(item, list) or not item:
            raise invalid_type(where, "a string or a non-empty array of integers", item)
        for j, token in enumerate(item):
            if isinstance(token, bool) or not isinstance(token, int) or not 0 <= token < enc.n_vocab:
                raise ProviderError(
                    400,
                    f"Invalid token in '{where}[{j}]': expected an integer from 0 to {enc.n_vocab - 1}, "
                    f"but got {quoted(token)}.",
                    param=f"{where}[{j}]",
                    code="invalid_value",
                )
        prompts.append((enc.decode_bytes(item).decode("utf-8", "replace"), len(item)))
    return prompts


def _parse_options(body: dict[str, Any]) -> dict[str, Any]:
    """The fields besides model and prompt, checked as OpenAI checks them."""
    for key in SAMPLING_RANGES.keys() & body.keys():
        number_field(body, key, *SAMPLING_RANGES[key])
    stream, include_usage = stream_fields(body)
    n = integer_field(body, "n", 1, 128) or 1
    best_of = integer_field(body, "best_of", 1, 20)
    if best_of is not None and best_of < n:
        raise ProviderError(400, "best_of must be greater than or equal to n.", param="best_of", code="invalid_value")
    if best_of is not None and best_of > 1 and stream:
        raise ProviderError(400, "Cannot stream results with best_of > 1.", param="best_of", code="invalid_value")
    logprobs = integer_field(body, "logprobs", 0, 5)
    for key in ("suffix", "user"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise invalid_type(key, "a string", body[key])
    max_tokens = integer_field(body, "max_tokens", 0)
    return {
        "stream": stream,
        "include_usage": include_usage,
        "n": n,
        "echo": bool(boolean_field(body, "echo")),
        "max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens,
        "stop": stop_sequences(body.get("stop")),
        "seed": integer_field(body, "seed"),
        "logprobs": logprobs,
    }


def _check_length(spec: ModelSpec, prompt_tokens: int, max_tokens: int) -> None:
    """OpenAI's legacy check: the longest prompt plus max_tokens must fit the context window."""
    if max_tokens > spec.max_output_tokens or prompt_tokens + max_tokens > spec.context_window:
        raise ProviderError(
            400,
            f"This model's maximum context length is {spec.context_window} tokens, however you requested "
            f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in your prompt; {max_tokens} for the completion). "
            "Please reduce your prompt; or completion length.",
            param="max_tokens" if max_tokens > spec.max_output_tokens else "prompt",
            code="context_length_exceeded",
        )


def _context_exceeded(exc: planner.ContextLengthExceeded) -> ProviderError:
    return ProviderError(
        400,
        f"This model's maximum context length is {exc.limit} tokens, however your prompt resulted in "
        f"{exc.prompt_tokens} tokens. Please reduce your prompt.",
        param="prompt",
        code="context_length_exceeded",
    )


def legacy_logprobs(plan: Plan, echoes: list[str], encoding: str, top: int) -> list[LegacyLogprobs]:
    """Each choice's logprobs: its echoed prompt's tokens (scored as a prompt is: the same
    prompt, the same numbers), then its answer's from the plan."""
    scored: dict[str, tuple[TokenLogprob, ...]] = {}
    for echo in echoes:
        if echo and echo not in scored:
            scored[echo] = text_logprobs(echo, encoding, random.Random(f"prompt/{echo}"), top)
    return [
        LegacyLogprobs(scored.get(echo, ()), choice.logprobs or ())
        for echo, choice in zip(echoes, plan.choices, strict=True)
    ]


def _usage_json(plan: Plan, prompt_tokens: int) -> dict[str, int]:
    completion = plan.usage.completion_tokens
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion, "total_tokens": prompt_tokens + completion}


def completion_json(
    completion_id: str,
    created: int,
    plan: Plan,
    prompt_tokens: int,
    echoes: list[str],
    logprobs: list[LegacyLogprobs] | None = None,
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": plan.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {
                "text": echoes[index] + choice.text,
                "index": index,
                "logprobs": None if logprobs is None else logprobs[index].whole(),
                "finish_reason": choice.finish_reason,
            }
            for index, choice in enumerate(plan.choices)
        ],
        "usage": _usage_json(plan, prompt_tokens),
    }


def completion_body(
    completion_id: str,
    created: int,
    plan: Plan,
    prompt_tokens: int,
    echoes: list[str],
    logprobs: list[LegacyLogprobs] | None,
    variant: Any = None,
) -> bytes:
    answer = completion_json(completion_id, created, plan, prompt_tokens, echoes, logprobs)
    if variant is not None:  # a variant's extras: Azure's content filters
        variant.annotate(answer)
    return dump_json(answer)


class TextChunkWriter:
    """Renders text_completion stream chunks: one per token of each choice, then its finish chunk."""

    def __init__(
        self,
        completion_id: str,
        created: int,
        plan: Plan,
        prompt_tokens: int,
        echoes: list[str],
        include_usage: bool,
        logprobs: list[LegacyLogprobs] | None = None,
    ) -> None:
        head = dump_json(
            {
                "id": completion_id,
                "object": "text_completion",
                "created": created,
                "model": plan.model,
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )
        self._head = b"data: " + head[:-1] + b',"choices":['
        self._plan = plan
        self._prompt_tokens = prompt_tokens
        self._echoes = echoes
        self._include_usage = include_usage
        self._logprobs = logprobs

    def _chunk(
        self,
        index: int,
        text: str,
        finish_reason: str | None = None,
        echo: str = "",
        logprobs: dict[str, Any] | None = None,
    ) -> bytes:
        reason = b"null" if finish_reason is None else b'"' + finish_reason.encode() + b'"'
        return b"".join(
            (
                self._head,
                b'{"text":',
                dump_json(echo + text) if echo else piece_json(text),  # prompts stay out of the pieces' cache
                b',"index":%d,"logprobs":' % index,
                b"null" if logprobs is None else dump_json(logprobs),
                b',"finish_reason":',
                reason,
                b"}]}\n\n",
            )
        )

    def render(self, first: int, end: int, last: bool) -> bytes:
        """Steps first..end-1; with `last`, the finish of choices without tokens, the usage and [DONE]."""
        out: list[bytes] = []
        for step in range(first, end):
            for index, choice in enumerate(self._plan.choices):
                pieces = choice.pieces
                if step < len(pieces):
                    # An echoed prompt goes out with the first token.
                    logprobs = None if self._logprobs is None else self._logprobs[index].step(step, step == 0)
                    echo = self._echoes[index] if step == 0 else ""
                    out.append(self._chunk(index, pieces[step], echo=echo, logprobs=logprobs))
                if step == len(pieces) - 1:
                    out.append(self._chunk(index, "", choice.finish_reason))
        if last:
            for index, choice in enumerate(self._plan.choices):
                if not choice.pieces:
                    if self._echoes[index]:
                        logprobs = None if self._logprobs is None else self._logprobs[index].echo_only()
                        out.append(self._chunk(index, "", echo=self._echoes[index], logprobs=logprobs))
                    out.append(self._chunk(index, "", choice.finish_reason))
            if self._include_usage:
                usage = dump_json(_usage_json(self._plan, self._prompt_tokens))
                out.append(self._head + b'],"usage":' + usage + b"}\n\n")
            out.append(b"data: [DONE]\n\n")
        return b"".join(out)


@openai_endpoint
async def completions(call: Call, body: Any) -> None:
    model = requested_model(body)
    spec = snapshots.current().model_for(model)
    if spec is None:
        raise model_not_found(model)
    prompts = await compute(call, parse_prompts, body.get("prompt"), spec.encoding)
    options = _parse_options(body)
    _check_length(spec, max(tokens for _, tokens in prompts), options["max_tokens"])

    # A batch of prompts is planned as one request: one choice per prompt and n
    # (prompt-major, as OpenAI orders them); generators and rules see the last prompt.
    n = options["n"]
    request = CompletionRequest(
        model=model,
        messages=tuple(Message("user", text) for text, _ in prompts),
        max_tokens=options["max_tokens"],
        stop=options["stop"],
        n=n * len(prompts),
        seed=options["seed"],
        stream=options["stream"],
        include_usage=options["include_usage"],
        thinking_budget=0,  # completion models answer at once, whatever profile they fall back on
        # logprobs 0 still gives each token's own logprob (in top_logprobs too), as OpenAI's does.
        logprobs=options["logprobs"] is not None,
        top_logprobs=max(options["logprobs"] or 0, 1),
    )
    plan = await plan_answer(call, request, dialect(model, context_exceeded=_context_exceeded))
    if plan is None:
        return
    prompt_tokens = sum(tokens for _, tokens in prompts)
    call.prompt_tokens = prompt_tokens
    echoes = [text if options["echo"] else "" for text, _ in prompts for _ in range(n)]
    logprobs = None
    if request.logprobs:
        logprobs = await compute(call, legacy_logprobs, plan, echoes, spec.encoding, request.top_logprobs, heavy=True)
    completion_id = new_id("cmpl-", 96)
    created = int(time.time())
    if options["stream"]:
        writer = TextChunkWriter(
            completion_id, created, plan, prompt_tokens, echoes, options["include_usage"], logprobs
        )
        await start_stream(call, [*SSE_HEADERS, *common_headers(call)])
        await stream_plan(call, plan, writer.render, lambda opening: stream_error_event(fault_error(plan.fault, model)))
    elif await wait_for_reply(call, plan, lambda fault: fault_error(fault, model)):
        body = await compute(
            call,
            completion_body,
            completion_id,
            created,
            plan,
            prompt_tokens,
            echoes,
            logprobs,
            call.variant,
            heavy=request.logprobs,
        )
        await send_bytes(call, 200, body, [JSON_CONTENT_TYPE, *common_headers(call)])
