"""The Realtime WebSocket: a Channels consumer running each response on the shared pipeline.

Each response.create is one answer of the pipeline (simulator.server.pipeline): the
connection's headers pick the scenario (x-llmsim-scenario) and the x-llmsim-*
overrides, and its rules, rate limits, faults and stats apply as on the HTTP routes.
A response runs as a task of its own, so that the client's events (response.cancel
among them) are read while it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from simulator.engine.ids import new_id
from simulator.engine.schedule import pacer, sleep_until
from simulator.engine.types import CompletionRequest, Message
from simulator.providers.openai.errors import dialect, error_json, fault_error, model_not_found
from simulator.providers.openai.realtime import audio, events
from simulator.providers.openai.realtime.events import ResponseOptions
from simulator.providers.openai.realtime.render import (
    Event,
    ResponseRenderer,
    error_event,
    rate_limits_event,
    server_event,
)
from simulator.providers.openai.realtime.session import Conversation, SessionConfig
from simulator.server.http import Call, ProviderError, api_key_of, new_call, query_param
from simulator.server.pipeline import give_back, plan_answer
from simulator.state import snapshots
from stats.recorder import recorder

logger = logging.getLogger(__name__)

ROUTE = "/v1/realtime"
# Browsers cannot set headers on a WebSocket: they send the key as a subprotocol.
KEY_SUBPROTOCOL = "openai-insecure-api-key."
# How the live API closes a session it refuses after the handshake: 3000 and "<type>.<code>".
REFUSED_CLOSE_CODE = 3000


class RealtimeConsumer(AsyncWebsocketConsumer):
    """One Realtime session: its configuration, conversation, input audio buffer and active response."""

    async def connect(self) -> None:
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in self.scope["headers"]}
        self.gone = asyncio.Event()
        self.active: asyncio.Task[None] | None = None
        self.cancelling = False
        self.conversation = Conversation()
        self.buffered_audio = 0  # bytes in the input audio buffer (the audio itself is not kept)
        protocols = [p.strip() for p in self.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        for protocol in protocols:
            if protocol.startswith(KEY_SUBPROTOCOL) and "authorization" not in self.headers:
                self.headers["authorization"] = "Bearer " + protocol[len(KEY_SUBPROTOCOL) :]
        await self.accept("realtime" if "realtime" in protocols else None)
        call = self._call()
        model = query_param(call, "model")
        refusal = None
        if settings.LLMSIM_REQUIRE_API_KEY and api_key_of(call) is None:
            refusal = ProviderError(
                401,
                "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
                "(Authorization: Bearer YOUR_KEY).",
                "authentication",
                code="missing_api_key",
            )
        elif not model:
            refusal = ProviderError(400, "Missing required parameter: 'model'.", param="model", code="missing_model")
        elif snapshots.current().model_for(model) is None:
            refusal = model_not_found(model, param="model")
        if refusal is not None:  # as the live API refuses: an error event, then the close
            error = error_json(refusal)
            await self._send([error_event(error, None)])
            await self.close(REFUSED_CLOSE_CODE, f"{error['type']}.{error['code']}")
            return
        self.session = SessionConfig(model=model)
        await self._send([server_event("session.created", session=self.session.to_json())])

    async def disconnect(self, code: int) -> None:
        self.gone.set()
        if self.active is not None:
            self.active.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.active

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "session"):
            return  # refused: what is still on the way goes unanswered
        event_id = None
        try:
            data = text_data if text_data is not None else bytes_data or b""
            if len(data) > events.MAX_EVENT_BYTES:
                raise ProviderError(
                    400,
                    f"The event is too large: {len(data)} bytes; the maximum is {events.MAX_EVENT_BYTES} bytes.",
                    code="event_too_large",
                )
            if text_data is None:
                raise ProviderError(
                    400, "Events are JSON text messages; binary messages are not read.", code="invalid_event"
                )
            event = events.read_event(text_data)
            if isinstance(event.get("event_id"), str):
                event_id = event["event_id"]  # named in the error, if the event turns out bad
            events.check_event(event)
            await self._handle(event)
        except ProviderError as error:
            await self._send([error_event(error_json(error), event_id)])
        except Exception:  # a bug must not end the session: the client gets a server_error
            logger.exception("realtime: unexpected error on a client event")
            error = {"type": "server_error", "code": None, "message": "The server had an error.", "param": None}
            await self._send([error_event(error, event_id)])

    # --- client events ---------------------------------------------------------------------

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        conversation = self.conversation
        if kind == "session.update":
            self.session = events.update_session(event.get("session"), self.session)
            await self._send([server_event("session.updated", session=self.session.to_json())])
        elif kind == "conversation.item.create":
            previous = events.previous_item(event.get("previous_item_id"), conversation)
            new = events.read_item(event.get("item"), conversation)
            await self._add_item(new.item, previous, new.audio_bytes)
        elif kind == "input_audio_buffer.append":
            self.buffered_audio += len(events.decode_audio(event.get("audio"), "audio"))
        elif kind == "input_audio_buffer.clear":
            self.buffered_audio = 0
            await self._send([server_event("input_audio_buffer.cleared")])
        elif kind == "input_audio_buffer.commit":
            await self._commit_audio()
        elif kind == "response.create":
            await self._create_response(event)
        elif kind == "response.cancel":
            await self._cancel_response(event.get("response_id"))
        elif kind in ("conversation.item.retrieve", "conversation.item.delete", "conversation.item.truncate"):
            await self._item_event(kind, event)
        else:  # output_audio_buffer.clear: WebRTC and SIP only
            raise ProviderError(
                400, f"The event '{kind}' is only supported for WebRTC and SIP connections.", code="unsupported_event"
            )

    async def _add_item(self, item: dict[str, Any], previous: str | None, audio_bytes: int = 0) -> None:
        if audio_bytes:
            self.conversation.audio_tokens[item["id"]] = audio.input_audio_tokens(
                audio_bytes, self.session.input_format
            )
        follows = self.conversation.insert(item, previous)
        await self._send(
            [
                server_event("conversation.item.added", previous_item_id=follows, item=item),
                server_event("conversation.item.done", previous_item_id=follows, item=item),
            ]
        )

    async def _commit_audio(self) -> None:
        seconds = audio.seconds_of(self.buffered_audio, self.session.input_format)
        if seconds < audio.MIN_COMMIT_SECONDS:
            raise ProviderError(
                400,
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, but buffer "
                f"only has {seconds * 1000:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        # No speech is recognised: the item has no transcript (as with transcription off) and
        # counts as audio prompt tokens of its length.
        item = {
            "id": new_id("item_", 96),
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        size, self.buffered_audio = self.buffered_audio, 0
        previous = self.conversation.last_id()
        await self._send([server_event("input_audio_buffer.committed", previous_item_id=previous, item_id=item["id"])])
        await self._add_item(item, None, size)

    async def _item_event(self, kind: str, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id is None:
            raise events.missing_parameter("item_id")
        index = self.conversation.find(item_id) if isinstance(item_id, str) else None
        if index is None:
            raise events.item_not_found(item_id, "item_id")
        if kind == "conversation.item.retrieve":
            await self._send([server_event("conversation.item.retrieved", item=self.conversation.items[index])])
        elif kind == "conversation.item.delete":
            del self.conversation.items[index]
            await self._send([server_event("conversation.item.deleted", item_id=item_id)])
        else:  # truncate: the audio is not kept, so only the acknowledgement
            truncated = {key: event.get(key) for key in ("content_index", "audio_end_ms")}
            await self._send([server_event("conversation.item.truncated", item_id=item_id, **truncated)])

    # --- responses -------------------------------------------------------------------------

    async def _create_response(self, event: dict[str, Any]) -> None:
        if self.active is not None and not self.active.done():
            raise ProviderError(
                400,
                f"Conversation already has an active response in progress: {self.active_id}. Wait until the "
                "response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        options = events.response_options(event.get("response"), self.session, self.conversation)
        self.cancelling = False
        renderer = ResponseRenderer(options, self.session, self._output_item_adder(options))
        self.active_id = renderer.id
        self.active = asyncio.create_task(self._respond(renderer, event.get("event_id")))

    def _output_item_adder(self, options: ResponseOptions):
        def add(item: dict[str, Any]) -> str | None:
            return self.conversation.insert(item, None) if options.in_conversation else None

        return add

    async def _cancel_response(self, response_id: Any) -> None:
        active = self.active
        if active is None or active.done() or (response_id is not None and response_id != self.active_id):
            raise ProviderError(400, "Cancellation failed: no active response found", code="response_cancel_not_active")
        self.cancelling = True
        active.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await active

    def _request(self, options: ResponseOptions) -> tuple[CompletionRequest, int]:
        """The neutral request of a response, and its prompt's audio tokens."""
        conversation = self.conversation
        if options.input_items is not None:
            tokens = {
                item_id: audio.input_audio_tokens(size, self.session.input_format)
                for item_id, size in options.audio_bytes.items()
            }
            conversation = Conversation(options.input_items, {**self.conversation.audio_tokens, **tokens})
        messages = conversation.messages()
        if options.instructions:
            messages.insert(0, Message("system", options.instructions))
        request = CompletionRequest(
            model=self.session.model,
            messages=tuple(messages),
            tools=options.tools,
            tool_choice=events.neutral_tool_choice(options.tool_choice),
            max_tokens=options.max_output_tokens,
            stream=True,
        )
        return request, sum(message.media_tokens for message in messages)

    async def _respond(self, renderer: ResponseRenderer, client_event_id: str | None) -> None:
        call = self._call()
        recorder.started(call)
        model = self.session.model
        try:
            request, audio_tokens = self._request(renderer.options)

            async def send_failure(call: Call, error: ProviderError) -> None:  # an injected error
                call.status = error.status
                failure = {"type": "failed", "error": error_json(error)}
                await self._send([renderer.created(), renderer.done("failed", failure)])

            wording = dialect(model, send_error=send_failure)
            plan = await plan_answer(call, request, wording)
            if plan is None:
                return
            renderer.start(plan, audio_tokens)
            call.response_started, call.status = True, 200
            recorder.stream_started(call)
            opening = [renderer.created()]
            if call.ratelimit is not None and (limits := rate_limits_event(call.ratelimit)) is not None:
                opening.append(limits)
            await self._send(opening)
            await self._stream(call, renderer, plan)
        except ProviderError as error:
            call.status = error.status
            await self._send([error_event(error_json(error), client_event_id)])
        except asyncio.CancelledError:
            if not self.cancelling or self.gone.is_set():
                raise
            call.status = 200
            await self._send([renderer.cancelled()])
        finally:
            give_back(call)
            recorder.finished(call)

    async def _stream(self, call: Call, renderer: ResponseRenderer, plan: Any) -> None:
        """The response's steps at their deadlines, then its end (or its planned fault)."""
        offsets = plan.offsets_s
        fault = plan.fault
        if fault is not None:
            offsets = offsets[: fault.after_tokens]
        steps = len(offsets)

        async def emit(first: int, end: int) -> None:
            recorder.wrote(call)
            await self._send(renderer.render(first, end, end == len(renderer.steps)))

        if steps:
            await pacer().pace(call.arrival, offsets, emit)
        else:
            await sleep_until(call.arrival + plan.ttft_s)
            if fault is None:
                await emit(0, 0)
        call.completion_tokens = min(call.completion_tokens, steps)
        if fault is None:
            call.stream_ended = True
            await self._send([renderer.done()])
            return
        call.injected = True
        if fault.kind == "error":
            failure = {"type": "failed", "error": error_json(fault_error(fault, self.session.model))}
            await self._send([renderer.done("failed", failure)])
            return
        await self.close(1011)  # a dropped connection, as far as a WebSocket server can drop one

    # --- plumbing --------------------------------------------------------------------------

    def _call(self) -> Call:
        """A Call for one answer on this connection (the pipeline's and the stats' unit)."""
        scope = {
            "type": "websocket",
            "method": "GET",
            "path": self.scope["path"],
            "query_string": self.scope.get("query_string", b""),
            "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers.items()],
        }
        call = new_call(scope, self._until_gone, self._drop)
        call.route = ROUTE
        return call

    async def _until_gone(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _drop(self, message: dict[str, Any]) -> None:
        # The pipeline drops a connection (an injected timeout) by ending its HTTP answer unfinished.
        if message.get("type") == "http.response.start":
            await self.close(1011)

    async def _send(self, batch: list[Event]) -> None:
        if self.gone.is_set():
            return
        for event in batch:
            await self.send(text_data=orjson.dumps(event).decode())
