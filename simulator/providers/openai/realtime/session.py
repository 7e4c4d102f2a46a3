"""A Realtime connection's state: the session's configuration and the conversation.

The session is kept as the JSON the server echoes (session.created / session.updated)
plus what the engine reads of it; the conversation as its items, in order, from which
each response's neutral messages are built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from simulator.engine.ids import new_id
from simulator.engine.types import Message, ToolCall, ToolDefinition

# A session lasts at most 60 minutes on the live API (expires_at on session.created).
SESSION_SECONDS = 60 * 60


def default_audio() -> dict[str, Any]:
    # No voice activity detection is simulated (turn_detection null): the client commits
    # the buffer and asks for a response itself.
    pcm = {"type": "audio/pcm", "rate": 24000}
    return {
        "input": {"format": dict(pcm), "transcription": None, "noise_reduction": None, "turn_detection": None},
        "output": {"format": dict(pcm), "voice": "alloy", "speed": 1.0},
    }


@dataclass
class SessionConfig:
    """The session as the client configured it (session.update), in the wire's words and the engine's."""

    model: str
    instructions: str = ""
    output_modalities: tuple[str, ...] = ("audio",)
    tools: tuple[ToolDefinition, ...] = ()
    tools_json: list[Any] = field(default_factory=list)
    tool_choice: Any = "auto"  # as on the wire: "auto", "none", "required" or {"type": "function", "name": ...}
    max_output_tokens: int | None = None  # None: "inf"
    audio: dict[str, Any] = field(default_factory=default_audio)
    extra: dict[str, Any] = field(default_factory=dict)  # tracing, truncation, prompt, include: echoed
    id: str = field(default_factory=lambda: new_id("sess_", 96))
    expires_at: int = field(default_factory=lambda: int(time.time()) + SESSION_SECONDS)

    @property
    def input_format(self) -> str:
        return self.audio["input"]["format"]["type"]

    @property
    def output_format(self) -> str:
        return self.audio["output"]["format"]["type"]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.id,
            "model": self.model,
            "output_modalities": list(self.output_modalities),
            "instructions": self.instructions,
            "tools": self.tools_json,
            "tool_choice": self.tool_choice,
            "max_output_tokens": "inf" if self.max_output_tokens is None else self.max_output_tokens,
            "tracing": None,
            "truncation": "auto",
            "prompt": None,
            "include": None,
            "expires_at": self.expires_at,
            "audio": self.audio,
            **self.extra,
        }


@dataclass
class Conversation:
    """The conversation's items in order, each with what the engine reads of it."""

    items: list[dict[str, Any]] = field(default_factory=list)
    # Prompt tokens of each audio item (by id): its audio is not kept, only its length.
    audio_tokens: dict[str, int] = field(default_factory=dict)

    def find(self, item_id: str) -> int | None:
        return next((i for i, item in enumerate(self.items) if item["id"] == item_id), None)

    def insert(self, item: dict[str, Any], previous_item_id: str | None) -> str | None:
        """Add `item` after `previous_item_id` ("root": first; None: last); the id it follows."""
        if previous_item_id is None:
            previous = self.items[-1]["id"] if self.items else None
            self.items.append(item)
            return previous
        if previous_item_id == "root":
            self.items.insert(0, item)
            return None
        index = self.find(previous_item_id)
        assert index is not None  # events.py has checked it
        self.items.insert(index + 1, item)
        return previous_item_id

    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def messages(self, items: list[dict[str, Any]] | None = None) -> list[Message]:
        """The neutral messages of the conversation's items (or of `items`)."""
        messages: list[Message] = []
        for item in self.items if items is None else items:
            kind = item["type"]
            if kind == "message":
                texts = [part.get("text") or part.get("transcript") or "" for part in item["content"]]
                media = self.audio_tokens.get(item["id"], 0)
                messages.append(Message(item["role"], "\n".join(t for t in texts if t), media_tokens=media))
            elif kind == "function_call":
                call = ToolCall(item["call_id"], item["name"], item["arguments"])
                last = messages[-1] if messages else None
                if last is not None and last.role == "assistant" and last.tool_calls and not last.content:
                    messages[-1] = Message("assistant", "", tool_calls=(*last.tool_calls, call))
                else:
                    messages.append(Message("assistant", "", tool_calls=(call,)))
            elif kind == "function_call_output":
                messages.append(Message("tool", item["output"], tool_call_id=item["call_id"]))
        return messages
