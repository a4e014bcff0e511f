"""Where manage.py and `warlock` come in: the fast path when it can answer, else typer."""

from __future__ import annotations

import os
import sys

# typing costs a fifth of the interpreter's start-up, and the panels' poll is answered
# before anything else is imported (answers.py); mypy reads the name all the same
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

GROUPS = {"schedule": ("add", "list", "remove", "pause", "resume", "run")}
# set by run_for: what the manage.py at a registered path acts on (instance, game)
_SCOPE: tuple[str | None, str | None] = (None, None)


def spelled(args: list[str]) -> list[str]:
    """`schedule add ...` as the table names it: `schedule-add ...` (a command's words
    joined, so the table stays one flat list)."""
    for i, word in enumerate(args[:-1]):
        # not the value of an option before it (`--instance-name schedule add`)
        free = i == 0 or not args[i - 1].startswith("-") or args[i - 1] in ("--debug", "--json")
        if free and word in GROUPS and args[i + 1] in GROUPS[word]:
            return [*args[:i], f"{word}-{args[i + 1]}", *args[i + 2 :]]
    return args


def main(argv: list[str] | None = None) -> int:
    args = spelled(sys.argv[1:] if argv is None else argv)
    from ..answers import answer

    ready = answer(args, *_SCOPE)  # the panels' poll, from the daemon's answers
    if ready is not None:
        sys.stdout.write(ready)
        return 0
    if _SCOPE != (None, None):
        from . import run as front

        front.SCOPE = front.Scope(*_SCOPE)
    from .fast import parse

    fast = parse(args)
    if fast is None:
        from .full import main as full

        return full(args)
    from .run import execute

    command, given = fast
    return execute(command, given)


def run_for(instance: str | None = None, app: str | None = None) -> NoReturn:
    """The manage.py written at an instance's registered path (or a game's): its commands
    act on that instance (or that game's instances) when none is named."""
    global _SCOPE
    _SCOPE = (instance, app)
    run()


def run() -> NoReturn:
    """manage.py's and the console scripts' entry: main(), then exit without tearing the
    interpreter down. Every file a command writes is closed (and fsynced) before main()
    returns; unloading the modules one by one would add 5 to 30 ms to each command (the
    most to create, which loads jinja2), measured in bench/."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 (contextlib would cost the poll its import)
            stream.flush()
        except BrokenPipeError:
            pass  # `manage.py list | head`: the reader has what it wanted
    os._exit(code)
