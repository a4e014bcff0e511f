"""The panels' hot path: plain calls of the fast commands, parsed without typer.

Warlock panels poll `--get-services` and `--get-metrics` for every instance every minute,
list, create, start, stop and restart instances over SSH. Importing typer and building
its command tree costs more than those answers, so calls of the table's fast commands
(`--instance X --start`, `start --instance X`, `--create --app A --name N`, `list
--json`) are parsed here from the same table; anything else (help, a mistake to explain,
--debug, a value that is not a number where one is wanted) goes to the full parser, which
answers it. tests/unit/test_cli.py checks both answer alike.
"""

from __future__ import annotations

from typing import Any

from ..commands import COMMANDS, Command, Option

_VERBS = {spelling: c for c in COMMANDS.values() if c.fast for spelling in (c.name, f"--{c.name}")}


def parse(argv: list[str]) -> tuple[Command, dict[str, Any]] | None:
    """The command and option values of a plain fast call, or None for anything else."""
    command: Command | None = None
    pending: list[tuple[str, str, bool]] = []  # (flag, value, had "=") until the verb is known
    it = iter(argv)
    for arg in it:
        if arg in _VERBS and command is None:
            command = _VERBS[arg]
            continue
        flag, eq, value = arg.partition("=")
        if not flag.startswith("-"):
            return None
        if not eq and flag not in _BOOLEAN:
            value = next(it, "")
            if not value or value.startswith("-"):
                return None  # a missing value: the full parser explains the mistake
        pending.append((flag, value, bool(eq)))
    if command is None:
        return None
    options = {flag: o for o in command.options for flag in o.flags}
    given: dict[str, Any] = {}
    for flag, value, had_eq in pending:
        option = options.get(flag)
        if option is None or (option.kind is bool and had_eq):
            return None  # not an option of this command: the full parser refuses it
        if option.kind is list:
            given.setdefault(option.name, []).append(value)
        elif option.name in given:
            return None  # given twice
        else:
            converted = _convert(option, value)
            if converted is None:
                return None
            given[option.name] = converted
    return command, given


def _convert(option: Option, value: str) -> Any:
    if option.kind is bool:
        return True
    if option.kind is int:
        try:
            return int(value)
        except ValueError:
            return None  # the full parser explains what is wrong with it
    return value


# flags that take no value, in any command (a fast command's own options decide later)
_BOOLEAN = {f for c in COMMANDS.values() for o in c.options if o.kind is bool for f in o.flags}
