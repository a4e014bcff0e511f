"""cmd and logs: a console command to the game (its reply when it has rcon), and the
instance's journal."""

from __future__ import annotations

from ..apps import find_app
from ..console import send
from ..host import Host
from . import Args, Outcome, one


def do_cmd(host: Host, args: Args) -> Outcome:
    inst = one(host, args)
    reply = send(inst, find_app(host.paths, inst.app), args.text or "")
    if reply is None:
        return Outcome(notes=(f"sent to {inst.unit}: {args.text}",))
    return Outcome(reply)


def do_rcon(host: Host, args: Args) -> Outcome:
    """cmd, as Warlock v1 panels call it (`--rcon "<cmd>"`)."""
    return do_cmd(host, args)


def do_logs(host: Host, args: Args) -> Outcome:
    """The journalctl command line that shows the instance's journal (-u: the game's own
    lines and systemd's about its unit: start, crash, restart)."""
    inst = one(host, args)
    argv = ["journalctl", "--no-pager", "-u", inst.unit, "-n", str(args.lines)]
    return Outcome(argv + (["-f"] if args.follow else []))
