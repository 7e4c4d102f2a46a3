"""The OpenAI Responses API against LLMSim with the official openai SDK: a plain call, a
stream with the SDK's helper, a function call answered through previous_response_id, and
structured output parsed into a pydantic model. Start LLMSim (scripts/serve), then:

    python examples/responses_client.py

LLMSIM_BASE_URL points elsewhere (default http://127.0.0.1:8000/v1); LLMSIM_MODEL picks
the model (default gpt-4o; "instant" answers without delay). Any API key will do.
"""

from __future__ import annotations

import json
import os

import openai
import pydantic

BASE_URL = os.environ.get("LLMSIM_BASE_URL", "http://127.0.0.1:8000/v1")
MODEL = os.environ.get("LLMSIM_MODEL", "gpt-4o")

client = openai.OpenAI(base_url=BASE_URL, api_key="anything")

# Responses API tools are flat: no nested "function" object as in Chat Completions.
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}


def get_weather(city: str) -> dict:
    """The tool our "agent" runs when the model asks for it."""
    return {"city": city, "temperature_c": 21, "conditions": "sunny"}


class Forecast(pydantic.BaseModel):
    city: str
    temperature_c: int
    conditions: list[str]


def plain_call() -> None:
    response = client.responses.create(model=MODEL, instructions="Be brief.", input="Say hello in one sentence.")
    print("answer:", response.output_text)
    print(
        "status:", response.status, "| usage:", response.usage.input_tokens, "in,", response.usage.output_tokens, "out"
    )


def stream() -> None:
    with client.responses.stream(model=MODEL, input="Tell me a short story.") as events:
        for event in events:
            if event.type == "response.output_text.delta":
                print(event.delta, end="", flush=True)
        final = events.get_final_response()
    print(f"\nstreamed {final.usage.output_tokens} tokens, response {final.id}")


def function_call_round_trip() -> None:
    response = client.responses.create(model=MODEL, input="What's the weather in Paris?", tools=[WEATHER_TOOL])
    while calls := [item for item in response.output if item.type == "function_call"]:
        outputs = []
        for call in calls:
            arguments = json.loads(call.arguments)
            print(f"the model calls {call.name}({arguments})")
            outputs.append(
                {
                    "type": "function_call_output",
                    "call_id": call.call_id,
                    "output": json.dumps(get_weather(**arguments)),
                }
            )
        # The server keeps the conversation: send only the results, and say what they continue.
        response = client.responses.create(
            model=MODEL, previous_response_id=response.id, input=outputs, tools=[WEATHER_TOOL]
        )
    print("final answer:", response.output_text)


def structured_output() -> None:
    response = client.responses.parse(model=MODEL, input="The forecast for Paris, please.", text_format=Forecast)
    forecast = response.output_parsed
    print("parsed:", repr(forecast))


if __name__ == "__main__":
    print("== a plain call ==")
    plain_call()
    print("\n== a stream ==")
    stream()
    print("\n== a function call, answered through previous_response_id ==")
    function_call_round_trip()
    print("\n== structured output ==")
    structured_output()
