"""The request-validation vocabulary every OpenAI endpoint shares.

Each helper reads or checks one body field and raises OpenAI's 400 (a ProviderError
with the API's message, `param` and `code`) when the field is not what OpenAI's API
reference says it must be: its type, its range, its length, a function definition
or a JSON schema.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.engine.schema import SchemaError, check_schema
from simulator.engine.types import PromptCaching, ToolDefinition
from simulator.server.http import ProviderError, quoted

# Tools (or functions) one request may define.
MAX_TOOLS = 128

# Sampling parameters the simulator accepts, checks and otherwise ignores.
SAMPLING_RANGES = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2), "frequency_penalty": (-2, 2)}

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def type_name(value: Any) -> str:
    """How OpenAI's messages name a JSON value's type ("an object", "a string"...)."""
    return _JSON_TYPE_NAMES.get(type(value), "an unknown type")


def invalid_type(param: str, expected: str, value: Any) -> ProviderError:
    """400 invalid_type: `param` should be `expected`."""
    return ProviderError(
        400,
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.",
        param=param,
        code="invalid_type",
    )


def missing_parameter(param: str) -> ProviderError:
    """400 missing_required_parameter."""
    return ProviderError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def string_field(body: dict[str, Any], key: str, where: str, required: bool = False) -> str | None:
    """`body[key]` as a string (None when absent and not required); `where` names the object in errors."""
    value = body.get(key)
    if value is None:
        if required:
            raise missing_parameter(f"{where}.{key}")
        return None
    if not isinstance(value, str):
        raise invalid_type(f"{where}.{key}", "a string", value)
    return value


def integer_field(body: dict, key: str, low: int | None = None, high: int | None = None) -> int | None:
    """The integer `body[key]` (None when absent), within low..high."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(key, "an integer", value)
    if low is not None and value < low:
        raise ProviderError(
            400,
            f"Invalid '{key}': integer below minimum value. Expected a value >= {low}, but got {value} instead.",
            param=key,
            code="integer_below_min_value",
        )
    if high is not None and value > high:
        raise ProviderError(
            400,
            f"Invalid '{key}': integer above maximum value. Expected a value <= {high}, but got {value} instead.",
            param=key,
            code="integer_above_max_value",
        )
    return value


def number_field(body: dict, key: str, low: float, high: float) -> float | None:
    """The number `body[key]` (None when absent), within low..high."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(key, "a number", value)
    if value < low:
        raise ProviderError(
            400,
            f"Invalid '{key}': decimal below minimum value. Expected a value >= {low:g}, but got {value} instead.",
            param=key,
            code="decimal_below_min_value",
        )
    if value > high:
        raise ProviderError(
            400,
            f"Invalid '{key}': decimal above maximum value. Expected a value <= {high:g}, but got {value} instead.",
            param=key,
            code="decimal_above_max_value",
        )
    return float(value)


def boolean_field(body: dict, key: str) -> bool | None:
    """The boolean `body[key]` (None when absent)."""
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise invalid_type(key, "a boolean", value)
    return value


def body_object(body: Any) -> dict[str, Any]:
    """The request body, once it is known to be a JSON object."""
    if not isinstance(body, dict):
        raise ProviderError(400, f"Invalid request body: expected a JSON object, but got {type_name(body)}.")
    return body


_FUNCTION_NAME = re.compile(r"[a-zA-Z0-9_-]+")


def too_long(param: str, limit: int, length: int, what: str = "array") -> ProviderError:
    """400 for an array (or, with `what="string"`, a string) longer than `limit`."""
    noun = "an array" if what == "array" else "a string"
    return ProviderError(
        400,
        f"Invalid '{param}': {what} too long. Expected {noun} with maximum length {limit}, but got {noun} with "
        f"length {length} instead.",
        param=param,
        code=f"{what}_above_max_length",
    )


def function_name(value: Any, param: str) -> str:
    """A function's (or schema's) name: required, at most 64 of a-z, A-Z, 0-9, _ and -."""
    if value is None:
        raise missing_parameter(param)
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    if len(value) > 64:
        raise too_long(param, 64, len(value), "string")
    if not _FUNCTION_NAME.fullmatch(value):
        raise ProviderError(
            400,
            f"Invalid '{param}': string does not match pattern. Expected a string that matches the pattern "
            "'^[a-zA-Z0-9_-]+$'.",
            param=param,
            code="invalid_value",
        )
    return value


def object_schema(value: Any, param: str, owner: str, code: str, strict: bool = False) -> dict[str, Any] | None:
    """A function's or response format's JSON schema, checked: an object schema we can answer to."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    root_type = value.get("type", "object")
    if root_type != "object":
        raise ProviderError(
            400,
            f"Invalid schema for {owner}: schema must be a JSON Schema of 'type: \"object\"', got "
            f"'type: \"{root_type}\"'.",
            param=param,
            code=code,
        )
    try:
        check_schema(value, param)
    except SchemaError as exc:
        raise ProviderError(400, f"Invalid schema for {owner}: {exc}", param=param, code=code) from exc
    if strict:
        fault = strict_schema_fault(value)
        if fault:
            raise ProviderError(400, f"Invalid schema for {owner}: {fault}", param=param, code=code)
    return value


def strict_schema_fault(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI's strict mode refuses: an object that allows extra keys or leaves a property optional."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            fault = strict_schema_fault(item, (*context, str(i)))
            if fault:
                return fault
        return None
    if not isinstance(schema, dict):
        return None
    where = f"In context={quoted(context)}"
    if schema.get("type") == "object" or "properties" in schema:
        if schema.get("additionalProperties") is not False:
            return f"{where}, 'additionalProperties' is required to be supplied and to be false."
        properties = schema.get("properties") or {}
        missing = [key for key in properties if key not in (schema.get("required") or [])]
        if missing:
            return (
                f"{where}, 'required' is required to be supplied and to be an array including every key in "
                f"properties. Missing '{missing[0]}'."
            )
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            for name, sub in value.items():
                fault = strict_schema_fault(sub, (*context, key, name))
                if fault:
                    return fault
        elif key in ("items", "anyOf", "allOf", "oneOf", "prefixItems", "not"):
            fault = strict_schema_fault(value, (*context, key))
            if fault:
                return fault
    return None


def function_definition(function: Any, param: str) -> ToolDefinition:
    """A function definition: tools[i].function, or functions[i] (legacy)."""
    if not isinstance(function, dict):
        raise invalid_type(param, "an object", function)
    name = function_name(function.get("name"), f"{param}.name")
    description = function.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid_type(f"{param}.description", "a string", description)
    if description is not None and len(description) > 1024:
        raise too_long(f"{param}.description", 1024, len(description), "string")
    strict = function.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise invalid_type(f"{param}.strict", "a boolean", strict)
    parameters = object_schema(
        function.get("parameters"),
        f"{param}.parameters",
        f"function '{name}'",
        "invalid_function_parameters",
        bool(strict),
    )
    return ToolDefinition(name=name, description=description or "", parameters=parameters, strict=bool(strict))


def stop_sequences(raw: Any) -> tuple[str, ...]:
    """`stop`: a string or up to four strings."""
    if raw is None:
        return ()
    if isinstance(raw, str):
        return (raw,)
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise invalid_type("stop", "a string or an array of strings", raw)
    if len(raw) > 4:
        raise ProviderError(
            400,
            f"Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length "
            f"{len(raw)} instead.",
            param="stop",
            code="array_above_max_length",
        )
    return tuple(raw)


def requested_model(body: Any) -> str:
    """The body's `model`, once the body is known to be a JSON object (400s as OpenAI words them)."""
    model = body_object(body).get("model")
    if model is None or model == "":
        raise ProviderError(400, "you must provide a model parameter")
    if not isinstance(model, str):
        raise invalid_type("model", "a string", model)
    return model


def stream_fields(body: dict[str, Any]) -> tuple[bool, bool]:
    """`stream`, and whether `stream_options.include_usage` asks for the usage chunk."""
    stream = bool(boolean_field(body, "stream"))
    stream_options = body.get("stream_options")
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise invalid_type("stream_options", "an object", stream_options)
        if not stream:
            raise ProviderError(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
    return stream, bool(stream_options and stream_options.get("include_usage"))


def invalid_value(param: str, value: Any, allowed: tuple[str, ...]) -> ProviderError:
    """400 invalid_value listing the supported values, as the Responses API words it."""
    listed = ", ".join(f"'{a}'" for a in allowed[:-1]) + f", and '{allowed[-1]}'" if len(allowed) > 1 else allowed[0]
    return ProviderError(
        400, f"Invalid value: {quoted(value)}. Supported values are: {listed}.", param=param, code="invalid_value"
    )


# Prompt caching (https://platform.openai.com/docs/guides/prompt-caching): prefixes of
# 1,024 tokens or more (the model profile's minimum), reported in steps of 128 tokens. An
# in-memory prefix is typically cleared after 5 to 10 minutes of inactivity: we keep the
# upper figure. Extended retention ("24h") keeps it up to a day.
CACHE_STEP_TOKENS = 128
CACHE_RETENTION_S = {"in_memory": 600.0, "24h": 86_400.0}


IN_MEMORY_CACHING = PromptCaching(ttl_s=CACHE_RETENTION_S["in_memory"], step_tokens=CACHE_STEP_TOKENS)


def prompt_caching(body: dict[str, Any]) -> PromptCaching:
    """The request's prompt caching: `prompt_cache_key` and `prompt_cache_retention`."""
    if "prompt_cache_key" not in body and "prompt_cache_retention" not in body:
        return IN_MEMORY_CACHING  # most requests: nothing to read, nothing to make
    key = body.get("prompt_cache_key")
    if key is not None and not isinstance(key, str):
        raise invalid_type("prompt_cache_key", "a string", key)
    retention = body.get("prompt_cache_retention")
    if retention is None:
        retention = "in_memory"
    if not isinstance(retention, str) or retention not in CACHE_RETENTION_S:
        raise invalid_value("prompt_cache_retention", retention, tuple(CACHE_RETENTION_S))
    return PromptCaching(ttl_s=CACHE_RETENTION_S[retention], step_tokens=CACHE_STEP_TOKENS, key=key or "")
