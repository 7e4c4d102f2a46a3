"""Chat Completions against LLMSim with the official openai SDK: a plain call, a stream
and a tool loop. Start LLMSim (scripts/serve), then:

    python examples/chat_client.py

LLMSIM_BASE_URL points elsewhere (default http://127.0.0.1:8000/v1); LLMSIM_MODEL picks
the model (default gpt-4o; "instant" answers without delay). Any API key will do.
"""

from __future__ import annotations

import json
import os

import openai

BASE_URL = os.environ.get("LLMSIM_BASE_URL", "http://127.0.0.1:8000/v1")
MODEL = os.environ.get("LLMSIM_MODEL", "gpt-4o")

client = openai.OpenAI(base_url=BASE_URL, api_key="anything")

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


def get_weather(city: str) -> dict:
    """The tool our "agent" runs when the model asks for it."""
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


def plain_call() -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one sentence."},
        ],
    )
    print("answer:", completion.choices[0].message.content)
    print("usage:", completion.usage.prompt_tokens, "in,", completion.usage.completion_tokens, "out")


def stream() -> None:
    chunks = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Tell me a short story."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in chunks:
        if chunk.choices:
            print(chunk.choices[0].delta.content or "", end="", flush=True)
        elif chunk.usage:  # the last chunk carries the usage
            print(f"\nstreamed {chunk.usage.completion_tokens} tokens")


def tool_loop() -> None:
    messages: list[dict] = [{"role": "user", "content": "What's the weather in Paris?"}]
    while True:
        message = (
            client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL]).choices[0].message
        )
        if not message.tool_calls:
            print("final answer:", message.content)
            return
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [c.model_dump() for c in message.tool_calls],
            }
        )
        for call in message.tool_calls:
            arguments = json.loads(call.function.arguments)
            print(f"the model calls {call.function.name}({arguments})")
            result = get_weather(**arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)})


if __name__ == "__main__":
    print("== a plain call ==")
    plain_call()
    print("\n== a stream ==")
    stream()
    print("\n== a tool loop ==")
    tool_loop()
