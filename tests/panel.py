"""The Warlock panels' rules for manage.py and its output, transcribed from their JavaScript, so
integration tests judge warlockd's real output the way the panels do, quirks included. § is
/work/shared/warlock-contract.md; FORK is karutoil/Warlock 79a18e1, FORK-MI its reverted branch
85bbd39, UP BitsNBytes25/Warlock a0b820f (v1.2.1). Details the contract paraphrases follow
those commits' sources."""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import cmp_to_key
from typing import Literal, NamedTuple

Dialect = Literal["v1", "v2"]
Panel = Literal["FORK", "UP"]
Arg = str | int | float | bool | None  # what a route hands UP's _argsParse (JSON body values)


class PanelError(Exception):
    """The panel's own code throws here (a TypeError, or an Error it raises on purpose)."""


# --- JavaScript semantics that differ from Python's -------------------------------------------

# JS trim() and \s use WhiteSpace + LineTerminator: U+FEFF is in it, U+001C..U+001F and U+0085
# (which Python's strip() and \s take) are not.
_WS = "\t\n\x0b\x0c\r \xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
_WS += "\u2028\u2029\u202f\u205f\u3000\ufeff"
_S = "[" + re.escape(_WS) + "]"
_DOT = "[^\n\r\u2028\u2029]"  # JS '.' stops at all four line terminators, Python's at \n only
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")


def js_trim(text: str) -> str:
    """String.prototype.trim()."""
    return text.strip(_WS)


def _parse_float(text: str) -> float:  # parseFloat(): the longest decimal prefix, else NaN
    m = _DECIMAL.match(text.lstrip(_WS))
    return float(m.group()) if m else math.nan


def _parse_int(text: str) -> float:  # parseInt(), no radix (its 0x form is left out)
    m = re.match(r"[+-]?[0-9]+", text.lstrip(_WS))
    return float(m.group()) if m else math.nan


def _num_str(x: float) -> str:
    """Number.prototype.toString(): shortest round-trip digits, laid out as JavaScript does."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else "NaN" if x != x else ("" if x > 0 else "-") + "Infinity"
    _, raw, exp = Decimal(repr(abs(x))).as_tuple()
    assert isinstance(exp, int)
    n, d = len(raw) + exp, "".join(map(str, raw)).rstrip("0")  # n: the point's place
    if len(d) <= n <= 21:
        s = d + "0" * (n - len(d))
    elif 0 < n <= 21:
        s = d[:n] + "." + d[n:]
    elif -6 < n <= 0:
        s = "0." + "0" * -n + d
    else:
        s = d[0] + ("." + d[1:] if len(d) > 1 else "") + f"e{'+' if n > 0 else '-'}{abs(n - 1)}"
    return ("-" if x < 0 else "") + s


def _js_string(value: object) -> str:  # String(value) for JSON scalars
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return _num_str(float(value)) if isinstance(value, int | float) else str(value)


def _truthy(value: object) -> bool:  # [] and {} are true, NaN is false
    if isinstance(value, int | float):  # bool included
        return bool(value) and value == value
    return value is not None and value != ""


# --- §3 discovery -----------------------------------------------------------------------------

DISCOVERY = (
    'for file in {glob}; do if [ -f "$file" ]; then '
    'echo "$(basename "$file" ".app"):$(cat "$file")"; fi; done'
)


def discover(state_dir: str = "/var/lib/warlock") -> list[tuple[str, str]]:
    """§3 FORK libs/get_all_applications.mjs, UP libs/host_data.mjs getInstalls: the loop run in
    a real `sh` (for the default directory, the panels' script byte for byte), stdout decoded as
    node does; each non-blank line is `let [guid, path] = line.split(':').map(s => s.trim())`,
    so a ':' in the path cuts it. A line with no ':' (a .app file holding a newline) makes
    `path.trim()` throw: UP then lists no install on the host, FORK's list never resolves."""
    script = DISCOVERY.format(glob=shlex.quote(state_dir) + "/*.app")
    done = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=True)
    found = []
    for line in done.stdout.decode("utf-8", errors="replace").split("\n"):
        if js_trim(line):
            fields = [js_trim(f) for f in line.split(":")]
            if len(fields) < 2:
                raise PanelError(f"TypeError: path is undefined for the line {line!r}")
            found.append((fields[0], fields[1]))
    return found


def fork_mi_name(basename: str) -> tuple[str, str | None]:
    """§3, §5 FORK-MI libs/get_all_applications.mjs: `basename.split('.')`, guid parts[0], id
    parts[1] or null; a third part is dropped, and an id "" is falsy there (no --instance)."""
    parts = basename.split(".")
    return parts[0], parts[1] if len(parts) > 1 else None


# --- §2 `--help` parsing ----------------------------------------------------------------------

_FORK_OPTION = re.compile(rf"--([a-zA-Z0-9_-]+)(?:{_S}+<[^>]+>)?")
_UP_V1 = re.compile(rf"--([a-zA-Z0-9_-]+){_S}{_DOT}*\Z")
_UP_V2 = re.compile(rf"\u2502 ([a-zA-Z0-9_-]+){_S}+{_DOT}*\Z")


def fork_options(help_text: str) -> list[str]:
    """§2 FORK libs/get_all_applications.mjs: every match of /--([a-zA-Z0-9_-]+)(\\s+<[^>]+>)?/g
    over the whole text, in order; its loop pushes each one, so duplicates are kept."""
    return [m[1] for m in _FORK_OPTION.finditer(help_text)]


class UpHelp(NamedTuple):
    version: str | None  # UP stores the numbers 1 and 2 for its fallbacks; "1"/"2" compare alike
    dialect: Dialect | None
    options: list[str]


def _part(text: str) -> float:  # UP libs/version_compare.mjs: `Number(part) || 0` (0x aside)
    return float(t) if _DECIMAL.fullmatch(t := js_trim(text)) else 0.0  # '' and NaN give 0


def _compare(a: str, b: str) -> int:  # UP libs/version_compare.mjs _compare
    pa, pb = ([_part(p) for p in v.split(".")] for v in (a, b))
    for i in range(max(len(pa), len(pb))):
        x, y = (p[i] if i < len(p) else 0.0 for p in (pa, pb))
        if x != y:
            return 1 if x > y else -1
    return 0


def up_dialect(version: str | None) -> Dialect | None:
    """§1b UP libs/app_install_data.mjs: v1 if satisfies(v, '^1.0.0') (1.0.0 to 1.999.999), v2
    if ge(v, '2.0.0'), else none (UP throws). Non-numbers count 0: "2.0-rc1" is 2.0, "v2" 0."""
    if version is None:
        return None
    if _compare(version, "1.0.0") >= 0 and _compare(version, "1.999.999") <= 0:
        return "v1"
    return "v2" if _compare(version, "2.0.0") >= 0 else None


def up_help(help_text: str) -> UpHelp:
    """§2 UP libs/app_install_data.mjs init(), on JS-trimmed lines. After the first marker line
    every line is tried, with the regex of the dialect the version has then. An argparse option
    printed with no help ends its line at its name, so /^--(name)\\s.*$/ misses it."""
    options: list[str] = []
    version: str | None = None
    in_commands = False
    for line in (js_trim(raw) for raw in help_text.split("\n")):
        if line.startswith("Warlock Manager: "):
            version = line.split(" ")[2]
        elif line.startswith("\u256d\u2500 Commands"):
            version, in_commands = "2" if version is None else version, True
        elif line.startswith("options:"):
            version, in_commands = "1", True
        if in_commands and version is not None:
            m = _UP_V1.match(line) if up_dialect(version) == "v1" else None
            m = m or (_UP_V2.match(line) if _compare(version, "2.0.0") >= 0 else None)
            if m:
                options.append(m[1])
    return UpHelp(version, up_dialect(version), options)


# --- §1 command lines -------------------------------------------------------------------------


def _up_arg(arg: Arg) -> str:  # UP _argsParse: '$', '`', '\', tab and newline stay bare
    if not isinstance(arg, str):
        return "" if arg is None else _js_string(arg)
    if arg[:1] == arg[-1:] == '"' or arg[:1] == arg[-1:] == "'":
        return arg  # "already quoted, assume properly escaped"
    return '"' + arg.replace('"', '\\"') + '"' if " " in arg or '"' in arg else arg


def up_command(
    path: str,
    option: str,
    args: Sequence[Arg] = (),
    service: str | None = None,
    version: str | None = "2",
    options: Sequence[str] | None = None,
) -> str:
    """§1b UP libs/app_install_data.mjs get(Service)CommandString: v1 `<path>/manage.py
    [--service "<svc>"] --<option> <args>`, v2 `<path>/manage.py <option> [--service "<svc>"]
    <args>`, trimmed. An argument is quoted only for a space or '"' (then '"' becomes '\\"'); the
    service never is escaped. version "2" is what UP records for typer help with no `Warlock
    Manager:` line; `options` (from --help) gives UP's throw for an option not in it."""
    if options is not None and option not in options:
        raise PanelError(f"Option '{option}' is not supported by {path}")
    dialect = up_dialect(version)
    if dialect is None:
        raise PanelError(f"Unsupported application version {version} for {path}")
    svc = "" if service is None else f' --service "{service}"'
    head = f"{svc} --{option}" if dialect == "v1" else f" {option}{svc}"
    return js_trim(f"{path}/manage.py{head} " + " ".join(_up_arg(a) for a in args))


def restore_basename(filename: str) -> str:
    """FORK/UP routes/api/application_backup.js PUT: JS-trimmed, refused unless it matches
    /^[A-Za-z0-9._-]+$/ whole (so not empty, no '/'; Python's $ would allow a final \n)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name := js_trim(filename)):
        raise PanelError(f"Invalid filename {filename!r}")
    return name


def fork_command(
    path: str, option: str, *args: str, service: str | None = None, max_backups: int | None = None
) -> str:
    """§1a FORK's template strings: `--service <svc>` bare; `--set-config "<opt>" "<value>"`,
    nothing escaped (routes/api/application_configs.js, service_configs.js); `--rcon "<cmd>"`,
    '"' escaped (routes/api/service_command.js, without its socket-first wrapper); `--delayed-*
    &` (service_control.js); `set -euo pipefail; ` before `--backup` and `--restore
    "<path>/backups/<basename>"` (application_backup.js); with max_backups the cron line
    (public/assets/application_backups.js)."""
    base = f"{path}/manage.py" + ("" if service is None else f" --service {service}")
    if option == "restore":
        target = f"{path}/backups/" + restore_basename(args[0])
        return f'set -euo pipefail; {base} --restore "{target}"'
    if option == "backup" and max_backups is not None:
        return f"{base} --backup --max-backups={max_backups}"
    if option == "backup":
        return f"set -euo pipefail; {base} --backup"
    if option == "set-config":
        return f'{base} --set-config "{args[0]}" "{args[1]}"'
    if option == "rcon":
        return f'{base} --rcon "' + args[0].replace('"', '\\"') + '"'
    return f"{base} --{option}" + (" &" if option in ("delayed-stop", "delayed-restart") else "")


def ssh_line(cmd: str, host: str, panel: Panel = "UP") -> str:
    """§1 FORK/UP libs/cmd_runner.mjs: what node's exec() gives the local /bin/sh, `cmd` in one
    single-quoted word with each ' as '\\''; localhost and 127.0.0.1 run `cmd` as it is."""
    if host in ("localhost", "127.0.0.1"):
        return cmd
    opts = "-o LogLevel=quiet -o StrictHostKeyChecking=no"
    opts += " -o PasswordAuthentication=no -o ConnectTimeout=3" if panel == "UP" else ""
    return f"ssh {opts} root@{host} '" + cmd.replace("'", "'\\''") + "'"


def ssh_remote(cmd: str, panel: Panel = "UP") -> str:
    """§1 libs/cmd_runner.mjs: the string root's shell on the host gets: a real `sh` parses
    ssh_line with ssh swapped for a function printing its arguments joined by spaces, as ssh."""
    line = ssh_line(cmd, "host.invalid", panel)
    rest = line[line.index("root@host.invalid ") + len("root@host.invalid ") :]
    script = "_ssh() { printf '%s' \"$*\"; }; _ssh " + rest
    done = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=True)
    return done.stdout.decode("utf-8", errors="surrogateescape")


# --- §2 JSON shapes ---------------------------------------------------------------------------


def _spec(text: str) -> dict[str, str]:  # "key:kind ...": str|int|bool|list|any[?], or a|b|c
    return {k: v for k, v in (item.split(":") for item in text.split())}


def _ok(kind: str, v: object) -> bool:
    if "|" in kind:
        return isinstance(v, str) and v in kind.split("|")
    if v is None:
        return kind.endswith("?")
    t = {"str": str, "int": int, "bool": bool, "list": list, "any": object}[kind.rstrip("?")]
    return isinstance(v, t) and not (t is int and isinstance(v, bool))  # JSON true is no int


_V1_SERVICE = _spec("service:str name:str ip:str? port:int? enabled:bool max_players:int?")
_V2_SERVICE = _V1_SERVICE | _spec("app_dir:str bak_dir:str version:str? loader:str?")
_METRICS = _spec("status:running|stopped|starting|stopping player_count:int?")
_METRICS |= _spec("game_pid:int service_pid:int")
_CONFIG = _spec("option:str default:any? value:any? type:bool|int|float|text|str|list help:str")
_CONFIG |= _spec("options:list?")
_PORT = _spec("value:int config:str? service:str protocol:UDP|TCP description:str")
_MEMORY = re.compile(rf"([0-9.]+){_S}*(MB|GB)?", re.IGNORECASE)  # JS \d is ASCII only


def _problems(where: str, entry: object, spec: Mapping[str, str]) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}: expected an object, got {json.dumps(entry)[:60]}"]
    missing = [f"{where}: missing {k!r}" for k in spec if k not in entry]
    wrong = [k for k in spec if k in entry and not _ok(spec[k], entry[k])]
    return missing + [f"{where}: {k!r} should be {spec[k]}, got {entry[k]!r}" for k in wrong]


def _keyed(obj: object, what: str, spec: Mapping[str, str]) -> list[str]:  # keyed by unit name
    if not isinstance(obj, dict):
        return [f"{what}: expected an object keyed by service name, got {json.dumps(obj)[:60]}"]
    problems = []
    for key, entry in obj.items():
        where = f"{what}[{key!r}]"
        if key.endswith(".service"):
            problems.append(f"{where}: the panel appends '.service' itself (journalctl -u ...)")
        problems += _problems(where, entry, spec)
        if isinstance(entry, dict) and entry.get("service", key) != key:
            problems.append(f"{where}: 'service' is {entry['service']!r}; the panel uses both")
    return problems


def _listed(obj: object, what: str, spec: Mapping[str, str]) -> list[str]:
    if not isinstance(obj, list):
        return [f"{what}: expected a list, got {json.dumps(obj)[:60]}"]
    return [p for i, entry in enumerate(obj) for p in _problems(f"{what}[{i}]", entry, spec)]


def check_get_services(obj: object, dialect: Dialect) -> list[str]:
    """§2 get-services: v1 keys of FORK scriptlets/warlock/default_run.py, v2 adds WM get_info()'s
    app_dir, bak_dir, version, loader (else UP libs/app_install_data.mjs assumes <path>/AppFiles
    and <path>/backups). Keys are unit names without '.service'; `ip` may be null."""
    return _keyed(obj, "get-services", _V1_SERVICE if dialect == "v1" else _V2_SERVICE)


def check_get_metrics(obj: object) -> list[str]:
    """§2 get-metrics as FORK/UP libs/get_application_metrics.mjs read it. `players` (absent from
    FORK's documented example) and v2's `ports` are lists when present. memory_usage is "N/A" or
    matches /^([\\d.]+)\\s*(MB|GB)?/i with nothing left over ("12 KB" is stored as 12 MB)."""
    problems = _keyed(obj, "get-metrics", _METRICS)
    for key, entry in obj.items() if isinstance(obj, dict) else ():
        if not isinstance(entry, dict):
            continue  # _keyed said so
        where = f"get-metrics[{key!r}]"
        for name in ("players", "ports"):
            if name in entry and not isinstance(entry[name], list):
                problems.append(f"{where}: {name!r} should be a list, got {entry[name]!r}")
        mem, cpu = entry.get("memory_usage"), entry.get("cpu_usage")
        if mem != "N/A" and not (isinstance(mem, str) and _MEMORY.fullmatch(mem)):
            stored = _memory_mb(mem, "UP")
            problems.append(f"{where}: memory_usage {mem!r} is stored as {stored:g} MB")
        if cpu != "N/A" and not (isinstance(cpu, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?%", cpu)):
            problems.append(f"{where}: cpu_usage {cpu!r} is not like '28%' or 'N/A'")
    return problems


def check_get_configs(obj: object, dialect: Dialect = "v2") -> list[str]:
    """§2 get-configs (v1 FORK scriptlets/warlock/default_run.py, v2 WM app_runner.py), types as
    UP public/assets/service_configure.js renders them; `group` (v2 only) may be null."""
    return _listed(obj, "get-configs", _CONFIG | _spec("group:str?" if dialect == "v2" else ""))


def check_get_ports(obj: object) -> list[str]:
    """§2 get-ports, both dialects; UP routes/api/ports.js maps `value` to `port`."""
    return _listed(obj, "get-ports", _PORT)


def check_get_commands(obj: object) -> list[str]:
    """§2 get-commands: a JSON list of strings (UP routes/api/service_cmd.js)."""
    ok = isinstance(obj, list) and all(isinstance(v, str) for v in obj)
    return [] if ok else [f"get-commands: expected a list of strings, got {json.dumps(obj)[:60]}"]


def created_service(stdout: str) -> str | None:
    """§2 UP routes/api/service.js PUT: the last line of the trimmed stdout, if it starts with
    'CreatedService:', gives `lastLine.split(':')[1].trim()` (a ':' in the name cuts it)."""
    last = js_trim(stdout).split("\n")[-1]
    return js_trim(last.split(":")[1]) if last.startswith("CreatedService:") else None


def _memory_mb(value: object, panel: Panel) -> float:
    if not _truthy(value) or value == "N/A":
        return 0
    if not isinstance(value, str) and panel == "FORK":  # FORK does not check the type
        raise PanelError("TypeError: svc.memory_usage.match is not a function")
    if (m := _MEMORY.match(value) if isinstance(value, str) else None) is None:
        return 0
    mb = _parse_float(m[1]) * (1024 if m[2] and m[2].upper() == "GB" else 1)
    return _parse_int(_num_str(mb))


def _cpu_percent(value: object, panel: Panel) -> float:
    if panel == "FORK":  # parseInt(svc.cpu_usage) || 0
        cpu = _parse_int(_js_string(value))
        return 0 if math.isnan(cpu) else cpu
    if not _truthy(value) or value == "N/A":
        return 0
    if isinstance(value, str):
        return _parse_float(value.replace("%", "", 1))
    return _parse_int(_js_string(value))


def metric_row(entry: Mapping[str, object], panel: Panel = "UP") -> dict[str, object]:
    """§2 the Metric row (FORK/UP libs/get_application_metrics.mjs, via tasks/metrics_poll.mjs):
    player_count `|| 0`; status 1 if running; memory in whole MB (GB x 1024, other units read as
    MB, "." is NaN, FORK throws on a number); CPU UP parseFloat ("28.5%" 28.5), FORK parseInt."""
    players = entry.get("player_count")
    return {
        "player_count": players if _truthy(players) else 0,
        "status": 1 if entry.get("status") == "running" else 0,
        "memory_usage": _memory_mb(entry.get("memory_usage"), panel),
        "cpu_usage": _cpu_percent(entry.get("cpu_usage"), panel),
    }


# --- §2 backups listing -----------------------------------------------------------------------


def backup_dir(path: str, service: Mapping[str, object] | None = None) -> str:
    """§2 Backups listing: UP public/assets/service_backups.js `loadedServiceData.bak_dir ||
    <path>/backups`; FORK public/assets/application_backups.js always `<path>/backups`."""
    bak = None if service is None else service.get("bak_dir")
    return _js_string(bak) if _truthy(bak) else f"{path}/backups"


def _modified(row: Mapping[str, object]) -> float:  # `b.modified - a.modified`: null is 0
    v = row.get("modified", math.nan)  # files.js gives a number or null; undefined is NaN
    return 0.0 if v is None else float(v) if isinstance(v, int | float) else math.nan


def backups_listing(files: Sequence[Mapping[str, object]]) -> list[str]:
    """§2 Backups listing (UP public/assets/service_backups.js, FORK application_backups.js):
    files.js rows in the stable sort `(a, b) => b.modified - a.modified` (newest first, NaN a
    tie), kept if the name ends in '.tar.gz': the names offered for restore, in order."""

    def newer_first(a: Mapping[str, object], b: Mapping[str, object]) -> int:
        d = _modified(b) - _modified(a)
        return 0 if math.isnan(d) else (d > 0) - (d < 0)

    names = (r.get("name") for r in sorted(files, key=cmp_to_key(newer_first)))
    return [n for n in names if isinstance(n, str) and n.endswith(".tar.gz")]
