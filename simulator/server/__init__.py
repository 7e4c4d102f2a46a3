"""The ASGI toolkit the provider routes run on: the call, the router, the endpoint
decorator, the pipeline of neutral steps, override headers and the ops routes."""
