"""The dashboard's live feed: /llmsim/stats pushed over a WebSocket every second."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

from .sharing import sharing, snapshot


class StatsConsumer(AsyncWebsocketConsumer):
    """Sends the stats snapshot at once, then once per publish interval, until the page goes."""

    async def connect(self) -> None:
        await self.accept()
        self.pusher = asyncio.create_task(self.push())

    async def disconnect(self, code: int) -> None:
        pusher = getattr(self, "pusher", None)
        if pusher is not None:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher

    async def push(self) -> None:
        while True:
            await self.send(text_data=orjson.dumps(snapshot()).decode())
            await asyncio.sleep(min(sharing.interval, 1.0))
