"""pack and import: an instance carried to another host. A pack holds its settings
(`instance.json`: app, name, limits, env; no secrets, paths or ports) and a backup of its
saves (`saves.tar.gz`); import checks all of it before it makes a new instance from it."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import archives, fsutil, layout
from ..apps import find_app
from ..errors import InvalidInput, NotFound
from ..host import Host
from ..model import Instance, InstanceId, Limits, Schedule, validate_guid
from . import Args, Outcome, one
from .clone import filled
from .create import CreateRequest, create
from .restore import restore_file

PACK_FORMAT = 1
PACK_RECORD = "instance.json"
PACK_SAVES = "saves.tar.gz"
_MAX_RECORD = 64 * 1024


def pack(host: Host, inst: Instance) -> dict[str, object]:
    """`<path>/backups/<id>-pack-<time>.tar.gz`: what `import` needs on another host."""
    app = find_app(host.paths, inst.app)
    record = {
        "format": PACK_FORMAT,
        "app": inst.app,
        "app_slug": app.slug,
        "name": inst.name,
        "limits": inst.limits.to_dict(),
        "env": dict(inst.env),
        "ports": dict(inst.ports),  # what it had; the importing host allocates its own
        "config": dict(inst.config),  # settings its command line carries
        "max_players": inst.max_players,
        "schedules": [s.to_dict() for s in inst.schedules],  # new ids where it lands
        "source_id": inst.id,
        "packed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with fsutil.locked(archives.lock(inst)):
        saves = (
            archives.write(inst, app, suffix="-pack-saves") if archives.members(inst, app) else None
        )
        try:
            final = _write_pack(inst, json.dumps(record, indent=2).encode(), saves)
        finally:
            if saves:
                fsutil.remove(saves)
    size = final.stat().st_size
    host.record_event("backup", inst.id, f"packed to {final.name} ({size} bytes)", file=str(final))
    return {"instance_id": inst.id, "file": str(final), "size": size}


def _write_pack(inst: Instance, record: bytes, saves: Path | None) -> Path:
    with (
        archives.placed(_packs(inst), f"{inst.id}-pack-{archives.stamp()}") as (
            out,
            final,
        ),
        tarfile.open(fileobj=out, mode="w:gz") as tar,
    ):
        info = tarfile.TarInfo(PACK_RECORD)
        info.size, info.mode, info.mtime = len(record), 0o600, int(time.time())
        tar.addfile(info, io.BytesIO(record))
        if saves:
            tar.add(saves, arcname=PACK_SAVES, recursive=False)
    return final


def _packs(inst: Instance) -> Path:
    """Packs go beside the backups, not among them: the panels offer every archive in
    backups/ to restore, and a pack is not a backup."""
    d = layout.packs_dir(inst)
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def import_pack(
    host: Host,
    given: str,
    *,
    name: str | None = None,
    instance_id: InstanceId | None = None,
    ports: Sequence[str] = (),
    dir: str | None = None,
) -> Instance:
    """A new instance from a pack: its settings, new ports, user and secrets, and its
    saves restored. Everything in the pack is checked before anything is made."""
    import tempfile

    archive = Path(given)
    if not archive.is_absolute():
        raise InvalidInput(f"pack {given!r}: expected an absolute path")
    if not archive.is_file():
        raise NotFound(f"no pack {archive}")
    host.paths.state.mkdir(parents=True, exist_ok=True, mode=0o755)
    with tempfile.TemporaryDirectory(prefix=".import-", dir=host.paths.state) as work:
        record, saves = _open_pack(archive, Path(work))
        app = find_app(host.paths, record["app"])  # this host must have the game
        req = CreateRequest(
            app=app.guid,
            name=name if name is not None else record["name"],
            instance_id=instance_id,
            ports=ports,
            dir=dir,
            limits=record["limits"],
            env=[f"{k}={v}" for k, v in record["env"].items()],
        )
        made = create(host, req)

        def restore() -> None:
            if saves:
                restore_file(host, made, saves, safety=False)
            _carried(host, made, record)

        return filled(host, made, restore, f"imported from {archive.name}", file=str(archive))


def _carried(host: Host, made: Instance, record: dict[str, Any]) -> None:
    """What the record brought beside the saves: command-line settings, max players, and
    the schedules, each with a new id and its timer on this host."""
    from .. import schedules

    moved = [s._replace(id=schedules.new_id()) for s in record["schedules"]]
    inst = made.with_(config=record["config"], max_players=record["max_players"],
                      schedules=tuple(moved))  # fmt: skip
    with host.registry.lock():
        for s in moved:
            schedules.install(host.paths, host.systemd, inst, s)
        host.registry.save(inst)


def _open_pack(archive: Path, work: Path) -> tuple[dict[str, Any], Path | None]:
    """The pack's record, checked, and its saves archive (its members checked) in `work`."""
    bad = f"{archive.name} is not a warlockd pack"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}
            if set(members) - {PACK_RECORD, PACK_SAVES} or PACK_RECORD not in members:
                raise InvalidInput(f"{bad}: it holds {', '.join(sorted(members)) or 'nothing'}")
            if not all(m.isfile() for m in members.values()):
                raise InvalidInput(f"{bad}: its members must be plain files")
            if members[PACK_RECORD].size > _MAX_RECORD:
                raise InvalidInput(f"{bad}: {PACK_RECORD} is too large")
            raw = tar.extractfile(members[PACK_RECORD])
            data = json.loads(raw.read() if raw else b"")
            saves = None
            if PACK_SAVES in members:
                saves = work / PACK_SAVES
                src = tar.extractfile(members[PACK_SAVES])
                if src is None:
                    raise InvalidInput(f"{bad}: {PACK_SAVES} is not a file")
                with open(saves, "wb") as out:
                    shutil.copyfileobj(src, out)
                with tarfile.open(saves, "r:gz") as inner:
                    archives.checked_members(inner, saves)  # refused now, before anything is made
    except (tarfile.TarError, EOFError, OSError) as e:
        raise InvalidInput(f"{bad}: {e}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"{bad}: {PACK_RECORD}: {e}") from None
    if not isinstance(data, dict) or data.get("format") != PACK_FORMAT:
        raise InvalidInput(f"{bad}: {PACK_RECORD} is not format {PACK_FORMAT}")
    try:
        env = data.get("env", {})
        if not isinstance(env, dict):
            raise InvalidInput("env is not a table")
        config = data.get("config", {})
        if not isinstance(config, dict):
            raise InvalidInput("config is not a table")
        record = {
            "app": validate_guid(str(data["app"])),
            "name": str(data["name"]),
            "limits": Limits.from_dict(dict(data.get("limits", {}))),
            "env": {str(k): str(v) for k, v in env.items()},
            "config": {str(k): str(v) for k, v in config.items()},
            "max_players": data.get("max_players"),
            "schedules": [_schedule(dict(s)) for s in data.get("schedules", [])],
        }
        if record["max_players"] is not None and not isinstance(record["max_players"], int):
            raise InvalidInput("max_players is not a whole number")
    except KeyError as e:
        raise InvalidInput(f"{bad}: {PACK_RECORD} has no {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:  # InvalidInput too: a bad limit, a bad guid
        raise InvalidInput(f"{bad}: {PACK_RECORD}: {e}") from None
    return record, saves


def _schedule(data: dict[str, Any]) -> Schedule:
    """A schedule from a pack, its calendar checked by this host's systemd."""
    from ..schedules import check_calendar

    s = Schedule.from_dict(data)
    return s._replace(on_calendar=check_calendar(s.on_calendar))


def do_pack(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    result = pack(host, inst)
    return Outcome(
        result, (f"{inst.id}: packed to {result['file']} (import it with: manage.py import FILE)",)
    )


def do_import(host: Host, args: Args) -> Outcome:
    if not args.archive:
        raise InvalidInput("import needs a pack: its absolute path", hint="manage.py pack")
    made = import_pack(
        host, args.archive, name=args.instance_name, instance_id=args.instance_id,
        ports=args.port, dir=args.dir,
    )  # fmt: skip
    return Outcome(made.public(), (f"imported {args.archive} as {made.unit} in {made.path}",))
