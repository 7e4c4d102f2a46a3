"""The Assistants API (client.beta): assistants, threads, messages, runs, tool calls, streaming."""

from __future__ import annotations

import json
import time

import openai
import pytest
from openai import AssistantEventHandler

from tests.conftest import INSTANT, post

# Runs, threads and their JSON behave alike on every server (streaming is tested on all of them elsewhere).
LIVE_SERVERS = ("serve",)

# Every client.beta method is marked deprecated by the SDK (the API is sunset upstream).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODEL = "gpt-4o-mini"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city", "unit"],
        },
    },
}


@pytest.fixture
def beta(llmsim_server):
    """The SDK with answers at once (INSTANT) and the poll helpers' default interval."""
    with openai.OpenAI(
        base_url=f"{llmsim_server.base_url}/v1", api_key="test", max_retries=0, default_headers=INSTANT
    ) as sdk:
        yield sdk.beta


@pytest.fixture
def assistant(beta):
    return beta.assistants.create(model=MODEL, name="Helper", instructions="Be brief.")


@pytest.fixture
def weather_assistant(beta):
    return beta.assistants.create(model=MODEL, instructions="Use tools.", tools=[WEATHER])


def new_thread(beta, text: str = "Hello there"):
    return beta.threads.create(messages=[{"role": "user", "content": text}])


def texts_of(messages) -> list[str]:
    return [message.content[0].text.value for message in messages]


# --- assistants, threads, messages ---------------------------------------------------------


def test_an_assistant_is_created_retrieved_listed_and_deleted(beta):
    created = beta.assistants.create(
        model=MODEL, name="Bot", description="d", instructions="i", tools=[WEATHER], metadata={"team": "qa"}
    )
    assert created.id.startswith("asst_") and created.object == "assistant"
    assert created.tools[0].function.name == "get_weather" and created.metadata == {"team": "qa"}
    assert beta.assistants.retrieve(created.id) == created
    assert created.id in [a.id for a in beta.assistants.list(limit=100)]
    deleted = beta.assistants.delete(created.id)
    assert deleted.deleted and deleted.id == created.id and deleted.object == "assistant.deleted"
    with pytest.raises(openai.NotFoundError) as raised:
        beta.assistants.retrieve(created.id)
    assert raised.value.body["message"] == f"No assistant found with id '{created.id}'."


def test_a_thread_keeps_its_messages_in_order(beta):
    thread = beta.threads.create(messages=[{"role": "user", "content": "one"}], metadata={"k": "v"})
    assert thread.id.startswith("thread_") and thread.metadata == {"k": "v"}
    added = beta.threads.messages.create(thread.id, role="user", content=[{"type": "text", "text": "two"}])
    assert added.object == "thread.message" and added.thread_id == thread.id and added.role == "user"
    assert texts_of(beta.threads.messages.list(thread.id, order="asc")) == ["one", "two"]
    assert texts_of(beta.threads.messages.list(thread.id)) == ["two", "one"]  # newest first by default
    assert beta.threads.messages.retrieve(added.id, thread_id=thread.id).id == added.id
    assert beta.threads.retrieve(thread.id).id == thread.id
    assert beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        beta.threads.retrieve(thread.id)


def test_lists_page_with_cursors(beta):
    thread = beta.threads.create(messages=[{"role": "user", "content": str(i)} for i in range(5)])
    first = beta.threads.messages.list(thread.id, limit=2, order="asc")
    assert texts_of(first.data) == ["0", "1"] and first.has_more
    assert texts_of(beta.threads.messages.list(thread.id, limit=2, order="asc")) == [str(i) for i in range(5)]
    before = beta.threads.messages.list(thread.id, order="asc", before=first.data[1].id)
    assert texts_of(before.data) == ["0"] and not before.has_more


# --- runs -----------------------------------------------------------------------------------


def test_create_and_poll_completes_and_writes_the_answer(beta, assistant):
    thread = new_thread(beta)
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed" and run.id.startswith("run_") and run.object == "thread.run"
    assert run.model == MODEL and run.instructions == "Be brief." and run.completed_at
    assert run.usage.prompt_tokens > 0 and run.usage.completion_tokens > 0
    latest = beta.threads.messages.list(thread.id).data[0]
    assert latest.role == "assistant" and latest.run_id == run.id and latest.assistant_id == assistant.id
    assert latest.content[0].type == "text" and latest.content[0].text.value
    assert [r.id for r in beta.threads.runs.list(thread.id)] == [run.id]


def test_a_run_is_queued_then_in_progress_until_its_answer_is_due(beta, assistant):
    thread = new_thread(beta)
    slow = {"x-llmsim-ttft-ms": "400", "x-llmsim-tbt-ms": "0"}
    started = time.monotonic()
    run = beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, extra_headers=slow)
    assert run.status == "queued" and run.usage is None
    assert beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "in_progress"
    done = beta.threads.runs.poll(run.id, thread_id=thread.id)  # waits as the server's openai-poll-after-ms says
    assert done.status == "completed" and 0.38 <= time.monotonic() - started < 3


def test_a_tool_call_waits_for_its_output_then_the_run_completes(beta, weather_assistant):
    thread = new_thread(beta, "What is the weather in Paris?")
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=weather_assistant.id)
    assert run.status == "requires_action" and run.usage is None
    (tool_call,) = run.required_action.submit_tool_outputs.tool_calls
    assert tool_call.id.startswith("call_") and tool_call.type == "function"
    assert tool_call.function.name == "get_weather"
    arguments = json.loads(tool_call.function.arguments)
    assert isinstance(arguments["city"], str) and arguments["unit"] in ("c", "f")

    done = beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": tool_call.id, "output": "22 degrees"}]
    )
    assert done.status == "completed" and done.required_action is None
    answer = beta.threads.messages.list(thread.id).data[0]
    assert answer.role == "assistant" and "22 degrees" in answer.content[0].text.value
    assert done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0


def test_tool_choice_names_one_of_the_assistants_tools(beta, weather_assistant):
    thread = new_thread(beta, "Anything")
    named = {"type": "function", "function": {"name": "get_weather"}}
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=weather_assistant.id, tool_choice=named)
    assert run.status == "requires_action" and run.tool_choice.function.name == "get_weather"
    beta.threads.runs.cancel(run.id, thread_id=thread.id)
    unknown = {"type": "function", "function": {"name": "get_time"}}
    with pytest.raises(openai.BadRequestError) as raised:
        beta.threads.runs.create(thread_id=thread.id, assistant_id=weather_assistant.id, tool_choice=unknown)
    assert raised.value.param == "tool_choice"
    assert beta.threads.runs.list(thread.id).data[0].id == run.id  # the refused run was not created


def test_create_thread_and_run_in_one_call(beta, assistant):
    run = beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi"}]}
    )
    assert run.status == "completed"
    assert [m.role for m in beta.threads.messages.list(run.thread_id, order="asc")] == ["user", "assistant"]


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.deltas: list[str] = []

    def on_event(self, event) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta, snapshot) -> None:
        self.deltas.append(delta.value)


def test_a_streamed_run_sends_the_events_the_handler_expects(beta, assistant):
    thread = new_thread(beta)
    handler = Recorder()
    with beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler, extra_headers={"x-llmsim-tokens": "5"}
    ) as stream:
        stream.until_done()
    assert handler.events[:5] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ]
    assert handler.events[5:] == ["thread.message.delta"] * 5 + ["thread.message.completed", "thread.run.completed"]
    (message,) = handler.get_final_messages()
    assert message.content[0].text.value == "".join(handler.deltas) and len(handler.deltas) == 5
    run = handler.get_final_run()
    assert run.status == "completed" and run.usage.completion_tokens == 5
    # What the stream said is what the API now says.
    assert beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "completed"
    assert beta.threads.messages.list(thread.id).data[0].id == message.id


def test_a_streamed_tool_call_then_streamed_outputs(beta, weather_assistant):
    thread = new_thread(beta, "Weather in Oslo?")
    with beta.threads.runs.stream(thread_id=thread.id, assistant_id=weather_assistant.id) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "requires_action"
    (tool_call,) = run.required_action.submit_tool_outputs.tool_calls
    handler = Recorder()
    with beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": tool_call.id, "output": "snowing"}],
        event_handler=handler,
    ) as stream:
        stream.until_done()
    assert handler.events[0] == "thread.run.queued" and handler.events[-1] == "thread.run.completed"
    assert "snowing" in handler.get_final_messages()[0].content[0].text.value


def test_the_raw_stream_ends_with_done(llmsim_server, beta, assistant):
    thread = new_thread(beta)
    body = {"assistant_id": assistant.id, "stream": True}
    status, headers, text = post(
        llmsim_server, f"/v1/threads/{thread.id}/runs", body, {**INSTANT, "OpenAI-Beta": "assistants=v2"}
    )
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [event for event in text.split("\n\n") if event]
    assert all(event.startswith("event: ") and "\ndata: " in event for event in events)
    assert events[-1] == "event: done\ndata: [DONE]"


def test_a_run_can_be_cancelled_while_in_progress(beta, assistant):
    thread = new_thread(beta)
    run = beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, extra_headers={"x-llmsim-ttft-ms": "60000"}
    )
    with pytest.raises(openai.BadRequestError) as raised:
        beta.threads.messages.create(thread.id, role="user", content="more")
    assert raised.value.body["message"] == f"Can't add messages to {thread.id} while a run {run.id} is active."
    with pytest.raises(openai.BadRequestError) as raised:
        beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert raised.value.body["message"] == f"Thread {thread.id} already has an active run {run.id}."
    assert beta.threads.runs.cancel(run.id, thread_id=thread.id).status == "cancelling"
    cancelled = beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    with pytest.raises(openai.BadRequestError) as raised:
        beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert raised.value.body["message"] == "Cannot cancel run with status 'cancelled'."
    beta.threads.messages.create(thread.id, role="user", content="now it is free")


def test_max_completion_tokens_leaves_the_run_incomplete(beta, assistant):
    thread = new_thread(beta)
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=3)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 3


def test_scenarios_and_rules_answer_runs(beta, assistant, module_scenarios):
    module_scenarios(
        "assistant-rules",
        rules=[
            {"match_last_user": "refund", "action": {"text": "Refund approved."}},
            {"match_last_user": "crash", "action": {"generate": True, "fault": {"kind": "error", "after_tokens": 2}}},
        ],
    )
    headers = {"x-llmsim-scenario": "assistant-rules"}
    thread = new_thread(beta, "I want a refund")
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, extra_headers=headers)
    assert run.status == "completed"
    assert beta.threads.messages.list(thread.id).data[0].content[0].text.value == "Refund approved."
    thread = new_thread(beta, "crash please")
    failed = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, extra_headers=headers)
    assert failed.status == "failed" and failed.last_error.code == "server_error" and failed.failed_at


def test_an_injected_error_answers_the_run_request(beta, assistant):
    thread = new_thread(beta)
    with pytest.raises(openai.RateLimitError):
        beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, extra_headers={"x-llmsim-error": "429"}
        )
    assert beta.threads.runs.list(thread.id).data == []


# --- errors ----------------------------------------------------------------------------------


def test_unknown_ids_get_openais_404(beta, assistant):
    thread = new_thread(beta)
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    cases = [
        (lambda: beta.threads.retrieve("thread_nope"), "No thread found with id 'thread_nope'."),
        (lambda: beta.threads.delete("thread_nope"), "No thread found with id 'thread_nope'."),
        (lambda: beta.threads.messages.list("thread_nope"), "No thread found with id 'thread_nope'."),
        (
            lambda: beta.threads.messages.retrieve("msg_nope", thread_id=thread.id),
            "No message found with id 'msg_nope'.",
        ),
        (
            lambda: beta.threads.runs.create(thread_id="thread_nope", assistant_id=assistant.id),
            "No thread found with id 'thread_nope'.",
        ),
        (
            lambda: beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_nope"),
            "No assistant found with id 'asst_nope'.",
        ),
        (lambda: beta.threads.runs.retrieve("run_nope", thread_id=thread.id), "No run found with id 'run_nope'."),
        (
            lambda: beta.threads.runs.retrieve(run.id, thread_id=new_thread(beta).id),
            f"No run found with id '{run.id}'.",
        ),
        (lambda: beta.threads.runs.cancel("run_nope", thread_id=thread.id), "No run found with id 'run_nope'."),
        (lambda: beta.assistants.delete("asst_nope"), "No assistant found with id 'asst_nope'."),
    ]
    for request, message in cases:
        with pytest.raises(openai.NotFoundError) as raised:
            request()
        assert raised.value.body["message"] == message and raised.value.type == "invalid_request_error"


def test_tool_outputs_must_answer_the_calls_asked_for(beta, assistant, weather_assistant):
    thread = new_thread(beta, "Weather in Rome?")
    run = beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=weather_assistant.id)
    (tool_call,) = run.required_action.submit_tool_outputs.tool_calls
    with pytest.raises(openai.BadRequestError) as raised:
        beta.threads.runs.submit_tool_outputs(
            run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_other", "output": "x"}]
        )
    assert raised.value.param == "tool_outputs" and tool_call.id in raised.value.body["message"]
    done = beta.threads.runs.create_and_poll(thread_id=new_thread(beta).id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as raised:
        beta.threads.runs.submit_tool_outputs(done.id, thread_id=done.thread_id, tool_outputs=[])
    assert raised.value.body["message"] == 'Runs in status "completed" do not accept tool outputs.'


@pytest.mark.parametrize(
    ("path", "body", "param", "code"),
    [
        ("/v1/assistants", {"name": "x"}, "model", "missing_required_parameter"),
        ("/v1/assistants", {"model": 5}, "model", "invalid_type"),
        ("/v1/assistants", {"model": MODEL, "tools": [{"type": "web"}]}, "tools[0].type", "invalid_value"),
        (
            "/v1/assistants",
            {"model": MODEL, "tools": [{"type": "function"}]},
            "tools[0].function",
            "missing_required_parameter",
        ),
        ("/v1/assistants", {"model": MODEL, "metadata": {"k": 1}}, "metadata.k", "invalid_type"),
        ("/v1/assistants", {"model": MODEL, "temperature": 3}, "temperature", "decimal_above_max_value"),
        ("/v1/assistants", {"model": MODEL, "name": "n" * 300}, "name", "string_above_max_length"),
        ("/v1/threads", {"messages": [{"role": "system", "content": "x"}]}, "messages[0].role", "invalid_value"),
        ("/v1/threads", {"messages": [{"role": "user"}]}, "messages[0].content", "missing_required_parameter"),
        ("/v1/threads", {"messages": "hi"}, "messages", "invalid_type"),
        ("/v1/threads/runs", {}, "assistant_id", "missing_required_parameter"),
        ("/v1/threads/runs", {"assistant_id": "a", "thread": []}, "thread", "invalid_type"),
    ],
)
def test_bad_requests_get_openais_400(llmsim_server, path, body, param, code):
    status, _, payload = post(llmsim_server, path, body, {"OpenAI-Beta": "assistants=v2"})
    assert status == 400
    assert payload["error"]["param"] == param and payload["error"]["code"] == code


def test_bad_messages_and_runs_on_a_thread_get_400(llmsim_server, beta):
    thread = new_thread(beta)
    cases = [
        (f"/v1/threads/{thread.id}/messages", {"role": "user", "content": ""}, "content"),
        (f"/v1/threads/{thread.id}/messages", {"role": "user", "content": [{"type": "audio"}]}, "content[0].type"),
        (f"/v1/threads/{thread.id}/runs", {"assistant_id": 1}, "assistant_id"),
        (f"/v1/threads/{thread.id}/runs", {"assistant_id": "a", "tools": "x"}, "tools"),
        (f"/v1/threads/{thread.id}/runs/run_x/submit_tool_outputs", {}, "tool_outputs"),
    ]
    for path, body, param in cases:
        status, _, payload = post(llmsim_server, path, body)
        assert (status, payload["error"]["param"]) == (400, param), path


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "order=up", "after=msg_unknown"])
def test_bad_list_parameters_get_400(beta, query):
    thread = new_thread(beta)
    with pytest.raises(openai.BadRequestError) as raised:
        beta.threads.messages.list(thread.id, extra_query=dict([query.split("=")]))
    assert raised.value.param == query.split("=")[0]


def test_a_request_puts_at_most_32_messages_in_a_thread(beta, assistant):
    messages = [{"role": "user", "content": f"Message {n}"} for n in range(33)]
    thread = new_thread(beta)
    attempts = [
        ("messages", lambda: beta.threads.create(messages=messages)),
        (
            "thread.messages",
            lambda: beta.threads.create_and_run(assistant_id=assistant.id, thread={"messages": messages}),
        ),
        (
            "additional_messages",
            lambda: beta.threads.runs.create(thread.id, assistant_id=assistant.id, additional_messages=messages),
        ),
    ]
    for param, attempt in attempts:
        with pytest.raises(openai.BadRequestError) as raised:
            attempt()
        assert raised.value.body == {
            "message": f"Invalid '{param}': array too long. Expected an array with maximum length 32, but got an "
            "array with length 33 instead.",
            "type": "invalid_request_error",
            "param": param,
            "code": "array_above_max_length",
        }
    full = beta.threads.create(messages=messages[:32])
    assert len(beta.threads.messages.list(full.id, limit=100).data) == 32


def test_a_message_holds_at_most_256000_characters(beta):
    thread = new_thread(beta)
    for content, param in [("x" * 256_001, "content"), ([{"type": "text", "text": "x" * 256_001}], "content[0].text")]:
        with pytest.raises(openai.BadRequestError) as raised:
            beta.threads.messages.create(thread.id, role="user", content=content)
        assert raised.value.body == {
            "message": f"Invalid '{param}': string too long. Expected a string with maximum length 256000, but got a "
            "string with length 256001 instead.",
            "type": "invalid_request_error",
            "param": param,
            "code": "string_above_max_length",
        }
    beta.threads.messages.create(thread.id, role="user", content="x" * 256_000)
