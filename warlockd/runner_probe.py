"""The runner's probe: how it tells the game is up (its query, or its ports bound) and
the status line it hands systemd (`players 2/16: Alice, Bob`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import netstat
from .links import SEP, clean

TYPE_CHECKING = False  # the runner lives as long as its game: no typing module for it
if TYPE_CHECKING:
    from .runner import Options


def bound_ports(inodes: set[int] | None = None) -> set[tuple[str, int]]:
    return set(netstat.bound(inodes))


def status_line(
    count: int, most: int, names: Sequence[str], session: str = "", where: str = ""
) -> str:
    """`players 2/16: Alice, Bob` (systemctl status shows it; warlockd reads counts and
    names from it): names on one line, cut to keep the line short."""
    line = f"players {count}/{most}"
    kept: list[str] = []
    for name in (clean(n) for n in names):
        if name and sum(len(k) + 2 for k in kept) + len(name) <= 300:
            kept.append(name)
    line = f"{line}: {', '.join(kept)}" if kept else line
    if session:  # where the game tells it (Assetto Corsa): ` | session race | map ks_monza`
        line += f"{SEP}session {clean(session)}" + (f"{SEP}map {clean(where)}" if where else "")
    return line


def make_probe(opts: Options) -> Callable[[], str | None]:
    """A function answering a status line when the game is up, None when it is not."""
    if opts.probe and opts.probe[0] != "none":
        from .query import query

        protocol, port = opts.probe

        def by_query() -> str | None:
            r = query(protocol, port)
            return (
                status_line(r.player_count, r.max_players, r.players, r.session, r.map)
                if r
                else None
            )

        return by_query
    wanted = set(opts.ports)

    def by_ports() -> str | None:
        return "listening" if wanted <= bound_ports() else None

    return by_ports
