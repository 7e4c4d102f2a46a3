import asyncio

import uvloop
from django.apps import AppConfig

# Every event loop of an LLMSim process is uvloop's: `serve` asks granian or uvicorn for it,
# and here it reaches Daphne (runserver), which creates Twisted's asyncio loop when its own
# app module is imported, just after this one (INSTALLED_APPS lists simulator first). On
# the standard library's loop every token a stream writes cost Twisted a selector
# registration and removal in Python; uvloop does them in C (docs/benchmarks.md, Under Daphne).
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class SimulatorConfig(AppConfig):
    name = "simulator"
    verbose_name = "Simulator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from simulator import checks, signals  # noqa: F401  (register the deploy checks; connect the snapshot-version receivers)
