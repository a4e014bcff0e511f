"""Schedules over HTTP: the table's schedule-list, schedule-add, schedule-remove, -pause,
-resume and -run, for the dashboard's instance page and for scripts.

A schedule is named in a path under its instance (`/instances/{id}/schedules/{sid}`), and
the route checks that the schedule belongs to that instance before the table sees its id:
the table's commands find a schedule by its id alone, across every instance, so without the
check a key limited to one instance could pause another's timers. Changes go through
operations (ctx.change: they write timers under /etc/systemd/system, outside the daemon's
sandbox); running one now is an operation followed over the stream (a backup takes long).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from starlette.responses import JSONResponse

from ..actions import Args
from ..errors import NotFound
from ..model import InstanceId
from . import schemas
from .app import BASE, Context, who
from .principal import Principal, Scope

CHANGES = ("pause", "resume")


async def listed(ctx: Context, iid: InstanceId | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await ctx.run("schedule-list", Args(instance=iid))).data
    return rows


async def owned(ctx: Context, iid: InstanceId, sid: str) -> dict[str, Any]:
    """The instance's schedule `sid`, or 404 (another instance's is not shown either)."""
    for row in await listed(ctx, iid):
        if row["id"] == sid:
            return row
    raise NotFound(
        f"no schedule {sid[:40]!r} of {iid}", hint=f"GET {BASE}/instances/{iid}/schedules"
    )


def add(app: FastAPI, ctx: Context) -> None:
    read = Depends(ctx.auth.require(Scope.READ))
    read_all = Depends(ctx.auth.require(Scope.READ, instance_param=None))
    operate = Depends(ctx.auth.require(Scope.OPERATE))

    @app.get(f"{BASE}/schedules", response_model=list[schemas.ScheduleRow], tags=["schedules"])
    async def every(p: Principal = read_all) -> Any:
        """Every schedule the caller may see: next run, last run and its result."""
        return JSONResponse([r for r in await listed(ctx, None) if p.sees(r["instance_id"])])

    @app.get(
        f"{BASE}/instances/{{instance_id}}/schedules", response_model=list[schemas.ScheduleRow],
        tags=["schedules"],
    )  # fmt: skip
    async def of_instance(instance_id: str, p: Principal = read) -> Any:
        return JSONResponse(await listed(ctx, ctx.instance_id(instance_id)))

    @app.post(
        f"{BASE}/instances/{{instance_id}}/schedules", status_code=201,
        response_model=schemas.Done, tags=["schedules"],
    )  # fmt: skip
    async def new(instance_id: str, body: schemas.NewSchedule, p: Principal = operate) -> Any:
        """A task on a calendar (systemd's syntax, checked by systemd-analyze)."""
        iid = ctx.instance_id(instance_id)
        task = [body.task] + ([body.text] if body.text is not None else [])
        args = Args(
            instance=iid, task=task, on_calendar=body.on_calendar,
            randomized_delay=body.randomized_delay, max_backups=body.keep, to=body.to,
            warn=body.warn, when_empty=body.when_empty,
        )  # fmt: skip
        return JSONResponse(await ctx.change("schedule-add", args, iid, p), 201)

    @app.delete(
        f"{BASE}/instances/{{instance_id}}/schedules/{{schedule_id}}",
        response_model=schemas.Done, tags=["schedules"],
    )  # fmt: skip
    async def remove(instance_id: str, schedule_id: str, p: Principal = operate) -> Any:
        iid = ctx.instance_id(instance_id)
        await owned(ctx, iid, schedule_id)
        return await ctx.change("schedule-remove", Args(schedule=schedule_id), iid, p)

    for what in CHANGES:
        _change(app, ctx, what, operate)

    @app.post(
        f"{BASE}/instances/{{instance_id}}/schedules/{{schedule_id}}/run", status_code=202,
        response_model=schemas.Accepted, tags=["schedules"],
    )  # fmt: skip
    async def run(instance_id: str, schedule_id: str, p: Principal = operate) -> Any:
        """Its task now, as its timer would run it: an operation."""
        iid = ctx.instance_id(instance_id)
        await owned(ctx, iid, schedule_id)
        op = ctx.ops.submit("schedule-run", Args(schedule=schedule_id), iid, who(p))
        return JSONResponse({"operation": ctx.ops.snapshot(op), "instance_id": iid}, 202)


def _change(app: FastAPI, ctx: Context, what: str, allowed: Any) -> None:
    async def change(instance_id: str, schedule_id: str, p: Principal = allowed) -> Any:
        iid = ctx.instance_id(instance_id)
        await owned(ctx, iid, schedule_id)
        return await ctx.change(f"schedule-{what}", Args(schedule=schedule_id), iid, p)

    change.__name__ = change.__qualname__ = f"schedule_{what}"
    change.__doc__ = "Stop its timer, keeping it." if what == "pause" else "Start it again."
    app.post(
        f"{BASE}/instances/{{instance_id}}/schedules/{{schedule_id}}/{what}",
        response_model=schemas.Done,
        tags=["schedules"],
    )(change)
