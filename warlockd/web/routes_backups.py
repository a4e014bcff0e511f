"""Backups of an instance: list, create, download, restore, through the table's `backups`,
`backup` and `restore` commands.

A backup is named in a path only as the listing names it (a file name, or an off-site
snapshot's `offsite:<id>`): anything else is refused before the table sees it, so no path
(`../`, an absolute one, another instance's archive) reaches restore or a download, though
the command line's restore accepts absolute paths from root.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from fastapi import Depends, FastAPI
from starlette.responses import FileResponse, JSONResponse

from .. import layout
from ..actions import Args
from ..errors import InvalidInput, NotFound
from ..model import InstanceId
from . import schemas
from .app import BASE, Context, who
from .principal import Principal, Scope

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


async def find(ctx: Context, iid: InstanceId, name: str) -> dict[str, Any]:
    """The listing's row of the backup `name` names, or 400 (not a name) / 404."""
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise InvalidInput(
            f"backup name {name[:80]!r}: expected a name from the instance's list of backups",
            hint=f"GET {BASE}/instances/{iid}/backups lists them",
        )
    rows: list[dict[str, Any]] = (await ctx.run("backups", Args(instance=iid))).data
    for row in rows:
        if name in (row["name"], row["restore"]):
            return row
    raise NotFound(f"no backup {name} of {iid}", hint=f"GET {BASE}/instances/{iid}/backups")


def add(app: FastAPI, ctx: Context) -> None:
    read = Depends(ctx.auth.require(Scope.READ))
    operate = Depends(ctx.auth.require(Scope.OPERATE))

    @app.get(
        f"{BASE}/instances/{{instance_id}}/backups", response_model=list[schemas.Backup],
        tags=["backups"],
    )  # fmt: skip
    async def backups(instance_id: str, p: Principal = read) -> Any:
        """Local archives and off-site snapshots, newest first."""
        outcome = await ctx.run("backups", Args(instance=ctx.instance_id(instance_id)))
        return JSONResponse(outcome.data)

    @app.post(
        f"{BASE}/instances/{{instance_id}}/backups", status_code=202,
        response_model=schemas.Accepted, tags=["backups"],
    )  # fmt: skip
    async def backup(
        instance_id: str,
        body: Optional[schemas.NewBackup] = None,  # noqa: UP045 (FastAPI 0.92 reads it)
        p: Principal = operate,
    ) -> Any:
        """Archive the saves (to: local or offsite; max_backups keeps the newest N)."""
        iid = ctx.instance_id(instance_id)
        options = body or schemas.NewBackup()
        args = Args(instance=iid, max_backups=options.max_backups, to=options.to)
        op = ctx.ops.submit("backup", args, iid, who(p))
        return JSONResponse({"operation": ctx.ops.snapshot(op), "instance_id": iid}, 202)

    @app.get(
        f"{BASE}/instances/{{instance_id}}/backups/{{name}}", response_class=FileResponse,
        responses={200: {"content": {"application/gzip": {}}, "description": "The archive"}},
        tags=["backups"],
    )  # fmt: skip
    async def download(instance_id: str, name: str, p: Principal = operate) -> Any:
        """A local archive, as a download (saves may hold what only operators should see)."""
        t = ctx.tracked(instance_id)
        row = await find(ctx, t.inst.id, name)
        if row["where"] != "local":
            raise InvalidInput(f"{name} is off-site", hint="restic restores it; or restore it")
        path = layout.backups_dir(t.inst) / row["name"]
        if path.is_symlink() or not path.is_file():
            raise NotFound(f"no backup {name} of {t.inst.id}")
        return FileResponse(path, media_type="application/gzip", filename=row["name"])

    @app.post(
        f"{BASE}/instances/{{instance_id}}/backups/{{name}}/restore", status_code=202,
        response_model=schemas.Accepted, tags=["backups"],
    )  # fmt: skip
    async def restore(
        instance_id: str, name: str, body: Optional[schemas.RestoreOptions] = None,  # noqa: UP045
        p: Principal = operate,
    ) -> Any:  # fmt: skip
        """Put a backup's saves back (force: stop a running game first, start it after)."""
        iid = ctx.instance_id(instance_id)
        row = await find(ctx, iid, name)
        force = body.force if body is not None else False
        args = Args(instance=iid, archive=row["restore"], force=force)
        op = ctx.ops.submit("restore", args, iid, who(p))
        return JSONResponse({"operation": ctx.ops.snapshot(op), "instance_id": iid}, 202)
