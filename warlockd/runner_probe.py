"""The runner's probe: how it tells the game is up (its query, or its ports bound) and
the status line it hands systemd (`players 2/16: Alice, Bob`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import netstat

TYPE_CHECKING = False  # the runner lives as long as its game: no typing module for it
if TYPE_CHECKING:
    from .runner import Options


def bound_ports(inodes: set[int] | None = None) -> set[tuple[str, int]]:
    return set(netstat.bound(inodes))


def status_line(count: int, most: int, names: Sequence[str]) -> str:
    """`players 2/16: Alice, Bob` (systemctl status shows it; warlockd reads counts and
    names from it): names on one line, cut to keep the line short."""
    line = f"players {count}/{most}"
    kept: list[str] = []
    for name in (" ".join(str(n).split()) for n in names):
        if name and sum(len(k) + 2 for k in kept) + len(name) <= 300:
            kept.append(name)
    return f"{line}: {', '.join(kept)}" if kept else line


def make_probe(opts: Options) -> Callable[[], str | None]:
    """A function answering a status line when the game is up, None when it is not."""
    if opts.probe and opts.probe[0] != "none":
        from .query import query

        protocol, port = opts.probe

        def by_query() -> str | None:
            result = query(protocol, port)
            return (
                status_line(result.player_count, result.max_players, result.players)
                if result
                else None
            )

        return by_query
    wanted = set(opts.ports)

    def by_ports() -> str | None:
        return "listening" if wanted <= bound_ports() else None

    return by_ports
