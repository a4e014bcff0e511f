"""Unit files: render the per-instance drop-in (pure), write and remove it atomically."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import fsutil, layout
from .apps import App
from .errors import InvalidInput
from .model import Instance
from .paths import Paths

DROPIN = "50-warlock.conf"
# The instance's secrets (rcon passwords...), root-only, beside its drop-in: unit files and
# `systemctl show` are readable by every user; systemd reads only *.conf files there.
SECRETS = "secrets.env"
TEMPLATE = "game@.service"
_SAFE_PATH_RE = re.compile(r"/[A-Za-z0-9._@+/-]*")


def validate_dir(path: str) -> str:
    """Absolute, normalised and free of characters that systemd would quote or expand."""
    if not path.startswith("/"):
        raise InvalidInput(f"--dir {path!r} is not an absolute path")
    if path.startswith("//"):
        raise InvalidInput(f"--dir {path!r} is not a normalised path")
    normal = str(Path(path))
    if normal != path.rstrip("/") or "/../" in path + "/" or "/./" in path + "/":
        raise InvalidInput(f"--dir {path!r} is not a normalised path", hint=f"use {normal}")
    if not _SAFE_PATH_RE.fullmatch(path) or normal == "/":
        raise InvalidInput(
            f"--dir {path!r} has characters that cannot go in a unit file",
            hint="use letters, digits and . _ @ + - /",
        )
    return normal


def _check(value: str, what: str) -> str:
    if not value.isprintable():
        raise InvalidInput(f"{what} contains a control character")
    return value


def secret_var(name: str) -> str:
    """The variable of the secrets file that holds one secret of the manifest."""
    return f"WARLOCK_SECRET_{name.upper()}"


def quote_arg(value: str, secrets: Mapping[str, str] | None = None) -> str:
    """One ExecStart= argument: quoted, no specifier (%) or variable ($) expansion, except
    that a secret's value becomes ${WARLOCK_SECRET_<NAME>}, which systemd fills in from
    the secrets file when it starts the game."""
    _check(value, "a command argument")
    by_value = {v: k for k, v in (secrets or {}).items() if v}
    pieces = [value]
    if by_value:
        alternatives = "|".join(map(re.escape, sorted(by_value, key=len, reverse=True)))
        pieces = re.split(f"({alternatives})", value)
    out = []
    for piece in pieces:
        if piece in by_value:
            out.append("${" + secret_var(by_value[piece]) + "}")
        else:
            escaped = piece.replace("\\", "\\\\").replace('"', '\\"')
            out.append(escaped.replace("%", "%%").replace("$", "$$"))
    return '"' + "".join(out) + '"'


def quote_env(name: str, value: str) -> str:
    _check(value, f"environment value {name}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{name}={escaped}"'


def env_file_line(name: str, value: str) -> str:
    """One NAME="value" line of an EnvironmentFile= (in double quotes, systemd takes
    \\ " ` and $ after a backslash as themselves)."""
    _check(value, f"environment value {name}")
    return name + '="' + "".join("\\" + c if c in '"\\`$' else c for c in value) + '"\n'


class Dropin(NamedTuple):
    conf: str  # 50-warlock.conf: world-readable, as every unit file is
    secrets: str  # secrets.env, root-only; "" when the instance has no secrets


PYTHON = "/usr/bin/python3"  # Debian's: instance users can run it, unlike a venv under /root
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # on PYTHONPATH for `-m warlockd.runner`


def game_dir(inst: Instance) -> Path:
    """The game's directory as its unit sees it: data/ (layout.py). An instance still in
    layout 1 is moved there before its next start (see render_dropin)."""
    return Path(inst.path) / layout.DATA


def context(inst: Instance, app: App, install_path: Path) -> dict[str, Any]:
    """The values a manifest's command and env templates may use."""
    from .settings.cli import template_values
    from .settings.spec import settings_of

    first = app.ports[0].key
    return {
        "id": inst.id,
        "name": inst.name,
        "path": str(game_dir(inst)),
        "asset_path": str(install_path),
        "install_path": str(install_path),
        "max_players": inst.max_players or app.max_players,
        "ports": dict(inst.ports),
        "port": inst.ports[first],
        "user": inst.user,
        "secrets": dict(inst.secrets),
        "config": template_values(settings_of(app), inst.config),
        "bundled": str(app.asset_path),  # what ships with warlockd for this app (a mod...)
    }


def render_values(templates: dict[str, str], ctx: dict[str, Any]) -> dict[str, str]:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    out: dict[str, str] = {}
    for key, text in templates.items():
        if "{" not in text and not text.endswith("\n"):
            out[key] = text  # nothing to expand; compiling it would cost a create ~1 ms
            continue
        try:
            out[key] = env.from_string(text).render(ctx)
        except jinja2.TemplateError as e:
            raise InvalidInput(f"template {text!r} ({key}): {e}") from None
    return out


def environment(inst: Instance, app: App, install_path: Path) -> dict[str, str]:
    ctx = context(inst, app, install_path)
    env = {
        "SERVER_ID": inst.id,
        "SERVER_NAME": inst.name,
        "SERVER_PORT": str(ctx["port"]),
        "ASSET_PATH": str(install_path),
        "PYTHONPATH": str(PACKAGE_ROOT),
    }
    for spec in app.ports:
        if spec.env:
            env[spec.env] = str(inst.ports[spec.key])
    env.update(render_values(app.env, ctx))
    if app.rcon:  # for the runner's stop over rcon (not on its command line, where ps shows it)
        env["WARLOCK_RCON_PASSWORD"] = render_values({"rcon.password": app.rcon.password}, ctx)[
            "rcon.password"
        ]
    env.update(file_texts(app, ctx))
    env.update(inst.env)  # the admin's overrides win
    return env


def file_var(index: int) -> str:
    """The variable that carries the text of the app's files[index] to the runner."""
    return f"WARLOCK_FILE_{index}"


def escape_text(text: str) -> str:
    """Lines of text as one printable value (the runner's unescape_text reverses it)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def file_texts(app: App, ctx: dict[str, Any]) -> dict[str, str]:
    """The texts of the app's [[files]], rendered, by the variable that carries each: in the
    environment rather than on the runner's command line, so that one holding a secret goes
    to the root-only secrets file (render_dropin) and never to ps or `systemctl show`."""
    texts = {file_var(i): f.text for i, f in enumerate(app.files) if f.text is not None}
    return {k: escape_text(v) for k, v in render_values(texts, ctx).items()}


def file_options(app: App, ctx: dict[str, Any]) -> list[str]:
    """The runner's options that put the app's [[files]] in place before each start."""
    links = render_values({f.path: f.link for f in app.files if f.link is not None}, ctx)
    out: list[str] = []
    for i, f in enumerate(app.files):
        if f.text is not None:
            out += ["--file-keep" if f.keep else "--file", f"{f.path}={file_var(i)}"]
        elif not links[f.path].startswith("/"):
            raise InvalidInput(
                f"{app.slug}: files {f.path}: link {links[f.path]!r} is not absolute"
            )
        else:
            out += ["--link", f"{f.path}={_check(links[f.path], 'a link target')}"]
    return out


def runner_argv(inst: Instance, app: App, game: list[str], files: Sequence[str] = ()) -> list[str]:
    """The unit's main process: the runner, told how to probe and stop this game (and, in
    `files`, what to put in place first: file_options)."""
    argv = [PYTHON, "-m", "warlockd.runner", "--console", f"{game_dir(inst)}/console",
            "--start-timeout", str(app.start_timeout), "--stop-signal", app.stop.signal,
            "--stop-timeout", str(app.stop.timeout)]  # fmt: skip
    if app.query != "none" and app.query_port:
        argv += ["--probe", f"{app.query}:{inst.ports[app.query_port]}"]
    else:
        bound = []
        for p in app.ports:
            protos = ("tcp", "udp") if p.protocol == "both" else (p.protocol.value,)
            bound += [f"{proto}:{inst.ports[p.key]}" for proto in protos]
        argv += ["--ports", ",".join(bound)]
    if app.stop.command:
        argv += ["--stop-command", app.stop.command]
    if app.stop.via == "rcon" and app.rcon:  # the password comes in WARLOCK_RCON_PASSWORD
        argv += ["--stop-rcon", f"{app.rcon.protocol}:{inst.ports[app.rcon.port]}"]
    return [*argv, *files, "--", *game]


@functools.cache
def _templates(template_dir: str) -> Any:
    """One jinja2 environment per template directory: it keeps the compiled drop-in
    template (checking the file's mtime), so `setup` renders 200 drop-ins with one
    compile."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def render_dropin(inst: Instance, app: App, paths: Paths, install_path: Path) -> Dropin:
    """The drop-in and its secrets file. A secret's value appears in neither the drop-in
    nor `systemctl show`: arguments name its variable, and variables whose values hold a
    secret (the runner's rcon password) are set in the secrets file."""
    ctx = context(inst, app, install_path)
    game = render_values({f"command[{i}]": a for i, a in enumerate(app.command)}, ctx)
    tpl = _templates(str(paths.templates)).get_template(DROPIN + ".j2")
    name = _check(inst.name, "the instance name").replace("%", "%%")
    env = environment(inst, app, install_path)
    secrets = {k: v for k, v in inst.secrets.items() if v}
    hidden = {k: v for k, v in env.items() if any(s in v for s in secrets.values())}
    lines = [env_file_line(secret_var(k), v) for k, v in sorted(secrets.items())]
    lines += [env_file_line(k, v) for k, v in sorted(hidden.items())]
    secrets_file = (
        f"# Written by warlockd for instance {inst.id}: its secrets, for root only.\n"
        + "".join(lines)
        if lines
        else ""
    )
    # an argument that renders empty is left out: an optional setting, not set
    argv = runner_argv(inst, app, [a for a in game.values() if a != ""], file_options(app, ctx))
    validate_dir(inst.path)
    conf = tpl.render(
        id=inst.id,
        app_slug=app.slug,
        description=f"{app.title}: {name} ({inst.id})",
        user=inst.user,
        path=str(game_dir(inst)),
        # still in layout 1 (made by an earlier version, running when setup moved the
        # others): its files move into data/ as root just before it starts again
        migrate=(
            " ".join(quote_arg(a) for a in (PYTHON, "-m", "warlockd.layout", inst.id))
            if inst.layout < layout.LAYOUT
            else None
        ),
        environment=[quote_env(k, v) for k, v in sorted(env.items()) if k not in hidden],
        secrets_file=paths.dropin_dir(inst.unit) / SECRETS if secrets_file else None,
        exec_start=" ".join(quote_arg(a, secrets) for a in argv),
        start_timeout=app.start_timeout,
        # the runner escalates within the app's timeout; systemd's SIGKILL is the backstop
        stop_timeout=app.stop.timeout + 10,
        watchdog=app.watchdog,
        **inst.limits._asdict(),
    )
    return Dropin(conf, secrets_file)


def write_dropin(paths: Paths, inst: Instance, dropin: Dropin) -> Path:
    """The secrets file first (root-only from its first byte), then the drop-in that
    names it; a drop-in without secrets leaves no secrets file behind."""
    d = paths.dropin_dir(inst.unit)
    d.mkdir(parents=True, exist_ok=True)
    if dropin.secrets:
        fsutil.atomic_write(d / SECRETS, dropin.secrets, 0o600)
    target = d / DROPIN
    fsutil.atomic_write(target, dropin.conf, 0o644)
    if not dropin.secrets:
        fsutil.remove(d / SECRETS)
    return target


def read_dropin(paths: Paths, inst: Instance) -> Dropin:
    """What is on disk now ("" for a file that is missing or unreadable)."""
    d = paths.dropin_dir(inst.unit)
    texts = []
    for name in (DROPIN, SECRETS):
        try:
            texts.append((d / name).read_text())
        except (OSError, UnicodeDecodeError):
            texts.append("")
    return Dropin(*texts)


def remove_dropin(paths: Paths, inst: Instance) -> None:
    d = paths.dropin_dir(inst.unit)
    fsutil.remove(d / DROPIN)
    fsutil.remove(d / SECRETS)
    with contextlib.suppress(OSError):  # not empty: the admin's own drop-ins stay
        d.rmdir()


def template_installed(paths: Paths) -> bool:
    return any(
        (d / TEMPLATE).exists()
        for d in (paths.units, Path("/lib/systemd/system"), Path("/usr/lib/systemd/system"))
    )


def install_template(paths: Paths) -> Path | None:
    """Copy game@.service into /etc/systemd/system when no package has installed it."""
    if template_installed(paths):
        return None
    paths.units.mkdir(parents=True, exist_ok=True)
    target = paths.units / TEMPLATE
    fsutil.atomic_write(target, (paths.templates / TEMPLATE).read_text(), 0o644)
    return target
