"""From parsed options to a shown result: what both spellings of manage.py share.

The instance id is parsed here, once, from --instance or --service; the command runs on a
Host of this process; its Outcome is shown as the table says: JSON on stdout (one item a
line for lists), a table for people, text, an exit code, messages on stderr. Errors are one
line `error: ... (hint: ...)`, exit 2 for bad input and 1 for other failures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..actions import Args, Outcome
from ..commands import Command, Output
from ..model import parse_id, parse_service

if TYPE_CHECKING:
    from ..host import Host


class Scope(NamedTuple):
    """What the manage.py at a registered path acts on when no instance is named."""

    instance: str | None = None
    app: str | None = None


SCOPE = Scope()  # set once by entry.run_for, for the whole (short) process


def make_host() -> Host:
    """The host commands act on (tests put an in-memory one here); long commands show
    their progress when a person watches stderr."""
    from ..host import Host

    host = Host.from_env()
    if sys.stderr.isatty():
        from .progress import Terminal

        host.progress = Terminal()
    return host


def parse_args(given: Mapping[str, Any], command: Command | None = None) -> Args:
    """Args from option values by name; ids are checked here and nowhere below. At a
    registered path's manage.py, a command that acts on an instance gets its own."""
    values = {k: v for k, v in given.items() if k in Args._fields and k != "instance"}
    instance, service = given.get("instance"), given.get("service")
    if command is not None and command.names_new:  # create-service: --service names it
        values["instance_name"], service = service, None
    if instance:
        values["instance"] = parse_id(instance)
    elif service:
        values["instance"] = parse_service(service)
    elif SCOPE.instance and command is not None and (command.acts_on_one or command.names_new):
        values["instance"] = parse_id(SCOPE.instance)
    if SCOPE.app:
        values["scope_app"] = SCOPE.app
    if given.get("instance_id"):
        values["instance_id"] = parse_id(given["instance_id"])
    for name in ("port", "env", "setting"):
        if name in values:
            values[name] = list(values[name])
    if isinstance(values.get("task"), str):  # `--schedule-add "command say hi"`
        first, _, rest = values["task"].strip().partition(" ")
        values["task"] = [first, rest] if rest.strip() else [first]
    return Args(**values)


def execute(command: Command, given: Mapping[str, Any]) -> int:
    """Run one command and show its outcome; the exit status."""
    try:
        args = parse_args(given, command)
        host = make_host()
        try:
            outcome = command.run(host, args)
        except Exception as e:
            outcome = _confirmed(host, command, args, e)
        return show(host, command, args, outcome)
    except Exception as e:
        if given.get("debug"):
            raise
        return report_error(e)
    except KeyboardInterrupt:
        return 130


def _confirmed(host: Host, command: Command, args: Args, e: Exception) -> Outcome:
    """Ask the person at the terminal what a command would not do without --yes."""
    from ..errors import NeedsConfirmation

    if not isinstance(e, NeedsConfirmation) or not sys.stdin.isatty():
        raise e
    if input(e.question).strip().lower() not in ("y", "yes"):
        return Outcome(code=1)
    return command.run(host, args._replace(yes=True, confirm=True))


def show(host: Host, command: Command, args: Args, outcome: Outcome) -> int:
    out = command.output
    for note in outcome.notes:
        note_line(note)
    if out is Output.JSON or (out is Output.PEOPLE and args.json):
        emit(outcome.data)
    elif out is Output.PEOPLE:
        from . import render

        return render.people(host, command, args, outcome)
    elif out is Output.TEXT and outcome.data is not None:
        text = str(outcome.data)
        sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    elif out is Output.EXEC:
        from ..run import exec_

        exec_(outcome.data)
    return outcome.code


def note_line(message: str) -> None:
    sys.stderr.write(message + "\n")


def emit(data: Any) -> None:
    if isinstance(data, list):
        # One item a line: still one instance (event, sample) per line for grep, and
        # json's C encoder, where indent= takes the pure-Python one, the largest cost of
        # listing 200 instances.
        body = ",\n".join("  " + json.dumps(item) for item in data)
        sys.stdout.write(f"[\n{body}\n]\n" if data else "[]\n")
        return
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def report_error(e: Exception) -> int:
    """One line on stderr (a manifest's list of mistakes stays whole); the exit code."""
    from ..errors import WarlockError

    if isinstance(e, WarlockError):
        text = e.message if e.exit_code == 2 else e.message.splitlines()[0]
        sys.stderr.write(f"error: {text}" + (f" (hint: {e.hint})" if e.hint else "") + "\n")
        return e.exit_code
    sys.stderr.write(
        f"error: internal error: {type(e).__name__}: {e} (run with --debug for details)\n"
    )
    return 1
