"""The Realtime API's WebSocket route (Channels), mounted in llmsim_project/asgi.py."""

from django.urls import path

from simulator.providers.openai.realtime.consumer import RealtimeConsumer

websocket_urlpatterns = [
    path("v1/realtime", RealtimeConsumer.as_asgi()),
]
