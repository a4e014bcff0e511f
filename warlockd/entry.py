"""The console entry point (manage.py, warlock): the hot read path without the framework.

Warlock panels poll `--get-services` for every instance every minute. Building the typer
command tree costs more than the answer itself, so that one command, spelled plainly,
runs straight from commands.py; everything else goes through cli.py.
"""

import sys

_FAST = {"--get-services": "get-services", "get-services": "get-services"}
_VALUED = {"--instance": "instance", "-i": "instance", "--service": "service"}


def fast_options(argv: list[str]) -> dict[str, str] | None:
    """The options of a plain get-services call, or None for anything else."""
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
    return opts if verb else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    fast = fast_options(args)
    if fast is None:
        from .cli import main as full

        return full(args)
    from .commands import Opts, do_get_services, report_error

    try:
        return do_get_services(Opts(instance=fast.get("instance"), service=fast.get("service")))
    except Exception as e:
        return report_error(e)
    except KeyboardInterrupt:
        return 130
