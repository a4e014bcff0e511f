"""The console entry point (manage.py, warlock): the panels' hot paths without the framework.

Warlock panels poll `--get-services` and `--get-metrics` for every instance every minute,
list, create, start, stop and restart instances over SSH. Importing typer and building
its command tree costs more than those answers, so these commands, spelled plainly
(`--instance X --start`, `start --instance X`, `--create --app A --name N`, `list
--json`), run straight from commands.py; everything else (help, other flags, numbers to
convert) goes through cli.py.
tests/unit/test_cli.py checks both paths answer alike.
"""

import contextlib
import os
import sys
from typing import Any, NoReturn

_FAST = {
    spelling: verb
    for verb in (
        "get-services",
        "get-ports",
        "get-metrics",
        "start",
        "stop",
        "restart",
        "create",
        "list",
    )
    for spelling in (verb, f"--{verb}")
}
_VALUED = {"--instance": "instance", "-i": "instance", "--service": "service"}
# create's text options; its numbers (--cpu-quota, --tasks-max) go through typer, which
# explains a bad one
_CREATE_VALUED = {
    "--app": "app",
    "--instance-name": "instance_name",
    "--name": "instance_name",
    "--instance-id": "instance_id",
    "--dir": "dir",
    "--memory-max": "memory_max",
    "--cpu-affinity": "cpu_affinity",
}
_CREATE_REPEATED = {"--port": "port", "--env": "env"}


def fast_options(argv: list[str]) -> dict[str, Any] | None:
    """The verb and options of a plain hot-path call, or None for anything else."""
    opts: dict[str, Any] = {}
    verb = None
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        key = _VALUED.get(name) or _CREATE_VALUED.get(name) or _CREATE_REPEATED.get(name)
        if arg in _FAST and verb is None:
            verb = _FAST[arg]
        elif arg == "--json" and "json" not in opts:
            opts["json"] = True
        elif key is not None and (name in _CREATE_REPEATED or key not in opts):
            if not eq:
                value = next(it, "")
                if not value or value.startswith("-"):
                    return None  # let the full parser explain the mistake
            if name in _CREATE_REPEATED:
                opts.setdefault(key, []).append(value)
            else:
                opts[key] = value
        else:
            return None
    if verb is None:
        return None
    allowed = {"create": set(opts), "list": {"json"}}.get(verb, set(_VALUED.values()))
    if set(opts) - allowed:
        return None  # not an option of this verb: the full parser refuses it
    return {**opts, "verb": verb}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    fast = fast_options(args)
    if fast is None:
        from .cli import main as full

        return full(args)
    from .commands import ACTIONS, Opts, report_error

    try:
        verb = fast.pop("verb")
        return ACTIONS[verb](Opts(**fast))
    except Exception as e:
        return report_error(e)
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """manage.py's and the console scripts' entry: main(), then exit without tearing the
    interpreter down. Every file a command writes is closed (and fsynced) before main()
    returns; unloading the modules one by one would add 5 to 30 ms to each command (the
    most to create, which loads jinja2), measured in bench/."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        # `manage.py list | head`: the reader has what it wanted
        with contextlib.suppress(BrokenPipeError):
            stream.flush()
    os._exit(code)
