"""Tables and screens for people: list, status, metrics, events and the dashboard.

Machine-read output is JSON (run.emit); these are what a person at a terminal sees.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from ..actions import Args, Outcome
from ..commands import Command

if TYPE_CHECKING:
    from ..host import Host


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def duration(seconds: int) -> str:
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return f"{d}d{h}h" if d else f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def size(n: int | None) -> str:
    """Bytes for people: "512 MB", "9.79 GB"."""
    if n is None:
        return "N/A"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.2f} GB"
    return f"{n / (1 << 20):.0f} MB"


def people(host: Host, command: Command, args: Args, outcome: Outcome) -> int:
    """Show a PEOPLE command's outcome; its exit status."""
    if command.name == "dashboard":
        return dashboard(host, command, args, outcome)
    text = {
        "list": list_table,
        "status": status_lines,
        "metrics": metrics_table,
        "events": events_lines,
        "backups": backups_table,
        "schedule-list": schedules_table,
    }[command.name](outcome)
    sys.stdout.write(text)
    return outcome.code


def list_table(outcome: Outcome) -> str:
    rows: list[dict[str, Any]] = outcome.data
    if not rows:
        return "no instances\n"
    slugs: dict[str, str] = outcome.view or {}
    out = [["ID", "NAME", "APP", "STATUS", "PORTS", "UPTIME"]]
    for r in rows:
        out.append(
            [
                r["id"],
                r["name"],
                slugs.get(r["app"], r["app"]),
                str(r["status"]),
                ",".join(f"{k}={v}" for k, v in r["ports"].items()),
                duration(int(r["uptime"])) if r["status"] == "running" else "-",
            ]
        )
    return table(out) + "\n"


def status_lines(outcome: Outcome) -> str:
    svc: dict[str, Any] = outcome.data
    view: dict[str, str] = outcome.view
    players = "?" if svc["player_count"] is None else svc["player_count"]
    lines = [
        f"{svc['service']} - {svc['name']} ({view['title']})",
        f"  status:   {svc['status']} (uptime {duration(svc['uptime'])}, "
        f"restarts {svc['restarts']}, last result {svc['result']})",
        f"  players:  {players}/{svc['max_players']}",
        "  ports:    "
        + ", ".join(f"{p['option']}={p['port']}/{p['protocol'].lower()}" for p in svc["ports"]),
        f"  pid:      {svc['service_pid'] or '-'}",
        f"  path:     {view['path']}",
        f"  enabled:  {'yes' if svc['enabled'] else 'no'}",
        f"  next:     {view.get('next_schedule') or '-'}",
    ]
    return "\n".join(lines) + "\n"


def metrics_table(outcome: Outcome) -> str:
    rows: list[dict[str, Any]] = outcome.data
    if not rows:
        return f"no samples in the last {outcome.view['since']}\n"
    out = [["TIME", "STATUS", "CPU", "MEMORY", "PLAYERS", "DISK"]]
    for r in rows:
        out.append(
            [
                time.strftime("%m-%d %H:%M:%S", time.localtime(r["ts"])),
                str(r["status"]),
                "-" if r["cpu_percent"] is None else f"{r['cpu_percent']:.1f}%",
                "-" if r["memory_bytes"] is None else f"{r['memory_bytes'] >> 20} MB",
                "-" if r["players"] is None else str(r["players"]),
                "-" if r["disk_bytes"] is None else f"{r['disk_bytes'] >> 20} MB",
            ]
        )
    return table(out) + "\n"


def events_lines(outcome: Outcome) -> str:
    rows: list[dict[str, Any]] = outcome.data
    if not rows:
        return "no events\n"
    lines = []
    for e in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["ts"]))
        lines.append(f"{when}  {e['kind']:<10} {e['instance_id'] or '-':<36}  {e['message']}")
    return "\n".join(lines) + "\n"


def backups_table(outcome: Outcome) -> str:
    rows: list[dict[str, Any]] = outcome.data
    if not rows:
        return "no backups\n"
    out = [["WHEN", "WHERE", "SIZE", "RESTORE WITH"]]
    for r in rows:
        out.append([r["time"], r["where"], "-" if r["size"] is None else size(r["size"]),
                    r["restore"]])  # fmt: skip
    return table(out) + "\n"


def schedules_table(outcome: Outcome) -> str:
    rows: list[dict[str, Any]] = outcome.data
    if not rows:
        return "no schedules\n"
    out = [["ID", "INSTANCE", "TASK", "WHEN", "NEXT RUN", "LAST RUN", "RESULT"]]
    for r in rows:
        task = r["task"] + (f" {r['text']}" if r.get("text") else "")
        out.append([r["id"], r["name"][:20], task[:30], r["on_calendar"],
                    "paused" if r["paused"] else r["next_run"] or "-", r["last_run"] or "-",
                    (r["last_result"] or "-")[:40]])  # fmt: skip
    return table(out) + "\n"


def render_dashboard(rows: list[dict[str, Any]], slugs: dict[str, str], width: int = 120) -> str:
    out = [["ID", "NAME", "APP", "STATUS", "PLAYERS", "CPU", "MEMORY", "UPTIME", "PORTS", "NEXT"]]
    players = cpu = 0.0
    memory = 0
    for r in rows:
        p = "-" if r["players"] is None else f"{r['players']}/{r['max_players'] or '?'}"
        players += r["players"] or 0
        cpu += r["cpu_percent"] or 0
        memory += r["memory_bytes"] or 0
        out.append(
            [
                r["id"][:8],
                r["name"][:24],
                slugs.get(r["app"], r["app"][:8]),
                str(r["status"]),
                p,
                "-" if r["cpu_percent"] is None else f"{r['cpu_percent']:.0f}%",
                "-" if r["memory_bytes"] is None else size(r["memory_bytes"]),
                duration(int(r["uptime"] or 0)) if r["status"] == "running" else "-",
                ",".join(str(v) for v in r["ports"].values()),
                r.get("next_schedule") or "-",
            ]
        )
    counts = {s: sum(1 for r in rows if r["status"] == s) for s in ("running", "crashed")}
    total = (
        f"{len(rows)} instances, {counts['running']} running, {counts['crashed']} crashed; "
        f"{players:.0f} players; CPU {cpu:.0f}%; memory {size(memory)}"
    )
    body = table(out) if rows else "no instances"
    return "\n".join(line[:width] for line in body.splitlines()) + "\n\n" + total + "\n"


def dashboard(
    host: Host, command: Command, args: Args, outcome: Outcome, interval: float = 2.0
) -> int:
    slugs: dict[str, str] = outcome.view or {}
    if not args.watch:
        sys.stdout.write(render_dashboard(outcome.data, slugs, _columns()))
        return 0
    try:  # Ctrl-C quits, whether it comes while drawing or while waiting
        rows = outcome.data
        while True:
            text = render_dashboard(rows, slugs, _columns())
            # home, draw, clear what is left below: no blank screen between frames
            stamp = time.strftime("%H:%M:%S")
            sys.stdout.write(
                f"\x1b[H{text}\nrefreshed {stamp}, every {interval:g} s; Ctrl-C quits\x1b[J"
            )
            sys.stdout.flush()
            time.sleep(interval)
            rows = command.run(host, args).data
    except KeyboardInterrupt:
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while we leave
        sys.stdout.write("\n")
        return 0


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size().columns
