"""The `llmsim` command (the installed package's console script): LLMSim from any folder.

With nothing set up, `llmsim serve` keeps the embedded SQLite database, the generated
secret key and the admin password in a per-user data directory, creates or updates the
tables, creates the admin login (printing its password) and then runs `manage.py serve`,
whose flags it takes as they are. The other subcommands are the management commands
under shorter names. Contributors keep using manage.py in a checkout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

# Subcommand: (the management command it runs, what it does).
COMMANDS = {
    "serve": ("serve", "serve the simulated APIs (flags: llmsim serve --help)"),
    "migrate": ("migrate", "create or update the database's tables, then exit (run once before replicas start)"),
    "import": ("llmsim_import", "import scenarios, rules and profiles from a YAML or JSON file, or cassettes"),
    "record": ("llmsim_record", "forward to the real providers and record what they answer, as cassettes"),
    "calibrate": ("llmsim_calibrate", "fit the models' latency profiles to recorded streams"),
    "export": ("llmsim_export", "export scenarios, rules and profiles as YAML or JSON"),
    "top": ("llmsim_top", "watch a running server's stats in the terminal"),
    "token": ("llmsim_token", "print (or create) a user's management API token"),
    "manage": ("", "any other Django management command, e.g. llmsim manage changepassword admin"),
}
# How long `serve --tui` waits for its server to say where it listens.
TUI_START_TIMEOUT_S = 60


def data_dir(flag: str | None, environ: Mapping[str, str]) -> Path:
    """--data-dir, else LLMSIM_DATA_DIR, else $XDG_DATA_HOME/llmsim (~/.local/share/llmsim)."""
    chosen = flag or environ.get("LLMSIM_DATA_DIR") or ""
    if not chosen:
        chosen = str(Path(environ.get("XDG_DATA_HOME") or "~/.local/share") / "llmsim")
    return Path(chosen).expanduser().absolute()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="llmsim",
        description="LLMSim: an LLM traffic simulator that speaks the OpenAI, Anthropic and Gemini APIs.",
        epilog=(
            "Data (SQLite database, secret key, admin password) is kept in --data-dir, LLMSIM_DATA_DIR, "
            "or $XDG_DATA_HOME/llmsim (~/.local/share/llmsim); DATABASE_URL points elsewhere instead. "
            "Start with: llmsim serve"
        ),
    )
    data_dir_help = "where the database, secret key and admin password are kept"
    top.add_argument("--data-dir", metavar="DIR", help=data_dir_help)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in COMMANDS.items():
        # The management command parses the rest and answers --help itself.
        command = commands.add_parser(name, help=summary, add_help=False)
        command.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS, help=data_dir_help)
        if name == "serve":
            command.add_argument("--tui", action="store_true", help="show the terminal dashboard while serving")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    options, rest = parser().parse_known_args(argv)
    directory = data_dir(options.data_dir, os.environ)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        sys.stderr.write(f"llmsim: cannot create the data directory {directory} ({exc.strerror}); ")
        sys.stderr.write("choose another with --data-dir or LLMSIM_DATA_DIR\n")
        return 2
    # In the environment, so that the server's worker processes keep their data here too.
    os.environ["LLMSIM_DATA_DIR"] = str(directory)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmsim_project.settings")
    name, _ = COMMANDS[options.command]
    if options.command == "manage":
        name, rest = (rest[0], rest[1:]) if rest else ("help", [])
    if options.command == "migrate":
        rest = ["--noinput", *rest]  # a deployment's Job has no one to answer a question
    if options.command == "serve" and "-h" not in rest and "--help" not in rest:
        first_start(migrate="--no-migrate" not in rest)
        if options.tui:
            return serve_with_dashboard(directory, rest)
    return run(name, rest)


def run(name: str, arguments: Sequence[str]) -> int:
    """A management command, as `manage.py <name> <arguments>` would run it."""
    from django.core.management import execute_from_command_line

    execute_from_command_line(["llmsim", name, *arguments])
    return 0


def first_start(migrate: bool) -> None:
    """Tables and the admin login, so that a first `llmsim serve` needs no other step."""
    import django
    from django.core.management import call_command
    from django.db import IntegrityError

    django.setup()
    if migrate:
        call_command("migrate", interactive=False, verbosity=0)
    # Replicas starting together on one new database may both try; one admin is made.
    with contextlib.suppress(IntegrityError):
        call_command("ensure_admin")


def serve_with_dashboard(directory: Path, arguments: Sequence[str]) -> int:
    """`serve --tui`: the server in a child process (its output in serve.log), the
    terminal dashboard in the foreground; quitting the dashboard stops the server."""
    log_path = directory / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "llmsim_project.cli", "serve", "--no-migrate", *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = _wait_for_listening(server, log_path)
        if url is None:
            sys.stderr.write(f"llmsim: the server did not start; its output:\n{log_path.read_text()}")
            return 1
        # Its addresses, on the screen again when the dashboard's full-screen view closes.
        print(log_path.read_text(errors="replace"), flush=True)
        return run("llmsim_top", ["--url", url])
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        print(f"Server stopped; its output is in {log_path}")


def _wait_for_listening(server: subprocess.Popen, log_path: Path) -> str | None:
    """The server's address once it answers /health; None when it exits or takes too long."""
    deadline = time.monotonic() + TUI_START_TIMEOUT_S
    url = None
    while time.monotonic() < deadline and server.poll() is None:
        if url is None:
            found = re.search(r"listening on (http://\S+?)/? ", log_path.read_text(errors="replace"))
            url = found and found.group(1)
        if url:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2):
                return url
        time.sleep(0.2)
    return None


if __name__ == "__main__":
    sys.exit(main())
