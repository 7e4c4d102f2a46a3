"""The simulation engine: plain Python, no Django imports.

Provider adapters (simulator.providers) translate wire formats into a CompletionRequest,
ask `planner.plan()` for a Plan, and render it. Everything here is testable in
milliseconds without a server.
"""
