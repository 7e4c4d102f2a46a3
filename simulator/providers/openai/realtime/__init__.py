"""OpenAI's Realtime API (GA shape) over a WebSocket: `ws(s)://host/v1/realtime?model=…`.

session.py holds a connection's state, events.py reads and validates client events,
audio.py makes the synthetic speech, render.py words the server events, consumer.py
is the Channels consumer that runs them on the shared pipeline.
"""
