"""import-pack: an Assetto Corsa instance from a server pack made in Content Manager (seed
004's deploy, on this host).

Everything in the pack is judged first (sources/pack.py: its members as restore judges a
backup, its limits, its server binary, its server_cfg.ini and ports); only then is its
server made a shared build (once per hash), the instance created through create(), and
the pack's cfg/ and setups/ put in the instance's directory with the ports the allocator
gave it written into cfg/server_cfg.ini. The pack's own ports are kept when they are free
on the host and in the registry, else the next free set above them (port + 1 for all
three, as seed 000 lays instances out); --port key=N picks one by hand. If anything fails
after the instance is made, it is deleted again; the build stays for the next import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import acserver, archives, fsutil
from ..apps import App, find_app, manifest_files
from ..builds import app_lock
from ..errors import Conflict, InvalidInput, NotFound
from ..host import Host
from ..model import Instance, InstanceId, new_name
from ..ports import Merged, allocate, parse_port
from ..sources import pack
from . import Args, Outcome
from .clone import filled
from .create import CreateRequest, _instance_dir, create, taken_by_instances

PACK = "content-manager"


def pack_app(host: Host, given: str | None) -> App:
    """The app named, which must take packs, or the one app that does."""
    if given:
        app = find_app(host.paths, given)
        if app.install.pack != PACK:
            raise InvalidInput(f"{app.slug} takes no Content Manager server pack",
                               hint="import-pack makes Assetto Corsa instances")  # fmt: skip
        return app
    from ..apps import load_manifest

    takers = []
    for f in manifest_files(host.paths):
        try:
            app = load_manifest(f, host.paths.bundled)
        except InvalidInput:
            continue  # a broken manifest of another game must not hide this one
        if app.install.pack == PACK:
            takers.append(app)
    if len(takers) != 1:
        names = ", ".join(a.slug for a in takers) or "none"
        raise NotFound(f"{len(takers)} apps take server packs ({names})", hint="pass --app")
    return takers[0]


def _archive(given: str) -> Path:
    path = Path(given).expanduser().absolute()
    if not path.is_file():
        raise NotFound(f"no pack {path}", hint="Content Manager writes it where you chose")
    return path


def choose_ports(
    host: Host, app: App, plan: pack.PackPlan, given: dict[str, int]
) -> dict[str, int]:
    """The pack's ports if they are free, else the next free set above them, all three
    moving together by one; ports given with --port as they are. The allocator decides."""
    specs = [p._replace(default=plan.ports.get(p.key, p.default)) for p in app.ports]
    with host.registry.lock():
        existing, _ = host.registry.scan()
        taken = Merged(taken_by_instances(existing), host.probe_ports())
        return allocate(specs, taken, given, step=1)


def import_pack(
    host: Host, given: str, *, app_name: str | None = None, name: str | None = None,
    instance_id: InstanceId | None = None, ports: list[str] | None = None, dir: str | None = None,
) -> tuple[Instance, pack.PackPlan]:  # fmt: skip
    archive = _archive(given)
    app = pack_app(host, app_name)
    plan = pack.read(archive)  # every check of the pack, before anything is made
    chosen_name = new_name(name if name is not None else _name(plan, app))
    if dir is not None:
        _instance_dir(host, dir)  # create checks it again; a refusal must not leave a build
    if instance_id is not None and host.registry.exists(instance_id):
        raise Conflict(f"instance {instance_id} already exists")
    explicit = dict(parse_port(p) for p in ports or ())
    chosen = choose_ports(host, app, plan, explicit)
    config = acserver.with_ports(plan.server_cfg, chosen)
    host.paths.apps.mkdir(parents=True, exist_ok=True, mode=0o755)
    with fsutil.locked(app_lock(host.paths, app)):
        build = pack.install(plan, host.paths.apps, app.guid)
    req = CreateRequest(app.guid, chosen_name, instance_id,
                        [f"{k}={v}" for k, v in chosen.items()], dir, build=build)  # fmt: skip
    made = create(host, req)

    def fill() -> None:
        archives.replace_with(made, app, lambda new: pack.write_own(plan, new, config), False)
        most = acserver.server_value(plan.server_cfg, "MAX_CLIENTS", "int")
        if isinstance(most, int) and 1 <= most <= 10_000:
            with host.registry.lock():
                host.registry.save(made.with_(max_players=most))

    filled(host, made, fill, f"imported from {archive.name}", file=str(archive))
    return host.registry.get(made.id), plan


def _name(plan: pack.PackPlan, app: App) -> str:
    """The preset's name, when it makes a good instance name; else the game's."""
    name = acserver.display_name(plan.server_cfg)[:64]
    try:
        return new_name(name) if name else app.title
    except InvalidInput:
        return app.title


def do_import_pack(host: Host, args: Args) -> Outcome:
    if not args.archive:
        raise InvalidInput("import-pack needs the pack's path", hint="manage.py import-pack FILE")
    made, plan = import_pack(
        host, args.archive, app_name=args.app, name=args.instance_name,
        instance_id=args.instance_id, ports=list(args.port), dir=args.dir,
    )  # fmt: skip
    data: dict[str, Any] = made.public() | {"build": plan.build_id, "pack": str(plan.archive)}
    shown = ", ".join(f"{acserver.PORT_KEYS[k]}={v}" for k, v in sorted(made.ports.items()))
    notes = [
        f"imported {plan.archive.name} as {made.unit} in {made.path}",
        f"{made.id}: {shown} (in cfg/server_cfg.ini); server files: build {plan.build_id}",
    ]
    if plan.skipped:
        more = f" and {len(plan.skipped) - 5} more" if len(plan.skipped) > 5 else ""
        notes.append(f"{made.id}: not used from the pack: {', '.join(plan.skipped[:5])}{more}")
    return Outcome(data, tuple(notes))
