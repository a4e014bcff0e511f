"""The verbs: each validates first, then changes systemd and disk, undoing its steps on failure."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import fsutil, units
from .apps import App, find_app
from .errors import Conflict, InvalidInput, SystemdError, WarlockError
from .host import Host
from .install import Build
from .model import Instance, Limits, new_id, validate_id, validate_name
from .ports import Merged, allocate, holder_of, parse_port
from .registry import Problem
from .run import run
from .systemd import UnitState

START_TIMEOUT = 120.0


class CreateRequest(NamedTuple):
    app: str
    name: str | None = None
    instance_id: str | None = None
    ports: Sequence[str] = ()
    dir: str | None = None
    limits: Limits = Limits()
    env: Sequence[str] = ()


_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_env(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not _ENV_NAME_RE.fullmatch(key):  # systemd ignores other names
            raise InvalidInput(f"--env {item!r}: expected NAME=value")
        if not value.isprintable():
            raise InvalidInput(f"--env {key}: the value contains a control character")
        out[key] = value
    return out


def _overlaps(a: str, b: str) -> bool:
    pa, pb = Path(a), Path(b)
    return pa == pb or pa.is_relative_to(pb) or pb.is_relative_to(pa)


_SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/dpkg",
    "/var/log",
)


def _instance_dir(host: Host, given: str) -> str:
    """A directory the instance may own: it gets chown'ed to the game's user, and purged."""
    path = units.validate_dir(given)
    p = Path(path)
    for d in _SYSTEM_DIRS:
        if p == Path(d) or p.is_relative_to(d):
            raise InvalidInput(f"--dir {path} is a system directory")
    if p in (Path("/home"), Path("/var"), Path("/var/lib"), Path("/opt"), Path("/srv")):
        raise InvalidInput(f"--dir {path} is a top-level directory", hint=f"use {path}/<name>")
    state = host.paths.state
    if p.is_relative_to(state) and not (p.parent == host.paths.instances):
        raise InvalidInput(
            f"--dir {path} is inside the registry {state}",
            hint=f"use {host.paths.instances}/<name>",
        )
    if p.exists() and (not p.is_dir() or any(p.iterdir())):
        raise InvalidInput(f"--dir {path} exists and is not an empty directory")
    return path


def _registry_taken(host: Host, others: Sequence[Instance]) -> dict[tuple[str, int], str]:
    """Ports of every registered instance, on both protocols: a number is one instance's."""
    taken: dict[tuple[str, int], str] = {}
    for inst in others:
        for port in inst.ports.values():
            for proto in ("tcp", "udp"):
                taken[(proto, port)] = f"instance {inst.id} ({inst.name})"
    return taken


def create(host: Host, req: CreateRequest) -> Instance:
    app = find_app(host.paths, req.app)
    instance_id = validate_id(req.instance_id) if req.instance_id else new_id()
    name = validate_name(req.name if req.name is not None else app.title)
    explicit = dict(parse_port(p) for p in req.ports)
    path = _instance_dir(host, req.dir) if req.dir else str(host.paths.instances / instance_id)
    env = _parse_env(req.env)
    build = ensure_installed(host, app)  # before any instance state: a failure leaves nothing
    host.accounts.check_reachable(build.path)
    host.accounts.check_reachable(units.PACKAGE_ROOT / "warlockd")
    registry = host.registry
    with registry.lock():
        recover_interrupted(host)
        existing, _ = registry.scan()
        if registry.exists(instance_id):
            raise Conflict(f"instance {instance_id} already exists")
        for other in existing:
            if _overlaps(path, other.path):
                raise Conflict(f"--dir {path} overlaps instance {other.id} at {other.path}")
        taken = Merged(_registry_taken(host, existing), host.probe_ports())
        inst = Instance(
            id=instance_id,
            app=app.guid,
            name=name,
            path=path,
            ports=allocate(app.ports, taken, explicit),
            created_at=_now(),
            limits=req.limits,
            env=env,
            build=build.build_id,
            secrets={k: _secret(n) for k, n in app.secrets.items()},
        )
        # all input is checked by here: what follows only writes
        dropin = units.render_dropin(inst, app, host.paths, build.path)
        _apply_create(host, inst, dropin, build.path, app.writable)
    return inst


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _secret(length: int) -> str:
    import secrets
    import string

    # letters and digits only: these end up on game command lines and in rcon packets
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def install_path(host: Host, app: App, build_id: str) -> Path:
    """Where an instance's server files are, from its app and recorded build."""
    if app.install.source == "bundled":
        return app.asset_path
    if app.install.source == "apt":
        return Path("/")
    return host.paths.state / "apps" / app.guid / build_id


def refresh_dropins(host: Host) -> list[str]:
    """Render every instance's drop-in again and write the ones that changed (a newer
    warlockd, an edited manifest), with one reload. A running game keeps what it was
    started with until its next start. Returns the units whose drop-ins were rewritten."""
    changed: list[str] = []
    apps: dict[str, App] = {}
    with host.registry.lock():
        instances, _ = host.registry.scan()
        for inst in instances:
            try:
                app = apps.get(inst.app) or apps.setdefault(
                    inst.app, find_app(host.paths, inst.app)
                )
                path = install_path(host, app, inst.build)
                dropin = units.render_dropin(inst, app, host.paths, path)
            except WarlockError as e:  # one instance's problem does not stop the others
                _log(f"warning: {inst.unit}: drop-in left as it is: {e.message}")
                continue
            if units.read_dropin(host.paths, inst) != dropin:
                units.write_dropin(host.paths, inst, dropin)
                changed.append(inst.unit)
        if changed:
            host.systemd.reload()
    return changed


def ensure_installed(host: Host, app: App) -> Build:
    """The app's current build, installing it first if this host has none (once per app)."""
    if app.install.source == "bundled":
        return Build(app.asset_path, "bundled")
    from . import install

    apps_dir = host.paths.state / "apps"
    if app.install.source == "apt":  # files go to /usr; dpkg has its own lock
        return install.installed(app.install, apps_dir, app.guid) or install.install(
            app.install, apps_dir, app.guid, _log
        )
    apps_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    with fsutil.locked(apps_dir / f".{app.guid}.lock"):
        found = install.installed(app.install, apps_dir, app.guid)
        if found:
            return found
        return install.install(app.install, apps_dir, app.guid, _log)


def _log(message: str) -> None:
    import sys

    sys.stderr.write(message + "\n")


def recover_interrupted(host: Host) -> list[str]:
    """Undo what a create killed half-way left (its user, directory, drop-in), from the
    note it wrote before changing anything. Under the registry lock: its writer is gone."""
    import json

    cleaned = []
    for note in host.paths.creating_notes().values():
        try:
            data = json.loads(note.read_text())
            stub = Instance(validate_id(str(data["id"])), "", "", str(data["path"]), {}, "")
            if not host.registry.exists(stub.id):  # killed before its record was saved
                _undo_create(host, stub, data)
                _log(f"cleaned up after an interrupted create of {stub.id}")
                cleaned.append(stub.id)
        except (OSError, ValueError, KeyError, TypeError, WarlockError) as e:
            _log(f"warning: cannot undo the create noted in {note}: {e}")
            continue
        fsutil.remove(note)
    return cleaned


def _undo_create(host: Host, stub: Instance, data: dict[str, Any]) -> None:
    import shutil

    d = host.paths.dropin_dir(stub.unit)
    if (d / units.DROPIN).exists():
        units.remove_dropin(host.paths, stub)
        host.systemd.reload()
    elif (d / units.SECRETS).exists():  # killed between the two files: nothing to reload
        units.remove_dropin(host.paths, stub)
    directory = Path(stub.path)
    if data["dir_mode"] is None:
        shutil.rmtree(directory, ignore_errors=True)
    elif directory.is_dir():  # an empty --dir: back to its owner
        mode, uid, gid = data["dir_mode"]
        os.chown(directory, uid, gid)
        directory.chmod(mode)
    if not data["user_existed"]:
        host.accounts.remove(stub.user)


def _apply_create(
    host: Host, inst: Instance, dropin: units.Dropin, install: Path, writable: Sequence[str] = ()
) -> None:
    import json
    import shutil

    undo: list[Callable[[], object]] = []
    note = host.paths.creating_note(inst.id)
    try:
        user_existed = host.accounts.exists(inst.user)
        directory = Path(inst.path)
        # before any change: a kill -9 from here on leaves a note the next create undoes
        st = directory.stat() if directory.exists() else None
        fsutil.atomic_write(note, json.dumps({
            "id": inst.id, "path": inst.path, "user_existed": user_existed,
            "dir_mode": [st.st_mode & 0o7777, st.st_uid, st.st_gid] if st else None,
        }), mode=0o600)  # fmt: skip
        undo.append(lambda: fsutil.remove(note))
        uid, gid = host.accounts.ensure(inst.user, inst.path)
        if not user_existed:
            undo.append(lambda: host.accounts.remove(inst.user))
        if not directory.exists():
            directory.mkdir(parents=True, mode=0o750)
            undo.append(lambda: shutil.rmtree(directory, ignore_errors=True))
        elif st is not None:  # an empty --dir: back to its owner, not to a user about to go
            undo.append(lambda: directory.chmod(st.st_mode & 0o7777))
            undo.append(lambda: os.chown(directory, st.st_uid, st.st_gid))
        shutil.chown(directory, uid, gid)
        directory.chmod(0o750)
        for rel in writable:  # the game's own copy of files it writes beside its binary
            source, target = install / rel, directory / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copy2(source, target)
            for p in [target, *(target.rglob("*") if target.is_dir() else [])]:
                os.chown(p, uid, gid, follow_symlinks=False)
        template = units.install_template(host.paths)
        if template:
            undo.append(lambda: template.unlink(missing_ok=True))
        units.write_dropin(host.paths, inst, dropin)
        undo.append(lambda: units.remove_dropin(host.paths, inst))
        # systemd reads a unit's drop-ins when it loads it: a reload (a quarter of a second
        # with many units) is only needed if this unit or the template was loaded already.
        if template or host.systemd.states(inst.unit):
            host.systemd.reload()
        undo.append(lambda: host.registry.remove(inst))  # save may fail after the record
        host.registry.save(inst)
        fsutil.remove(note)
    except BaseException:
        for step in reversed(undo):
            with contextlib.suppress(Exception):  # best effort: report the original error
                step()
        if undo:
            with contextlib.suppress(WarlockError):
                host.systemd.reload()
        raise


def resolve(host: Host, instance_id: str | None) -> Instance:
    return host.registry.resolve(instance_id)


def _app_of(host: Host, inst: Instance) -> App:
    return find_app(host.paths, inst.app)


def check_ports(host: Host, inst: Instance, app: App, loaded: UnitState | None) -> None:
    """Refuse to start when another process took one of the instance's ports meanwhile."""
    if loaded and loaded.active in ("active", "activating", "deactivating", "reloading"):
        return  # its own server holds them
    taken = host.probe_ports()
    for spec in app.ports:
        who = holder_of(spec, inst.ports[spec.key], taken)
        if who:
            raise Conflict(
                f"cannot start {inst.id}: port {inst.ports[spec.key]}/{spec.protocol} ({spec.key}) "
                f"is taken by {who}",
                hint="stop that process, or recreate the instance with --port",
            )


def journal_tail(inst: Instance, lines: int = 5) -> str:
    try:
        out = run(
            ["journalctl", "--no-pager", "-q", "-o", "cat", "-n", str(lines), "-u", inst.unit],
            timeout=10,
        )
    except WarlockError:
        return ""
    return " | ".join(line.strip() for line in out.strip().splitlines()[-lines:])


def start(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> None:
    app = _app_of(host, inst)
    loaded = host.systemd.states(inst.unit).get(inst.unit)  # one call; not loaded: stopped
    try:
        check_ports(host, inst, app, loaded)
    except Conflict as e:
        host.record_event("port_conflict", inst.id, e.message)
        raise
    if loaded and loaded.active == "failed":  # a crashed instance can be started again by hand
        host.systemd.reset_failed(inst.unit)
    try:
        host.systemd.start(inst.unit, timeout)
    except SystemdError as e:
        why = e.message
        with contextlib.suppress(WarlockError):
            result = host.systemd.state(inst.unit).result
            if result == "timeout":
                probe = "its query never answered" if app.query != "none" else "ports not bound"
                why = f"{inst.unit} did not become ready within {app.start_timeout} s ({probe})"
        tail = journal_tail(inst)
        raise SystemdError(
            why + (f"; last log lines: {tail}" if tail else ""),
            hint=f"manage.py logs --instance {inst.id}",
        ) from None


def stop(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> None:
    host.systemd.stop(inst.unit, timeout)


def restart(host: Host, inst: Instance, timeout: float = START_TIMEOUT) -> None:
    host.systemd.reset_failed(inst.unit)
    host.systemd.restart(inst.unit, timeout)


def set_enabled(host: Host, inst: Instance, enabled: bool) -> Instance:
    with host.registry.lock():
        inst = host.registry.get(inst.id)
        (host.systemd.enable if enabled else host.systemd.disable)([inst.unit])
        host.systemd.reload()
        inst = inst.with_(enabled=enabled)
        host.registry.save(inst)
    return inst


def delete(host: Host, inst: Instance, purge: bool) -> list[str]:
    """Stop, disable, unregister; with purge, also the data and the user. Returns what went."""
    import shutil

    removed: list[str] = []
    with host.registry.lock():
        host.systemd.stop(inst.unit, START_TIMEOUT)
        host.systemd.disable([inst.unit])
        units.remove_dropin(host.paths, inst)
        removed.append(str(host.paths.dropin_dir(inst.unit) / units.DROPIN))
        host.systemd.reload()
        host.systemd.reset_failed(inst.unit)
        host.registry.remove(inst)
        removed += [str(host.registry.app_path(inst)), str(host.registry.record_path(inst))]
        if purge:
            if Path(inst.path).is_dir():
                shutil.rmtree(inst.path)
                removed.append(inst.path)
            if host.accounts.remove(inst.user):
                removed.append(f"user {inst.user}")
    return removed


def listing(host: Host) -> tuple[list[tuple[Instance, dict[str, Any]]], list[Problem]]:
    """Every instance with its live state, from one D-Bus round trip."""
    from . import procs
    from .model import status_of

    instances, problems = host.registry.scan()
    states = host.systemd.states("game@*.service") if instances else {}
    rows = []
    for inst in instances:
        unit = inst.unit
        st = states.get(unit)
        status = status_of(st.active, st.sub) if st else status_of("inactive", "dead")
        since = procs.unit_started(unit) if status == "running" else 0.0
        rows.append((inst, {"status": str(status), "uptime": procs.uptime(since)}))
    return rows, problems
