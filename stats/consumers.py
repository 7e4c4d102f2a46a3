"""The dashboard's live feed: /llmsim/stats pushed over a WebSocket every second."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer

from stats import access
from stats.sharing import sharing, snapshot


class StatsConsumer(AsyncWebsocketConsumer):
    """Sends the stats snapshot at once, then once per publish interval, until the page goes."""

    async def connect(self) -> None:
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in self.scope["headers"]}
        if not await access.allowed(headers):
            await self.close()  # before accept: the server refuses the handshake (403)
            return
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
