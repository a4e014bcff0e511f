"""clone: a new instance of the same game with another's saves (a backup of the source
restored into it, then removed), limits and env; its own id, ports, user and secrets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import archives, fsutil
from ..apps import find_app
from ..builds import install_path, is_pack_build
from ..host import Host
from ..model import MAX_NAME, Instance, InstanceId
from ..sources import Build
from . import Args, Outcome, one
from .create import CreateRequest, create
from .delete import delete
from .restore import restore_file


def clone(
    host: Host,
    source: Instance,
    *,
    name: str | None = None,
    instance_id: InstanceId | None = None,
    ports: Sequence[str] = (),
    dir: str | None = None,
) -> Instance:
    """A new instance of the source's game, with its limits, environment and a copy of
    its saves; its own id, user, ports and secrets. If the copy fails, the new instance
    is deleted again and the source is as it was."""
    app = find_app(host.paths, source.app)
    archives.backup_dir(source)  # a source without its directory is refused before anything is made
    build = None
    if is_pack_build(source.build):  # no source makes it again: the copy shares the source's
        build = Build(install_path(host.paths, app, source.build), source.build)
    made = create(
        host,
        CreateRequest(
            app=source.app,
            name=name if name is not None else _copy_name(source.name),
            instance_id=instance_id,
            ports=ports,
            dir=dir,
            limits=source.limits,
            env=[f"{k}={v}" for k, v in source.env.items()],
            build=build,
        ),
    )

    def copy() -> None:
        if not archives.members(source, app):
            return
        with fsutil.locked(archives.lock(source)):
            archive = archives.write(source, app, suffix=f"-clone-{made.id[:8]}")
        try:
            restore_file(host, made, archive, safety=False)
        finally:
            fsutil.remove(archive)

    message = f"cloned from {source.id} ({source.name})"
    return filled(host, made, copy, message, source=source.id)


def filled(
    host: Host, made: Instance, fill: Callable[[], None], message: str, **data: Any
) -> Instance:
    """A new instance given its saves by `fill`, or deleted again if that fails."""
    try:
        fill()
        host.record_event("backup", made.id, message, **data)
    except BaseException:
        delete(host, made, purge=True)
        raise
    return made


def _copy_name(name: str) -> str:
    suffix = " (copy)"
    return name[: MAX_NAME - len(suffix)] + suffix


def do_clone(host: Host, args: Args) -> Outcome:
    source = one(host, args)
    made = clone(
        host, source, name=args.instance_name, instance_id=args.instance_id, ports=args.port,
        dir=args.dir,
    )  # fmt: skip
    return Outcome(made.public(), (f"cloned {source.id} to {made.unit} in {made.path}",))
