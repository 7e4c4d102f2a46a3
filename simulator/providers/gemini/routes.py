"""Gemini's routes (the Generative Language API), under /v1beta and /v1: generateContent,
streamGenerateContent, countTokens, embedContent, batchEmbedContents and the models.

Each handler hands the parsed request (request.py) to the neutral pipeline and sends
the answer as render.py writes it; errors read as errors.py words them.
"""

from __future__ import annotations

from typing import Any

from simulator.engine.ids import new_id
from simulator.engine.schedule import sleep_until
from simulator.engine.tokens import count_prompt
from simulator.engine.types import CompletionRequest, Message
from simulator.providers.gemini.errors import DIALECT, gemini_endpoint, model_not_found
from simulator.providers.gemini.render import embeddings_json, model_json, reply_content, stream_content
from simulator.providers.gemini.request import (
    EmbedInput,
    model_of,
    parse_batch_embed_request,
    parse_count_tokens_request,
    parse_embed_request,
    parse_generate_request,
)
from simulator.server.http import (
    JSON_CONTENT_TYPE,
    Call,
    ProviderError,
    compute,
    dump_json,
    query_param,
    send_bytes,
    shorten,
    until_disconnect,
)
from simulator.server.pipeline import plan_answer
from simulator.state import snapshots

API_VERSIONS = ("/v1beta", "/v1")


async def _generate(call: Call, body: Any, stream: bool, sse: bool = True) -> None:
    request = await compute(call, parse_generate_request, model_of(call), body, stream)
    plan = await plan_answer(call, request, DIALECT)
    if plan is None:
        return
    response_id = new_id("", 96)
    if stream:
        await stream_content(call, plan, response_id, sse)
    else:
        await reply_content(call, plan, response_id)


@gemini_endpoint
async def generate_content(call: Call, body: Any) -> None:
    """models/{model}:generateContent: one GenerateContentResponse."""
    await _generate(call, body, stream=False)


@gemini_endpoint
async def stream_generate_content(call: Call, body: Any) -> None:
    """models/{model}:streamGenerateContent: SSE with ?alt=sse, else one JSON array."""
    await _generate(call, body, stream=True, sse=query_param(call, "alt") == "sse")


@gemini_endpoint
async def count_tokens(call: Call, body: Any) -> None:
    """{"contents": [...]} or {"generateContentRequest": {...}} → {"totalTokens": N}."""
    model = model_of(call)
    request = await compute(call, parse_count_tokens_request, model, body)
    spec = snapshots.current().model_for(model)
    if spec is None:
        raise model_not_found(model)
    call.model = model
    total = await compute(call, count_prompt, request.messages, request.tools, spec.encoding)
    answer = {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}
    await send_bytes(call, 200, dump_json(answer), [JSON_CONTENT_TYPE])


async def _embed(call: Call, inputs: list[EmbedInput], batch: bool) -> None:
    """Vectors for the texts, after the model's time to first token, with errors and rate limits."""
    model = model_of(call)
    texts = tuple(Message("user", item.text) for item in inputs)
    plan = await plan_answer(call, CompletionRequest(model=model, messages=texts, max_tokens=0), DIALECT, rules=False)
    if plan is None:
        return
    if plan.ttft_s > 0:
        await until_disconnect(call, sleep_until(call.arrival + plan.ttft_s))
    await send_bytes(call, 200, dump_json(embeddings_json(inputs, batch)), [JSON_CONTENT_TYPE])


@gemini_endpoint
async def embed_content(call: Call, body: Any) -> None:
    """models/{model}:embedContent: one vector."""
    await _embed(call, [parse_embed_request(body, "request", model_of(call))], batch=False)


@gemini_endpoint
async def batch_embed_contents(call: Call, body: Any) -> None:
    """models/{model}:batchEmbedContents: a vector per request."""
    await _embed(call, parse_batch_embed_request(body, model_of(call)), batch=True)


@gemini_endpoint
async def list_models(call: Call) -> None:
    """The Google profiles, paged with pageSize and pageToken (the last name of the page before)."""
    models = [spec for spec in snapshots.current().models if spec.listed and spec.provider == "google"]
    raw_size = query_param(call, "pageSize")
    size = int(raw_size) if raw_size and raw_size.isdigit() and int(raw_size) > 0 else 50
    token = query_param(call, "pageToken")
    names = [spec.id for spec in models]
    start = names.index(token) + 1 if token in names else 0
    page = models[start : start + min(size, 1000)]
    body: dict[str, Any] = {"models": [model_json(spec) for spec in page]}
    if start + len(page) < len(models):
        body["nextPageToken"] = page[-1].id
    await send_bytes(call, 200, dump_json(body), [JSON_CONTENT_TYPE])


@gemini_endpoint
async def get_model(call: Call) -> None:
    """models/{model}: one Model resource."""
    model = model_of(call)
    spec = snapshots.current().resolve(model)
    if spec is None:
        raise ProviderError(404, f"models/{shorten(model)} is not found for API version v1beta.", "not_found")
    await send_bytes(call, 200, dump_json(model_json(spec, model)), [JSON_CONTENT_TYPE])


# The methods a model takes after its colon (models/{model}:method), under each API version.
METHODS = {
    "generateContent": generate_content,
    "streamGenerateContent": stream_generate_content,
    "countTokens": count_tokens,
    "embedContent": embed_content,
    "batchEmbedContents": batch_embed_contents,
}
