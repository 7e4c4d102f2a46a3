"""WebSocket routes (Channels), mounted in llmsim_project/asgi.py."""

from django.urls import path

from stats.consumers import StatsConsumer

websocket_urlpatterns = [
    path("llmsim/ws/stats", StatsConsumer.as_asgi()),
]
