"""Ready answers to the panels' minute poll: `get-services` and `get-metrics` from what
warlockd.service last saw, with no systemd, manifest, jinja2 or typer on the way.

A Warlock panel runs `manage.py --get-metrics` (or `--get-services`) for every instance
every minute, each a fresh process: the live answer (pystemd, the game's manifest, its
query) costs several times the interpreter's own start-up. The daemon already has all of
it, so on every sample and every change of a unit it writes one file per instance,
`/run/warlock/instances/<id>.answer`, and manage.py answers from it before importing
anything it does not need (cli/entry.py tries this first): the two answers are stored as
the very JSON text the commands print, after a one-line header, so reading one needs no
json, re or typing module (each costs a share of the interpreter's start-up).

An answer is used only when all of this holds, else the live path answers:
- the directory and the file belong to root and nobody else may write them (a game's
  user, whose processes the daemon watches, cannot plant or change one);
- it has not expired (three sampling intervals: the daemon is running);
- the instance's record is the very file the daemon read (inode, mtime and size): a
  rename, a changed setting or a deleted instance makes the answer stale at once;
- for several instances, every record in the registry has one.
Commands that change a unit (start, stop, restart) remove the answer of its instance, and
the daemon writes a new one when systemd tells it of the change.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DIR = "instances"
SUFFIX = ".answer"
MAGIC = "warlock-answer-1"
UPTIME = '"@@uptime@@"'  # where the reader puts the running process's uptime
# What `get-services` shows of an instance (report.service); `get-metrics` shows all of it.
SERVICE_KEYS = (
    "service", "name", "instance_id", "app", "app_guid", "ip", "port", "ports", "status",
    "crashed", "restart_needed", "enabled", "player_count", "players", "max_players",
    "uptime", "restarts", "result", "service_pid", "game_pid", "app_dir", "bak_dir",
    "version", "loader",
)  # fmt: skip
VERBS = {"get-services": "services", "--get-services": "services",
         "get-metrics": "metrics", "--get-metrics": "metrics"}  # fmt: skip
_HEX = frozenset("0123456789abcdef")
_GUID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def path(run_dir: str, instance_id: str) -> str:
    return f"{run_dir}/{DIR}/{instance_id}{SUFFIX}"


def valid_id(text: str) -> bool:
    """A lowercase UUID or `default`, as model.parse_id takes them (without re)."""
    if text == "default":
        return True
    parts = text.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(set(p) <= _HEX for p in parts)


def _valid_guid(text: str) -> bool:
    return 0 < len(text) <= 64 and set(text) <= _GUID_CHARS and text[0] not in "_-"


def render(data: dict[str, Any]) -> tuple[str, str]:
    """The row as `get-services` and `get-metrics` print it (one instance), the uptime
    left for the reader to fill in."""
    import json

    service = str(data["service"])
    full = {k: v for k, v in data.items() if k != "live"} | {"uptime": "@@uptime@@",
                                                              "source": "cache"}  # fmt: skip
    services = {k: full[k] for k in SERVICE_KEYS}
    return (json.dumps({service: services}, indent=2, default=str),
            json.dumps({service: full}, indent=2, default=str))  # fmt: skip


def write(
    run_dir: str, instance_id: str, data: dict[str, Any], record: list[int], started: float,
    ttl: float, now: float | None = None,
) -> None:  # fmt: skip
    """The daemon's side: the answers for `data` (a get-metrics row), the record it came
    from, and when the running process started (uptime is counted when asked)."""
    now = time.time() if now is None else now
    services, metrics = render(data)
    guid = str(data["app_guid"])
    if not valid_id(instance_id) or not _valid_guid(guid) or len(record) != 3:
        raise ValueError(f"no answer for {instance_id!r} of {guid!r}")
    head = " ".join(str(x) for x in (
        MAGIC, now, now + ttl, *record, started, guid, instance_id,
        len(services.encode()), len(metrics.encode()),
    ))  # fmt: skip
    directory = f"{run_dir}/{DIR}"
    os.makedirs(directory, mode=0o755, exist_ok=True)
    tmp = f"{directory}/.{instance_id}.{os.getpid()}.tmp"  # one writer: the daemon's loop
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{head}\n{services}{metrics}")
        os.replace(tmp, path(run_dir, instance_id))  # readers see old or new, never half
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def forget(run_dir: str, instance_id: str) -> None:
    """The unit changed: the next poll asks systemd until the daemon writes again."""
    import contextlib

    # none (daemon down, never sampled), or not ours to remove: live either way
    with contextlib.suppress(OSError):
        os.unlink(path(run_dir, instance_id))


def clear(run_dir: str) -> None:
    """Every answer, when warlockd stops: polls go live until it is back."""
    import contextlib

    directory = f"{run_dir}/{DIR}"
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            with contextlib.suppress(OSError):
                os.unlink(f"{directory}/{name}")


def _trusted(st: os.stat_result, owner: int) -> bool:
    return st.st_uid == owner and not st.st_mode & 0o022


def read(
    run_dir: str, state_dir: str, instance_id: str, what: str = "metrics", owner: int = 0,
    now: float | None = None, app: str | None = None,
) -> str | None:  # fmt: skip
    """The instance's answer to `what` (services, metrics) as printed, or None when it
    cannot be trusted; `app`: it must be an instance of that game."""
    now = time.time() if now is None else now
    try:
        if not valid_id(instance_id) or not _trusted(os.stat(f"{run_dir}/{DIR}"), owner):
            return None
        fd = os.open(path(run_dir, instance_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not _trusted(st, owner) or (st.st_mode & 0o170000) != 0o100000:
                return None
            raw = f.read(1 << 20)
        head, _, rest = raw.partition(b"\n")
        (magic, _written, expires, ino, mtime, size, started, guid, iid, n_services,
         n_metrics) = head.decode().split(" ")  # fmt: skip
        if magic != MAGIC or iid != instance_id or float(expires) <= now:
            return None
        if not _valid_guid(guid) or (app is not None and guid != app):
            return None
        stem = guid if instance_id == "default" else f"{guid}.{instance_id}"
        rec = os.stat(f"{state_dir}/{stem}.toml")
        if (rec.st_ino, rec.st_mtime_ns, rec.st_size) != (int(ino), int(mtime), int(size)):
            return None  # the record changed since the daemon read it
        cut = int(n_services)
        if len(rest) != cut + int(n_metrics):
            return None
        text = (rest[:cut] if what == "services" else rest[cut:]).decode()
        began = float(started)
        return text.replace(UPTIME, str(max(0, int(now - began)) if began else 0), 1)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _ids(state_dir: str, app: str | None) -> list[str] | None:
    """Every registered instance (of one game), in the registry's own order."""
    try:
        names = sorted(os.listdir(state_dir))
    except OSError:
        return None
    out = []
    for name in names:
        if name.startswith(".") or not name.endswith(".toml"):
            continue
        guid, _, iid = name[:-5].partition(".")
        if app is None or guid == app:
            out.append(iid or "default")
    return out


def parse(argv: list[str], scope: str | None) -> tuple[str, str | None] | None:
    """(what, instance or None for all) of a plain poll call, or None for anything else."""
    what, instance = None, scope
    it = iter(argv)
    for arg in it:
        if arg in VERBS and what is None:
            what = VERBS[arg]
        elif arg in ("--instance", "-i") or arg.startswith("--instance="):
            instance = arg.partition("=")[2] or next(it, "")
        else:
            return None  # options the full paths handle (--service, --debug, --help...)
    if what is None or (instance is not None and not valid_id(instance)):
        return None
    return what, instance


def answer(
    argv: list[str], scope_instance: str | None = None, scope_app: str | None = None,
    owner: int = 0, env: dict[str, str] | None = None,
) -> str | None:  # fmt: skip
    """What `manage.py ARGV` prints, from the daemon's answers; None: ask live."""
    from . import dirs

    call = parse(argv, scope_instance)
    if call is None:
        return None
    what, instance = call
    run_dir, state_dir = dirs.runtime_dir(env), dirs.state_dir(env)
    ids = [instance] if instance else _ids(state_dir, scope_app)
    if not ids:
        return None  # none registered: the live path says so in its own words
    now = time.time()
    parts = []
    for iid in ids:
        text = read(run_dir, state_dir, iid, what, owner, now, scope_app)
        if text is None:
            return None
        parts.append(text[2:-2])  # the row inside its `{\n ... \n}`
    return "{\n" + ",\n".join(parts) + "\n}\n"
