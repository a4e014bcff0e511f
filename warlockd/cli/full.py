"""manage.py with typer: both spellings of every command, generated from the table.

The flag spelling (`manage.py --instance X --start`, as Warlock v1 panels call it) is one
root callback taking every option and a `--<command>` flag per command; the subcommand
spelling (`manage.py start --instance X`, as v2 panels call it) is one typer command per
row. Options given before a subcommand (`--instance X start`) count too. typer reads a
function's signature, so each function gets one made from its row.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any, List, Optional  # noqa: UP035 (typer 0.7 reads these)

import typer

from .. import __version__
from ..commands import COMMANDS, DIALECT, GLOBAL, TABLE, Command, Option
from .run import execute, report_error

HELP = (
    # Warlock panels read the dialect from this line: 2.x is theirs with subcommands (and
    # every command is a --flag too, for the panels that speak only that)
    f"Warlock Manager: {DIALECT} (warlockd {__version__})\n\nRun game-server instances as "
    "systemd units (game@<id>.service). Every command takes --instance <uuid|default>."
)


def _annotation(option: Option) -> Any:
    if option.arity < 0:  # as a flag, all of it in one value: `--schedule-add "command say"`
        return Optional[str]  # noqa: UP045
    if option.arity > 1:  # `--set-config OPTION VALUE`
        return Optional[tuple[(str,) * option.arity]]  # type: ignore[misc]  # noqa: UP045
    if option.kind is bool:
        return bool
    if option.kind is list:
        return List[str]  # noqa: UP006
    if option.default is not None:
        return option.kind
    return Optional[option.kind]  # noqa: UP045


def _parameter(option: Option, *, name: str | None = None, flags: tuple[str, ...] = ()) -> Any:
    """One typer parameter of a generated function."""
    default: Any
    if option.arity < 0:
        default = typer.Option(None, *(flags or option.flags), help=option.help,
                               metavar=option.metavar)  # fmt: skip
    elif option.kind is list and option.arity == 1:
        default = typer.Option([], *(flags or option.flags), help=option.help)
    elif option.arity > 1:  # typer 0.7 cannot convert a None default of a tuple
        default = typer.Option(
            (None,) * option.arity, *(flags or option.flags), help=option.help,
            metavar=option.metavar,
        )  # fmt: skip
    else:
        default = typer.Option(
            option.default, *(flags or option.flags), help=option.help, metavar=option.metavar
            or None,
        )  # fmt: skip
    return inspect.Parameter(
        name or option.name, inspect.Parameter.KEYWORD_ONLY, default=default,
        annotation=_annotation(option),
    )  # fmt: skip


def _context() -> inspect.Parameter:
    return inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context
    )


_FLAG = Option("flag", (), "", bool, False)  # a command's --flag, without an argument


def _is_set(option: Option, value: Any) -> bool:
    """Given on the command line, rather than typer's default (0 counts: `is`, not `==`)."""
    if isinstance(value, tuple) and all(v is None for v in value):  # an unset tuple
        return False
    return value is not None and value is not False and value != [] and value != option.default


def _options() -> dict[str, Option]:
    """Every option of every command, by Args name (the root callback takes them all)."""
    found: dict[str, Option] = {}
    for c in TABLE:
        for o in (*c.options, *GLOBAL):
            found.setdefault(o.name, o)
    return found


def _flag_param(command: Command) -> str:
    return "do_" + command.name.replace("-", "_")


def _root(ctx: typer.Context, **values: Any) -> None:
    """The flag spelling: one --<command> flag chosen, its options beside it."""
    options = _options()
    given = {k: values[k] for k in options if _is_set(options[k], values[k])}
    chosen: list[tuple[Command, Any]] = [
        (c, values[_flag_param(c)])
        for c in TABLE
        if _is_set(c.argument or _FLAG, values[_flag_param(c)])
    ]
    ctx.obj = given
    if ctx.invoked_subcommand:
        return
    if len(chosen) > 1:
        raise typer.BadParameter(
            "give one command at a time: " + ", ".join("--" + c.name for c, _ in chosen)
        )
    if not chosen:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    command, value = chosen[0]
    if command.argument is not None:
        given[command.argument.name] = value
    raise typer.Exit(execute(command, given))


def _root_signature() -> inspect.Signature:
    params = [_context()]
    params += [_parameter(o) for o in _options().values() if o.name not in _ARGUMENTS]
    for c in TABLE:
        if c.argument is not None:  # `--cmd TEXT`, `--restore FILE`: the flag carries it
            params.append(_parameter(c.argument, name=_flag_param(c)))
        else:
            flag = Option(_flag_param(c), (f"--{c.name}",), c.flag_help or c.help, bool, False)
            params.append(_parameter(flag))
    return inspect.Signature(params)


def _subcommand(command: Command) -> Callable[..., None]:
    """The subcommand spelling of one row."""
    arg = command.argument
    names = [] if arg is None else arg.metavar.split() if arg.arity > 1 else [arg.name]
    variadic = arg is not None and arg.arity < 0  # `schedule-add command say hi`: a list

    def run(ctx: typer.Context, **values: Any) -> None:
        given: dict[str, Any] = dict(ctx.obj or {})
        for o in (*command.options, *GLOBAL):
            if _is_set(o, values[o.name]):
                given[o.name] = values[o.name]
        if arg is not None:
            got = [values[_positional(arg, n)] for n in names]
            given[arg.name] = got if arg.arity > 1 else list(got[0]) if variadic else got[0]
        raise typer.Exit(execute(command, given))

    params = [_context()]
    for name in names:  # `set-config OPTION VALUE`, `cmd TEXT`
        assert arg is not None
        metavar = arg.metavar if variadic else arg.metavar and name.upper()
        argument = typer.Argument(..., help=arg.help, metavar=metavar)
        params.append(
            inspect.Parameter(
                _positional(arg, name),
                inspect.Parameter.KEYWORD_ONLY,
                annotation=List[str] if variadic else str,  # noqa: UP006
                default=argument,
            )
        )
    params += [_parameter(o) for o in (*command.options, *GLOBAL)]
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__doc__ = command.help
    run.__name__ = _flag_param(command)
    return run


def _positional(arg: Option, name: str) -> str:
    return arg.name if arg.arity in (1, -1) else f"{arg.name}_{name.lower()}"


# the positional arguments' names are not root options: their flags are the commands'
_ARGUMENTS = {c.argument.name for c in TABLE if c.argument is not None}

app = typer.Typer(
    add_completion=False, help=HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
_root.__signature__ = _root_signature()  # type: ignore[attr-defined]
app.callback(invoke_without_command=True)(_root)
for _command in TABLE:
    app.command(_command.name, help=_command.help)(_subcommand(_command))


def main(argv: List[str] | None = None) -> int:  # noqa: UP006
    """Entry point: one-line errors, exit 1 (2 for usage), tracebacks only with --debug."""
    import click

    from .entry import spelled

    args = spelled(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = typer.main.get_command(app).main(
            args, prog_name="manage.py", standalone_mode=False
        )
        return int(result or 0)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.UsageError as e:
        sys.stderr.write(f"error: {e.format_message()}\n")
        return 2
    except click.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except Exception as e:
        if debug:
            raise
        return report_error(e)
    except KeyboardInterrupt:
        return 130


assert set(COMMANDS) == {c.name for c in TABLE}
