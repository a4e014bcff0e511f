"""create: a new instance of an app, with its own id, user, directory, ports and secrets.

Everything is checked before the first change; the changes (user, directory, drop-in,
record) are undone in reverse on any failure, and a note written before the first one
lets the next create undo what a create killed half-way left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .. import fsutil, layout, registrations, units
from ..apps import find_app
from ..builds import ensure_installed, log
from ..errors import Conflict, InvalidInput, WarlockError
from ..host import Host
from ..model import Instance, InstanceId, Limits, new_id, new_name, parse_id
from ..paths import PACKAGE_ROOT
from ..ports import Merged, allocate, parse_port
from ..sources import Build
from . import Args, Outcome


class CreateRequest(NamedTuple):
    app: str
    name: str | None = None
    instance_id: InstanceId | None = None
    ports: Sequence[str] = ()
    dir: str | None = None
    limits: Limits = Limits()
    env: Sequence[str] = ()
    build: Build | None = None  # a build made already (import-pack's); else the app's current


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


def taken_by_instances(others: Sequence[Instance]) -> dict[tuple[str, int], str]:
    """Ports of every registered instance, on both protocols: a number is one instance's."""
    taken: dict[tuple[str, int], str] = {}
    for inst in others:
        for port in inst.ports.values():
            for proto in ("tcp", "udp"):
                taken[(proto, port)] = f"instance {inst.id} ({inst.name})"
    return taken


def preview_ports(host: Host, app_name: str) -> dict[str, int]:
    """The ports a create of `app_name` would get now (the dashboard shows them before the
    admin creates): the same allocation, without the lock; a create allocates again."""
    app = find_app(host.paths, app_name)
    existing, _ = host.registry.scan()
    taken = Merged(taken_by_instances(existing), host.probe_ports())
    return allocate(app.ports, taken, {}, app.port_step)


def create(host: Host, req: CreateRequest) -> Instance:
    app = find_app(host.paths, req.app)
    instance_id = req.instance_id or new_id()
    name = new_name(req.name if req.name is not None else app.title)
    explicit = dict(parse_port(p) for p in req.ports)
    path = _instance_dir(host, req.dir) if req.dir else str(host.paths.instances / instance_id)
    env = _parse_env(req.env)
    # before any instance state: a failure leaves nothing
    build = req.build or ensure_installed(host.paths, app)
    host.accounts.check_reachable(build.path)
    host.accounts.check_reachable(PACKAGE_ROOT / "warlockd")
    registry = host.registry
    with registry.lock():
        recover_interrupted(host)
        existing, _ = registry.scan()
        if registry.exists(instance_id):
            raise Conflict(f"instance {instance_id} already exists")
        for other in existing:
            if _overlaps(path, other.path):
                raise Conflict(f"--dir {path} overlaps instance {other.id} at {other.path}")
        taken = Merged(taken_by_instances(existing), host.probe_ports())
        inst = Instance(
            id=instance_id,
            app=app.guid,
            name=name,
            path=path,
            ports=allocate(app.ports, taken, explicit, app.port_step),
            created_at=_now(),
            limits=req.limits,
            env=env,
            build=build.build_id,
            secrets={k: _secret(n) for k, n in app.secrets.items()},
        )
        registrations.check(host.paths, inst, existing)  # no one else's .app overwritten
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


def recover_interrupted(host: Host) -> list[str]:
    """Undo what a create killed half-way left (its user, directory, drop-in), from the
    note it wrote before changing anything. Under the registry lock: its writer is gone."""
    import json

    cleaned: list[str] = []
    for note in host.paths.creating_notes().values():
        try:
            data = json.loads(note.read_text())
            stub = Instance(parse_id(str(data["id"])), "", "", str(data["path"]), {}, "")
            if not host.registry.exists(stub.id):  # killed before its record was saved
                _undo_create(host, stub, data)
                log(f"cleaned up after an interrupted create of {stub.id}")
                cleaned.append(stub.id)
        except (OSError, ValueError, KeyError, TypeError, WarlockError) as e:
            log(f"warning: cannot undo the create noted in {note}: {e}")
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
    elif directory.is_dir():  # an empty --dir: emptied again, back to its owner
        _give_back(directory, *data["dir_mode"])
    if not data["user_existed"]:
        host.accounts.remove(stub.user)


def _give_back(directory: Path, mode: int, uid: int, gid: int) -> None:
    """An --dir as it was given: empty, its owner's, its mode."""
    import shutil

    for entry in directory.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    os.chown(directory, uid, gid)
    directory.chmod(mode)


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
        data = layout.data_dir(inst)
        uid, gid = host.accounts.ensure(inst.user, str(data))
        if not user_existed:
            undo.append(lambda: host.accounts.remove(inst.user))
        if st is None:
            undo.append(lambda: shutil.rmtree(directory, ignore_errors=True))
        else:  # an empty --dir: back to its owner, not to a user about to go
            undo.append(lambda: _give_back(directory, st.st_mode & 0o7777, st.st_uid, st.st_gid))
        layout.make(inst, uid, gid)
        for rel in writable:  # the game's own copy of files it writes beside its binary
            source, target = install / rel, data / rel
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


def do_create(host: Host, args: Args) -> Outcome:
    if not args.app:
        raise InvalidInput("--create needs --app", hint="e.g. --app example")
    limits = Limits(args.cpu_quota, args.memory_max, args.tasks_max, args.cpu_affinity)
    req = CreateRequest(
        args.app, args.instance_name, args.instance_id or args.instance, args.port, args.dir,
        limits, args.env,
    )  # fmt: skip
    inst = create(host, req)
    return Outcome(inst.public(), (f"created {inst.unit} in {inst.path}",))
