"""Matching a request to a recording: one conversation shape from every provider's body,
keys per strictness, replay order, and the nearest recording for an unmatched request.

The bodies are the ones the official SDKs send (openai, anthropic, google-genai)."""

from __future__ import annotations

import pytest

from simulator.recording.cassettes import Exchange, RecordedRequest, RecordedResponse
from simulator.recording.matching import (
    STRICTNESS,
    ReplayBook,
    conversation_of,
    exchange_keys,
    is_stream,
    last_user_text,
    nearest,
    request_key,
    tool_names,
)

SYSTEM = "You are a weather assistant."
QUESTION = "What's the weather in Paris?"
FOLLOW_UP = "And tomorrow?"

# One dialogue with a tool round, as each provider's SDK sends it on the next turn.
DIALOGUE = (
    ("system", SYSTEM),
    ("user", QUESTION),
    ("assistant", "Let me check."),
    ("assistant", 'tool_call get_weather {"city":"Paris"}'),
    ("tool", "21°C, sunny"),
    ("assistant", "It is 21°C and sunny."),
    ("user", FOLLOW_UP),
)

CHAT = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": "Let me check.",
            "refusal": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "21°C, sunny"},
        {"role": "assistant", "content": "It is 21°C and sunny."},
        {"role": "user", "content": FOLLOW_UP},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "temperature": 0.2,
}

RESPONSES = {
    "model": "gpt-4o",
    "instructions": SYSTEM,
    "input": [
        {"role": "user", "content": QUESTION},
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}],
        },
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "21°C, sunny"},
        {"type": "reasoning", "id": "rs_1", "summary": []},  # not conversation text
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is 21°C and sunny."}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": FOLLOW_UP}]},
    ],
    "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": True}],
}

ANTHROPIC = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 300,
    "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check.", "citations": None},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21°C, sunny"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 21°C and sunny."}]},
        {"role": "user", "content": [{"type": "text", "text": FOLLOW_UP}]},
    ],
    "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
}

GEMINI = {
    "contents": [
        {"parts": [{"text": QUESTION}], "role": "user"},
        {
            "parts": [
                {"text": "I should call the tool.", "thought": True},  # a thought summary, not conversation
                {"text": "Let me check."},
                {"functionCall": {"args": {"city": "Paris"}, "name": "get_weather"}},
            ],
            "role": "model",
        },
        {
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "21°C, sunny"}}}],
            "role": "user",
        },
        {"parts": [{"text": "It is 21°C and sunny."}], "role": "model"},
        {"parts": [{"text": FOLLOW_UP}], "role": "user"},
    ],
    "systemInstruction": {"parts": [{"text": SYSTEM}], "role": "user"},
    "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT"}}]}],
    "generationConfig": {"temperature": 0.2},
}
GEMINI_PATH = "/v1beta/models/gemini-2.0-flash:generateContent"


@pytest.mark.parametrize(
    ("provider", "body"),
    [("openai", CHAT), ("openai", RESPONSES), ("anthropic", ANTHROPIC), ("gemini", GEMINI)],
    ids=["chat", "responses", "anthropic", "gemini"],
)
def test_the_same_dialogue_reads_the_same_from_every_provider(provider, body):
    assert conversation_of(provider, body) == DIALOGUE


def test_it_joins_chat_text_parts_and_marks_images():
    body = {
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "low"}},
                    {"type": "text", "text": "Answer in French."},
                ],
            },
        ]
    }
    assert conversation_of("openai", body) == (
        ("system", "Be brief."),
        ("user", "What is in this picture?\n[image]\nAnswer in French."),
    )


def test_a_chat_tool_call_without_text_is_only_the_call():
    body = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"b": 1, "a": 2}'},
                    },
                    {"id": "b", "type": "function", "function": {"name": "get_time", "arguments": "not json"}},
                ],
            },
            {"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": '{"temp_c": 21}'}]},
        ]
    }
    assert conversation_of("openai", body) == (
        ("user", "Weather?"),
        ("assistant", 'tool_call get_weather {"a":2,"b":1}'),
        ("assistant", "tool_call get_time not json"),
        ("tool", '{"temp_c":21}'),
    )


def test_a_responses_input_string_is_one_user_entry_after_the_instructions():
    assert conversation_of("openai", {"model": "gpt-4o", "input": "Hello", "instructions": "Be brief."}) == (
        ("system", "Be brief."),
        ("user", "Hello"),
    )


def test_a_responses_image_part_is_marked():
    body = {
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Describe"},
                    {"type": "input_image", "image_url": "https://example.com/cat.png"},
                ],
            }
        ]
    }
    assert conversation_of("openai", body) == (("user", "Describe\n[image]"),)


def test_legacy_prompts_and_embedding_inputs_are_user_entries():
    assert conversation_of("openai", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}) == (("user", "Say hi"),)
    assert conversation_of("openai", {"prompt": ["one", "two"]}) == (("user", "one"), ("user", "two"))
    embeddings = {"model": "text-embedding-3-small", "input": ["alpha", "beta"], "encoding_format": "base64"}
    assert conversation_of("openai", embeddings) == (("user", "alpha"), ("user", "beta"))
    assert conversation_of("openai", {"input": [[101, 102]]}) == ()  # token ids carry no text


def test_anthropic_system_string_images_and_structured_tool_results():
    body = {
        "system": "Be brief.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                    {"type": "text", "text": "What is this?"},
                ],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "look", "input": {}}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "a cat"}]},
                    {"type": "text", "text": "So?"},
                ],
            },
        ],
    }
    assert conversation_of("anthropic", body) == (
        ("system", "Be brief."),
        ("user", "[image]\nWhat is this?"),
        ("assistant", "tool_call look {}"),
        ("tool", "a cat"),
        ("user", "So?"),
    )


def test_gemini_without_roles_and_with_structured_function_responses():
    body = {
        "contents": [
            {"parts": [{"text": "Hello"}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": {"order": 42}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"status": "shipped"}}}]},
        ]
    }
    assert conversation_of("gemini", body) == (
        ("user", "Hello\n[image]"),
        ("assistant", 'tool_call lookup {"order":42}'),
        ("tool", '{"status":"shipped"}'),
    )


def test_gemini_embeddings_and_count_tokens_bodies_have_their_text():
    embed = {"content": {"parts": [{"text": "alpha"}]}, "taskType": "RETRIEVAL_QUERY"}
    assert conversation_of("gemini", embed) == (("user", "alpha"),)
    batch = {"requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "beta"}]}}]}
    assert conversation_of("gemini", batch) == (("user", "beta"),)
    count = {"generateContentRequest": {"model": "models/gemini-2.0-flash", "contents": [{"parts": [{"text": "hi"}]}]}}
    assert conversation_of("gemini", count) == (("user", "hi"),)


ODD_BODIES = [
    None,
    "plain text",
    [1, 2],
    {},
    {"messages": "not a list"},
    {
        "messages": [
            1,
            None,
            {"role": 5, "content": {"a": 1}},
            {"role": "assistant", "tool_calls": [3, {"function": 4}]},
        ]
    },
    {"input": [{"type": "function_call"}, {"type": "message", "content": [None, 3]}, {"type": "unknown"}]},
    {"input": 42, "prompt": {"x": 1}, "instructions": ["a"]},
    {"system": 3, "messages": [{"role": "user", "content": [{"type": "tool_result"}, {"type": "mystery"}, "x"]}]},
    {"contents": [{"parts": "x"}, {"role": "model", "parts": [None, {"functionCall": "x"}, {"inlineData": 3}]}]},
    {"systemInstruction": {"parts": None}, "contents": {"parts": [{"text": "single content"}]}},
    {"tools": "x", "functions": [None]},
    {"seed": 2**70, 1: "a key that is not a string, from a hand-edited cassette"},
]


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("body", ODD_BODIES)
def test_unknown_shapes_never_raise(provider, body):
    conversation = conversation_of(provider, body)
    assert isinstance(conversation, tuple)
    assert all(isinstance(role, str) and isinstance(text, str) and text for role, text in conversation)
    for strictness in STRICTNESS:
        assert len(request_key(provider, "POST", "/v1/x", body, strictness)) == 64


def test_last_user_text_is_the_last_user_entry():
    assert last_user_text(DIALOGUE) == FOLLOW_UP
    assert last_user_text((("system", "s"), ("assistant", "a"))) == ""
    assert last_user_text(()) == ""


def test_the_stream_flag_comes_from_the_body_or_the_gemini_path():
    assert is_stream("openai", "/v1/chat/completions", {"stream": True})
    assert not is_stream("openai", "/v1/chat/completions", {"stream": False})
    assert not is_stream("openai", "/v1/chat/completions", {"stream": "true"})
    assert is_stream("anthropic", "/v1/messages", {"stream": True})
    assert not is_stream("anthropic", "/v1/messages", None)
    assert is_stream("gemini", "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse", {})
    assert not is_stream("gemini", GEMINI_PATH, {"stream": True})


def test_tool_names_are_sorted_for_every_provider():
    assert tool_names("openai", CHAT) == ["get_weather"]
    assert tool_names("openai", RESPONSES) == ["get_weather"]
    assert tool_names("anthropic", ANTHROPIC) == ["get_weather"]
    assert tool_names("gemini", GEMINI) == ["get_weather"]
    builtin = {"tools": [{"type": "web_search"}, {"type": "function", "name": "b"}, {"type": "function", "name": "a"}]}
    assert tool_names("openai", builtin) == ["a", "b", "web_search"]
    assert tool_names("gemini", {"tools": [{"googleSearch": {}}, {"functionDeclarations": [{"name": "f"}]}]}) == [
        "f",
        "googleSearch",
    ]


def keys(provider: str, body, path: str = "/v1/chat/completions") -> dict[str, str]:
    return {strictness: request_key(provider, "POST", path, body, strictness) for strictness in STRICTNESS}


def test_a_changed_temperature_breaks_body_but_not_messages():
    before, after = keys("openai", CHAT), keys("openai", {**CHAT, "temperature": 0.9})
    assert before["body"] != after["body"]
    assert before["messages"] == after["messages"]
    assert before["last_user"] == after["last_user"]


def test_a_changed_earlier_turn_breaks_messages_but_not_last_user():
    messages = [dict(message) for message in CHAT["messages"]]
    messages[1]["content"] = "What's the weather in Lyon?"
    before, after = keys("openai", CHAT), keys("openai", {**CHAT, "messages": messages})
    assert before["body"] != after["body"]
    assert before["messages"] != after["messages"]
    assert before["last_user"] == after["last_user"]


def test_the_tools_offered_are_part_of_messages_not_last_user():
    without_tools = {name: value for name, value in ANTHROPIC.items() if name != "tools"}
    before, after = keys("anthropic", ANTHROPIC, "/v1/messages"), keys("anthropic", without_tools, "/v1/messages")
    assert before["messages"] != after["messages"]
    assert before["last_user"] == after["last_user"]


def test_the_stream_flag_is_part_of_every_key():
    plain = keys("openai", CHAT)
    streamed = keys("openai", {**CHAT, "stream": True, "stream_options": {"include_usage": True}})
    assert all(plain[strictness] != streamed[strictness] for strictness in STRICTNESS)
    # stream_options alone says nothing the stream flag does not: it is not part of "body".
    with_options = {**CHAT, "stream": True, "stream_options": {"include_usage": False}}
    assert keys("openai", with_options)["body"] == streamed["body"]


def test_gemini_streaming_and_plain_keys_differ_by_their_path():
    stream_path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent"
    plain, streamed = keys("gemini", GEMINI, GEMINI_PATH), keys("gemini", GEMINI, stream_path)
    assert all(plain[strictness] != streamed[strictness] for strictness in STRICTNESS)
    assert keys("gemini", GEMINI, stream_path + "?alt=sse") == streamed  # the query is not part of the key


def test_provider_path_and_model_are_part_of_every_key():
    base = keys("openai", CHAT)
    for other in (
        keys("anthropic", CHAT),
        keys("openai", CHAT, "/v1/responses"),
        keys("openai", {**CHAT, "model": "gpt-4o-mini"}),
        keys("gemini", GEMINI, GEMINI_PATH),
    ):
        assert all(base[strictness] != other[strictness] for strictness in STRICTNESS)
    flash, pro = keys("gemini", GEMINI, GEMINI_PATH), keys("gemini", GEMINI, GEMINI_PATH.replace("flash", "pro"))
    assert all(flash[strictness] != pro[strictness] for strictness in STRICTNESS)


def test_the_key_does_not_depend_on_key_order():
    reordered = dict(reversed(list(CHAT.items())))
    assert keys("openai", reordered) == keys("openai", CHAT)


def test_each_turn_of_a_conversation_has_its_own_key():
    turn_1 = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    turn_2 = {
        "model": "gpt-4o",
        "messages": [
            *turn_1["messages"],
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Bye"},
        ],
    }
    first, second = keys("openai", turn_1), keys("openai", turn_2)
    assert all(first[strictness] != second[strictness] for strictness in STRICTNESS)


def test_an_unknown_strictness_is_refused():
    with pytest.raises(ValueError, match="strictness must be one of body, messages, last_user"):
        request_key("openai", "POST", "/v1/chat/completions", CHAT, "exact")


def recorded(provider: str, path: str, body, body_text: str | None = None) -> Exchange:
    return Exchange(
        provider=provider,
        upstream="https://api.example.com",
        recorded_at="2026-12-07T02:10:00.123Z",
        request=RecordedRequest(method="POST", path=path, body=body, body_text=body_text),
        response=RecordedResponse(status=200, body={"ok": True}),
    )


def test_a_recorded_exchange_has_the_keys_of_the_same_live_request():
    exchange = recorded("gemini", GEMINI_PATH, GEMINI)
    assert exchange_keys(exchange) == keys("gemini", GEMINI, GEMINI_PATH)
    assert set(exchange_keys(exchange)) == set(STRICTNESS)


def test_a_recorded_body_that_was_not_json_keys_on_its_text():
    one, other = (
        recorded("openai", "/v1/chat/completions", None, "a"),
        recorded("openai", "/v1/chat/completions", None, "b"),
    )
    assert exchange_keys(one)["body"] != exchange_keys(other)["body"]
    assert exchange_keys(one)["messages"] == exchange_keys(other)["messages"]


def book_of(*recordings: tuple[str, str]) -> ReplayBook[str]:
    """A book whose recordings are names, keyed by (key at "messages", last user text)."""
    return ReplayBook(
        (({"messages": key, "last_user": key + "/last"}, name) for key, name in recordings),
        describe=lambda name: (name, name.split("#")[0]),
    )


def test_recordings_with_one_key_play_in_order_then_the_last_repeats():
    book = book_of(("k", "first#1"), ("other", "x#1"), ("k", "second#2"))
    assert [book.find("k") for _ in range(4)] == ["first#1", "second#2", "second#2", "second#2"]
    assert book.find("other") == "x#1"


def test_each_key_and_strictness_has_its_own_cursor():
    book = book_of(("k", "first"), ("k", "second"), ("j", "only"))
    assert book.find("k") == "first"
    assert book.find("j") == "only"
    assert book.find("k/last", "last_user") == "first"  # another strictness starts at the beginning
    assert book.find("k") == "second"


def test_an_unknown_key_finds_nothing():
    book = book_of(("k", "first"))
    assert book.find("nope") is None
    assert book.find("k", "body") is None  # not recorded under that strictness
    with pytest.raises(ValueError):
        book.find("k", "exact")


def test_the_book_describes_its_recordings_as_candidates():
    book = book_of(("k", "hello#1"), ("j", "goodbye#2"))
    assert book.candidates == (("hello#1", "hello"), ("goodbye#2", "goodbye"))
    assert ReplayBook([({"messages": "k"}, object())]).candidates == ()


def test_a_book_works_with_exchange_keys():
    turn_1 = recorded("openai", "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
    turn_2_body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"},
        ],
        "temperature": 1,
    }
    turn_2 = recorded("openai", "/v1/chat/completions", turn_2_body)
    book = ReplayBook((exchange_keys(exchange), exchange) for exchange in (turn_1, turn_2))
    live = {**turn_2_body, "temperature": 0}
    assert book.find(request_key("openai", "POST", "/v1/chat/completions", live, "messages")) is turn_2
    assert book.find(request_key("openai", "POST", "/v1/chat/completions", live, "body"), "body") is None


def test_nearest_names_the_most_similar_candidate():
    candidates = [
        ("a.yaml", "What's the weather in Paris?"),
        ("b.yaml", "Write a haiku about autumn."),
        ("c.yaml", "What's the weather in Lyon today?"),
    ]
    label, ratio = nearest("What's the weather in Paris today?", candidates)
    assert label == "a.yaml"
    assert 0.8 < ratio < 1.0
    assert nearest("Write a haiku about autumn.", candidates) == ("b.yaml", 1.0)


def test_nearest_without_candidates_is_none():
    assert nearest("anything", []) is None


def test_nearest_breaks_ties_by_label_and_always_answers():
    assert nearest("zzz", [("b", "abc"), ("a", "abd")]) == ("a", 0.0)
    assert nearest("same", [("b", "same"), ("a", "same")]) == ("a", 1.0)


def test_nearest_compares_only_the_first_500_candidates_by_label():
    filler = [(f"{i:04d}", "unrelated text") for i in range(500)]
    assert nearest("the exact question", [*filler, ("9999", "the exact question")])[0] != "9999"
    assert nearest("the exact question", [*filler[1:], ("0000", "the exact question")]) == ("0000", 1.0)


def test_nearest_compares_only_the_first_2000_characters():
    head = "x" * 2000
    assert nearest(head + "tail one", [("a", head + "completely different ending")]) == ("a", 1.0)
