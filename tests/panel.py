"""The Warlock panels' rules for manage.py and its output, from their JavaScript, so integration
tests judge warlockd's real output as the panels do, quirks included. § is warlock-contract.md
(/work/shared); FORK is karutoil/Warlock 79a18e1, FORK-MI its branch 85bbd39, UP
BitsNBytes25/Warlock a0b820f (v1.2.1), whose sources settle what the contract paraphrases."""

from __future__ import annotations

import json
import math
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import cmp_to_key
from typing import Literal, NamedTuple

Dialect = Literal["v1", "v2"]
Panel = Literal["FORK", "UP"]
Arg = str | int | float | bool | None  # what a route hands UP's _argsParse (JSON body values)
Opt = str | None
Args = Sequence[Arg]


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
_INTEGER = re.compile(r"[+-]?[0-9]+")


def js_trim(text: str) -> str:
    """String.prototype.trim()."""
    return text.strip(_WS)


def _parse(text: object, whole: bool = False) -> float:  # parseFloat(), or parseInt() sans 0x
    m = (_INTEGER if whole else _DECIMAL).match(_js_string(text).lstrip(_WS))
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
    return (
        bool(value) and value == value
        if isinstance(value, int | float)
        else value not in ("", None)
    )


# --- §3 discovery -----------------------------------------------------------------------------
DISCOVERY = (
    'for file in {glob}; do if [ -f "$file" ]; then '
    'echo "$(basename "$file" ".app"):$(cat "$file")"; fi; done'
)


def discover(
    state_dir: str = "/var/lib/warlock", run: Callable[[str], bytes] | None = None
) -> list[tuple[str, str]]:
    """§3 FORK libs/get_all_applications.mjs, UP libs/host_data.mjs getInstalls: the loop in a
    real `sh` (the panels' own script for the default directory), then per non-blank line
    `let [guid, path] = line.split(':').map(s => s.trim())`: a ':' in the path cuts it; a line
    with no ':' (a newline in a .app file) throws (UP lists no install, FORK never answers)."""
    script = DISCOVERY.format(glob=shlex.quote(state_dir) + "/*.app")
    found = []
    for line in (run or _sh)(script).decode("utf-8", errors="replace").split("\n"):
        if js_trim(line):
            fields = [js_trim(f) for f in line.split(":")]
            if len(fields) < 2:
                raise PanelError(f"TypeError: path is undefined for the line {line!r}")
            found.append((fields[0], fields[1]))
    return found


def _sh(script: str) -> bytes:  # here; tests pass a `run` for the machine under test
    return subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=True).stdout


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
    path: str, option: str, args: Args = (), service: Opt = None, version: Opt | UpHelp = "2"
) -> str:
    """§1b UP libs/app_install_data.mjs get(Service)CommandString, v1 and v2 forms. Only an arg
    with a space or '"' is quoted ('"' as '\\"'); the service is never escaped. "2" is UP's version
    for typer help without `Warlock Manager:`; an UpHelp also checks the option is listed."""
    if isinstance(version, UpHelp) and option not in version.options:
        raise PanelError(f"Option '{option}' is not supported by {path}")
    version = version.version if isinstance(version, UpHelp) else version
    dialect = up_dialect(version)
    if dialect is None:
        raise PanelError(f"Unsupported application version {version} for {path}")
    svc = "" if service is None else f' --service "{service}"'
    head = f"{svc} --{option}" if dialect == "v1" else f" {option}{svc}"
    return js_trim(f"{path}/manage.py{head} " + " ".join(_up_arg(a) for a in args))


def restore_basename(filename: str) -> str:
    """FORK/UP routes/api/application_backup.js PUT: JS-trimmed, refused unless it matches
    /^[A-Za-z0-9._-]+$/ whole (so not empty, no '/'; Python's $ would allow a final \\n)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name := js_trim(filename)):
        raise PanelError(f"Invalid filename {filename!r}")
    return name


def fork_command(
    path: str, option: str, *args: str, service: str | None = None, max_backups: int | None = None
) -> str:
    """§1a FORK routes/api/*.js: `--service <svc>` bare, `--set-config "<opt>" "<value>"` unescaped,
    `--rcon "<cmd>"` '"'-escaped, `--delayed-* &`, `set -euo pipefail; ` before --backup and
    --restore "<path>/backups/<f>"; with max_backups the cron line (application_backups.js)."""
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
    rest = ssh_line(cmd, "host.invalid", panel).split(" root@host.invalid ", 1)[1]
    script = "_ssh() { printf '%s' \"$*\"; }; _ssh " + rest
    done = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=True)
    return done.stdout.decode("utf-8", errors="surrogateescape")


# --- §2 JSON shapes ---------------------------------------------------------------------------


def _spec(text: str) -> dict[str, str]:  # "key:kind ...": [~]str|int|bool|list|any[?] or a|b
    return {k: v for k, v in (item.split(":") for item in text.split())}


def _ok(kind: str, v: object) -> bool:
    if "|" in kind:
        return isinstance(v, str) and v in kind.split("|")
    if v is None:
        return kind.endswith("?")
    t = {"str": str, "int": int, "bool": bool, "list": list, "any": object}[kind.strip("~?")]
    return isinstance(v, t) and not (t is int and isinstance(v, bool))  # JSON true is no int


_V1_SERVICE = _spec("service:str name:str ip:str? port:int? enabled:bool max_players:int?")
_V2_SERVICE = _V1_SERVICE | _spec("app_dir:str bak_dir:str version:str? loader:str?")
_METRICS = _spec("status:running|stopped|starting|stopping player_count:int?")
_METRICS |= _spec("game_pid:int service_pid:int players:~list ports:~list")  # ~: may be absent
_CONFIG = _spec("option:str default:any? value:any? type:bool|int|float|text|str|list help:str")
_CONFIG |= _spec("options:list?")
_PORT = _spec("value:int config:str? service:str protocol:UDP|TCP description:str")
_MEMORY = re.compile(rf"([0-9.]+){_S}*(MB|GB)?", re.IGNORECASE)  # JS \d is ASCII only


def _problems(where: str, entry: object, spec: Mapping[str, str]) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}: expected an object, got {json.dumps(entry)[:60]}"]
    missing = [f"{where}: missing {k!r}" for k in spec if k not in entry and spec[k][0] != "~"]
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
    """§2 get-services: keys of FORK scriptlets/warlock/default_run.py (v1) or WM get_info() (v2;
    without them UP libs/app_install_data.mjs assumes <path>/backups). `ip` may be null."""
    return _keyed(obj, "get-services", _V1_SERVICE if dialect == "v1" else _V2_SERVICE)


def check_get_metrics(obj: object) -> list[str]:
    """§2 get-metrics as FORK/UP libs/get_application_metrics.mjs read it; `players` (not in FORK's
    example) and v2 `ports` may be absent; memory_usage "N/A" or all of it matching the panel's
    /^([\\d.]+)\\s*(MB|GB)?/i, since the panel stores "12 KB" as 12 MB."""
    problems = _keyed(obj, "get-metrics", _METRICS)
    for key, entry in obj.items() if isinstance(obj, dict) else ():
        if not isinstance(entry, dict):
            continue  # _keyed said so
        where = f"get-metrics[{key!r}]"
        mem, cpu = entry.get("memory_usage"), entry.get("cpu_usage")
        if mem != "N/A" and not (isinstance(mem, str) and _MEMORY.fullmatch(mem)):
            stored = metric_row({"memory_usage": mem})["memory_usage"]
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


def metric_row(entry: Mapping[str, object], panel: Panel = "UP") -> dict[str, object]:
    """§2 Metric row (FORK/UP libs/get_application_metrics.mjs): player_count `|| 0`, status 1 if
    running, memory whole MB (GB x 1024, other units read as MB; FORK throws on a number), CPU %
    by parseFloat (UP, after one '%' is dropped) or parseInt (FORK)."""
    players, mem, cpu = (entry.get(k) for k in ("player_count", "memory_usage", "cpu_usage"))
    mb = 0.0
    if _truthy(mem) and mem != "N/A":
        if not isinstance(mem, str) and panel == "FORK":  # FORK calls .match unchecked
            raise PanelError("TypeError: svc.memory_usage.match is not a function")
        if m := _MEMORY.match(mem) if isinstance(mem, str) else None:
            mb = _parse(m[1]) * (1024 if m[2] and m[2].upper() == "GB" else 1)
            mb = _parse(_num_str(mb), whole=True)  # parseInt(number) reads its toString()
    if panel == "FORK":  # parseInt(svc.cpu_usage) || 0
        pct = 0.0 if math.isnan(pct := _parse(cpu, whole=True)) else pct
    elif _truthy(cpu) and cpu != "N/A":
        pct = _parse(cpu.replace("%", "", 1)) if isinstance(cpu, str) else _parse(cpu, whole=True)
    else:
        pct = 0.0
    row: dict[str, object] = {"player_count": players if _truthy(players) else 0, "cpu_usage": pct}
    return row | {"status": 1 if entry.get("status") == "running" else 0, "memory_usage": mb}


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
    """§2 Backups listing (UP public/assets/service_backups.js, FORK application_backups.js): rows
    stably sorted by `b.modified - a.modified` (NaN ties), names ending in '.tar.gz', in order."""

    def newer_first(a: Mapping[str, object], b: Mapping[str, object]) -> int:
        d = _modified(b) - _modified(a)
        return 0 if math.isnan(d) else (d > 0) - (d < 0)

    names = (r.get("name") for r in sorted(files, key=cmp_to_key(newer_first)))
    return [n for n in names if isinstance(n, str) and n.endswith(".tar.gz")]
