"""The floor plan's rules (docs/architecture.md), read from the source's imports.

- the engine imports no Django and nothing from the other floors;
- stats imports nothing from the providers or the server;
- only store modules touch the ORM;
- no module imports another module's private names;
- no module is longer than 700 lines (migrations aside).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PACKAGES = ("simulator", "stats", "llmsim_project")
PROJECT_PACKAGES = (*SOURCE_PACKAGES, "tests")
MAX_LINES = 700

# What may touch the ORM: the Django app's own modules and the stores.
ORM_MODULES = ("simulator.models", "django.db.models", "django.db.transaction")
ORM_ALLOWED = (
    "simulator.state.",
    "simulator.providers.openai.assistants.store",
    "simulator.models",
    "simulator.admin",
    "simulator.portability",
    "simulator.signals",
    "simulator.config",
    "simulator.process_overrides",
    "simulator.rest.",
    "simulator.management.",
    "simulator.migrations.",
)


@dataclass(frozen=True)
class Import:
    importer: str  # the importing module, dotted
    module: str  # the imported module, dotted and absolute
    names: tuple[str, ...]  # the names taken from it (`from module import names`); () for `import module`
    line: int

    def __str__(self) -> str:
        taken = f" import {', '.join(self.names)}" if self.names else ""
        return f"{self.importer}:{self.line}: from {self.module}{taken}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(*packages: str) -> list[Path]:
    return sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))


def imports_of(path: Path) -> list[Import]:
    importer = module_name(path)
    package = importer.split(".") if path.name == "__init__.py" else importer.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(importer, alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append(Import(importer, module, tuple(alias.name for alias in node.names), node.lineno))
    return found


def all_imports(*packages: str) -> list[Import]:
    return [found for path in source_files(*packages) for found in imports_of(path)]


def within(module: str, *prefixes: str) -> bool:
    return any(module == prefix.rstrip(".") or module.startswith(prefix.rstrip(".") + ".") for prefix in prefixes)


def test_the_reader_sees_relative_and_absolute_imports_alike(tmp_path, monkeypatch):
    package = tmp_path / "simulator" / "engine"
    package.mkdir(parents=True)
    module = package / "sample.py"
    module.write_text("from . import tokens\nfrom ..models import Scenario\nimport django.db\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert [str(found) for found in imports_of(module)] == [
        "simulator.engine.sample:1: from simulator.engine import tokens",
        "simulator.engine.sample:2: from simulator.models import Scenario",
        "simulator.engine.sample:3: from django.db",
    ]


def test_the_engine_imports_no_django_and_nothing_from_the_other_floors():
    forbidden = ("django", "channels", "rest_framework", "daphne", "stats", "llmsim_project", "simulator")
    offending = [
        str(found)
        for found in all_imports("simulator/engine")
        if within(found.module, *forbidden) and not within(found.module, "simulator.engine")
    ]
    assert offending == []


def test_stats_imports_nothing_from_the_providers_or_the_server():
    offending = [
        str(found)
        for found in all_imports("stats")
        if within(found.module, "simulator.providers", "simulator.server", "simulator.routes")
    ]
    assert offending == []


def test_only_store_modules_touch_the_orm():
    offending = [
        str(found)
        for found in all_imports(*SOURCE_PACKAGES)
        if (within(found.module, *ORM_MODULES) or (found.module == "simulator" and "models" in found.names))
        and not within(found.importer, *ORM_ALLOWED)
    ]
    assert offending == []


def test_no_module_imports_another_modules_private_names():
    offending = [
        str(found)
        for found in all_imports(*PROJECT_PACKAGES)
        if within(found.module, *PROJECT_PACKAGES)
        and found.module != found.importer
        and any(name.startswith("_") and not name.startswith("__") for name in found.names)
    ]
    assert offending == []


@pytest.mark.parametrize("package", SOURCE_PACKAGES)
def test_no_module_is_longer_than_700_lines(package):
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in source_files(package)
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}
