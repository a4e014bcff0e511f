"""The console entry point (manage.py, warlock): the panels' hot paths without the framework.

Warlock panels poll `--get-services` and `--get-metrics` for every instance every minute
and start, stop and restart instances over SSH. Importing typer and building its command
tree costs more than those answers, so these commands, spelled plainly (`--instance X
--start`, `start --instance X`), run straight from commands.py; everything else goes
through cli.py.
tests/unit/test_cli.py checks both paths answer alike.
"""

import sys

_FAST = {
    spelling: verb
    for verb in ("get-services", "get-metrics", "start", "stop", "restart")
    for spelling in (verb, f"--{verb}")
}
_VALUED = {"--instance": "instance", "-i": "instance", "--service": "service"}


def fast_options(argv: list[str]) -> dict[str, str] | None:
    """The verb and options of a plain hot-path call, or None for anything else."""
    opts: dict[str, str] = {}
    verb = None
    it = iter(argv)
    for arg in it:
        name, eq, value = arg.partition("=")
        if arg in _FAST and verb is None:
            verb = _FAST[arg]
        elif name in _VALUED and _VALUED[name] not in opts:
            if not eq:
                value = next(it, "")
                if not value or value.startswith("-"):
                    return None  # let the full parser explain the mistake
            opts[_VALUED[name]] = value
        else:
            return None
    if verb is None:
        return None
    return {**opts, "verb": verb}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    fast = fast_options(args)
    if fast is None:
        from .cli import main as full

        return full(args)
    from .commands import ACTIONS, Opts, report_error

    try:
        return ACTIONS[fast["verb"]](
            Opts(instance=fast.get("instance"), service=fast.get("service"))
        )
    except Exception as e:
        return report_error(e)
    except KeyboardInterrupt:
        return 130
