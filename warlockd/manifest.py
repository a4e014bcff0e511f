"""Reading a manifest: every mistake in it found at once, each naming the file, the key and
what was expected, so its author fixes them in one pass (format: installers/README.md)."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

from .apps import App, ConfigOption, PortSpec, Stop, Transport
from .errors import InvalidInput
from .manifest_check import KEY_RE, Checker, relative, strings
from .manifest_console import parse_console, parse_files, parse_rcon
from .model import validate_guid
from .protocols import QUERY_PROTOCOLS  # not .query: apps need no socket
from .settings.spec import EXTRA_KEYS, check_extras
from .sources import FILENAME_RE, InstallSpec

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PKG_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_SHA_RE = re.compile(r"[0-9a-f]{64}")
SOURCES = ("bundled", "apt", "steamcmd", "archive")
# port: the value is one of the instance's ports (`key` names it), set through the allocator
CONFIG_FORMATS = ("ini", "properties", "json", "cfg", "cli", "port")
CONFIG_TYPES = ("bool", "int", "float", "str", "text", "list")
_SHARE_BUNDLED = Path("/usr/share/warlockd/bundled")


def _package_list(value: Any) -> bool:
    return bool(value) and strings(value) and all(map(_PKG_RE.fullmatch, value))


def parse_manifest(path: Path, data: dict[str, Any], bundled: Path | None = None) -> App:
    """The App a manifest describes; `bundled` is Paths.bundled (default: the package's)."""
    c = Checker(path)
    guid = c.get(data, "guid", str, "a lowercase UUID", check=_is_guid)
    slug = c.get(data, "slug", str, "a slug of a-z, 0-9 and -", check=_SLUG_RE.fullmatch)
    title = c.get(data, "title", str, "a title")
    max_players = c.get(
        data,
        "max_players",
        int,
        "an integer 1..10000",
        default=16,
        check=lambda v: 1 <= v <= 10_000,
    )
    run = c.table(data, "run")
    command = (
        c.get(
            run,
            "command",
            list,
            "a non-empty list of strings",
            "run.",
            check=lambda v: v and strings(v),
        )
        or []
    )
    start_timeout = c.get(
        run, "start_timeout", int, "seconds 1..3600", "run.", 90, lambda v: 1 <= v <= 3600
    )
    env = c.table(data, "env")
    if not all(isinstance(v, str) and _ENV_RE.fullmatch(k) for k, v in env.items()):
        c.bad("env", 'a table of NAME = "value" strings')
        env = {}
    ports = _parse_ports(c, data.get("ports"))
    keys = {p.key for p in ports}
    query = c.table(data, "query")
    protocol = c.get(
        query,
        "protocol",
        str,
        f"one of {', '.join(QUERY_PROTOCOLS)}",
        "query.",
        "none",
        lambda v: v in QUERY_PROTOCOLS,
    )
    query_port = c.get(
        query, "port", str, "the key of a declared port", "query.", None, lambda v: v in keys
    )
    watchdog = c.get(
        run,
        "watchdog",
        int,
        "seconds 0..3600",
        "run.",
        30 if protocol != "none" else 0,
        lambda v: 0 <= v <= 3600,
    )
    if watchdog and protocol == "none":
        c.bad("run.watchdog", "0 without a [query] protocol (a frozen server keeps its ports)")
    secrets = c.table(data, "secrets")
    if not all(
        KEY_RE.fullmatch(k) and isinstance(v, int) and 8 <= v <= 64 for k, v in secrets.items()
    ):
        c.bad("secrets", "a table of name = length (8..64)")
        secrets = {}
    app = App(
        guid=guid,
        slug=slug,
        title=title,
        command=tuple(command),
        ports=ports,
        manifest=path,
        asset_path=(bundled or _SHARE_BUNDLED) / (slug or ""),
        install=_parse_install(c, c.table(data, "install")),
        max_players=max_players,
        start_timeout=start_timeout,
        watchdog=watchdog,
        stop=_parse_stop(c, c.table(data, "stop")),
        env=dict(env),
        query=protocol,
        query_port=query_port or (ports[0].key if ports else None),
        rcon=parse_rcon(c, data, keys),
        console=parse_console(c, c.table(data, "console"), "rcon" in data),
        files=parse_files(c, data.get("files", [])),
        secrets=dict(secrets),
        saves=tuple(
            c.get(
                data,
                "saves",
                list,
                "a list of relative paths",
                "",
                [],
                lambda v: strings(v) and all(map(relative, v)),
            )
        ),
        writable=tuple(
            c.get(
                data,
                "writable",
                list,
                "a list of relative paths",
                "",
                [],
                lambda v: strings(v) and all(map(relative, v)),
            )
        ),
        configs=_parse_configs(c, data.get("config", []), keys),
    )
    if app.stop.via == "rcon" and (app.rcon is None or not app.stop.command):
        c.bad("stop.via", "console unless the manifest has [rcon] and a stop.command")
    if c.errors:
        raise InvalidInput(f"{len(c.errors)} problem(s) in {path}:\n  " + "\n  ".join(c.errors))
    return app


def _is_guid(value: str) -> bool:
    try:
        validate_guid(value)
    except InvalidInput:
        return False
    return True


def _parse_install(c: Checker, t: dict[str, Any]) -> InstallSpec:
    w = "install."
    source = c.get(
        t, "source", str, f"one of {', '.join(SOURCES)}", w, "bundled", lambda v: v in SOURCES
    )
    if source == "apt":
        packages = c.get(
            t, "packages", list, "a list of Debian package names", w, check=_package_list
        )
        return InstallSpec("apt", packages=tuple(packages or ()))
    if source == "steamcmd":
        app_id = c.get(t, "app_id", int, "a Steam app id", w, check=lambda v: v > 0)
        branch = c.get(t, "branch", str, "a branch name", w, "public", KEY_RE.fullmatch)
        login = c.get(t, "login", str, "a Steam login", w, "anonymous")
        platform = c.get(
            t, "platform", str, "windows or linux", w, None, lambda v: v in ("windows", "linux")
        )
        return InstallSpec("steamcmd", app_id=app_id, branch=branch, login=login, platform=platform)
    if source == "archive":
        url = c.get(
            t,
            "url",
            str,
            "an https:// or file:// URL",
            w,
            check=lambda v: v.startswith(("https://", "http://", "file://")),
        )
        sha256 = c.get(t, "sha256", str, "64 lowercase hex digits", w, check=_SHA_RE.fullmatch)
        strip = c.get(t, "strip_components", int, "0..5", w, 0, lambda v: 0 <= v <= 5)
        filename = c.get(
            t,
            "filename",
            str,
            "a plain file name such as server.jar",
            w,
            None,
            FILENAME_RE.fullmatch,
        )
        if filename and strip:
            c.bad(w + "strip_components", "0 with install.filename (the file is not unpacked)")
        return InstallSpec(
            "archive", url=url, sha256=sha256, strip_components=strip, filename=filename
        )
    return InstallSpec(source or "bundled")


def _parse_stop(c: Checker, t: dict[str, Any]) -> Stop:
    return Stop(
        command=c.get(t, "command", str, "a console command", "stop.", None, str.isprintable),
        via=c.get(
            t, "via", str, "console or rcon", "stop.", "console", lambda v: v in ("console", "rcon")
        ),
        signal=c.get(
            t,
            "signal",
            str,
            "a signal name such as SIGINT",
            "stop.",
            "SIGTERM",
            lambda v: v in signal.Signals.__members__,
        ),
        timeout=c.get(t, "timeout", int, "seconds 1..3600", "stop.", 60, lambda v: 1 <= v <= 3600),
    )


def _parse_ports(c: Checker, raw: Any) -> tuple[PortSpec, ...]:
    if not isinstance(raw, list) or not raw:
        c.bad("ports", "at least one [[ports]] table")
        return ()
    specs: list[PortSpec] = []
    for i, p in enumerate(raw):
        w = f"ports[{i}]."
        if not isinstance(p, dict):
            c.bad(f"ports[{i}]", "a table")
            continue
        key = c.get(p, "key", str, "a key of a-z, 0-9 and _", w, check=KEY_RE.fullmatch)
        proto = c.get(
            p,
            "protocol",
            str,
            "tcp, udp or both",
            w,
            check=lambda v: v in Transport.__members__.values(),
        )
        default = c.get(
            p, "default", int, "a port 1024..65535", w, check=lambda v: 1024 <= v <= 65535
        )
        env = c.get(p, "env", str, "an environment variable name", w, None, _ENV_RE.fullmatch)
        description = c.get(p, "description", str, "a description", w, "")
        if None not in (key, proto, default):
            specs.append(PortSpec(key, Transport(proto), default, description, env))
    if len({s.key for s in specs}) != len(specs):
        c.bad("ports", "distinct keys")
    return tuple(specs)


def _parse_configs(c: Checker, raw: Any, ports_keys: set[str]) -> tuple[ConfigOption, ...]:
    if not isinstance(raw, list):
        c.bad("config", "a list of [[config]] tables")
        return ()
    out: list[ConfigOption] = []
    for i, t in enumerate(raw):
        w = f"config[{i}]."
        if not isinstance(t, dict):
            c.bad(f"config[{i}]", "a table")
            continue
        option = c.get(t, "option", str, "a name", w)
        key = c.get(t, "key", str, "a key", w)
        fmt = c.get(
            t,
            "format",
            str,
            f"one of {', '.join(CONFIG_FORMATS)}",
            w,
            check=lambda v: v in CONFIG_FORMATS,
        )
        kind = c.get(
            t,
            "type",
            str,
            f"one of {', '.join(CONFIG_TYPES)}",
            w,
            "str",
            lambda v: v in CONFIG_TYPES,
        )
        file = c.get(t, "file", str, "a path relative to the instance directory", w, None, relative)
        if fmt == "port" and (key not in ports_keys or kind != "int"):
            c.bad(w + "key", "the key of a declared port, with type int, for format port")
        if fmt not in (None, "cli", "port") and file is None:
            c.bad(w + "file", f"a file for format {fmt}")
        options = c.get(t, "options", list, "a list of allowed values", w, [])
        extras = {k: t[k] for k in EXTRA_KEYS if k in t}
        if fmt is not None and kind is not None:
            for problem in check_extras(extras, fmt, kind):
                c.errors.append(f"{c.path}: {w}{problem}")
        if None not in (option, key, fmt):
            out.append(
                ConfigOption(
                    option=option,
                    key=key,
                    format=fmt,
                    type=kind,
                    file=file,
                    section=c.get(t, "section", str, "a section name", w, None),
                    default=t.get("default"),
                    help=c.get(t, "help", str, "a help text", w, ""),
                    options=tuple(options),
                    group=c.get(t, "group", str, "a group name", w, ""),
                    **{k: v for k, v in extras.items() if not check_extras({k: v}, fmt, kind)},
                )
            )
    if len({o.option for o in out}) != len(out):
        c.bad("config", "distinct option names")
    return tuple(out)
