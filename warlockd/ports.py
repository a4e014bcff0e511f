"""Port allocation: pure choice over what is taken, plus the probe of what the host holds."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from .apps import PortSpec
from .errors import Conflict, InvalidInput

MAX_STEPS = 2000


class Holder(NamedTuple):
    """Who holds a port: an instance or a host process."""

    port: int
    protocol: str  # tcp or udp
    what: str  # "instance <id> (<name>)" or "process 123 (nginx)"


Taken = Mapping[tuple[str, int], str]  # (protocol, port) -> who holds it


def parse_port(text: str) -> tuple[str, int]:
    """`key=N` as given to --port."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InvalidInput(f"--port {text!r}: expected key=N, e.g. game=27015")
    try:
        port = int(value)
    except ValueError:
        raise InvalidInput(f"--port {text!r}: {value!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise InvalidInput(f"--port {text!r}: {port} is out of range 1..65535")
    return key, port


def _protocols(spec: PortSpec) -> tuple[str, ...]:
    return ("tcp", "udp") if spec.protocol.value == "both" else (spec.protocol.value,)


def holder_of(spec: PortSpec, port: int, taken: Taken) -> str | None:
    for proto in _protocols(spec):
        if (proto, port) in taken:  # naming a host holder scans /proc: only when held
            return taken[(proto, port)]
    return None


def _free(spec: PortSpec, port: int, taken: Taken) -> bool:
    return all((proto, port) not in taken for proto in _protocols(spec))


def _pairs(spec: PortSpec, port: int) -> set[tuple[str, int]]:
    return {(proto, port) for proto in _protocols(spec)}


def allocate(
    specs: Iterable[PortSpec],
    taken: Taken,
    explicit: Mapping[str, int],
    step: int | None = None,
) -> dict[str, int]:
    """Explicit ports as given (refused if held); the others step from their defaults together.

    All automatic ports move by the same offset, in steps of the app's port span (or of
    `step`, a manifest's `port_step`), so an instance keeps the layout of the defaults
    (game, game+1 for query...) and never overlaps itself. One number may serve two ports
    of an instance on different protocols (Assetto Corsa's UDP_PORT and TCP_PORT).
    """
    specs = list(specs)
    for key, port in explicit.items():
        if port < 1024:
            raise InvalidInput(
                f"--port {key}={port}: ports below 1024 need privileges the game does not have",
                hint="pick a port of 1024 or more",
            )
        spec = next((s for s in specs if s.key == key), None)
        if spec is None:
            raise InvalidInput(
                f"--port {key}={port}: no port {key!r}",
                hint="ports: " + ", ".join(s.key for s in specs),
            )
    by_key = {s.key: s for s in specs}
    fixed: set[tuple[str, int]] = set()
    for key, port in explicit.items():
        pairs = _pairs(by_key[key], port)
        if pairs & fixed:
            raise InvalidInput("--port: two ports of one instance cannot share a number")
        fixed |= pairs
    for key, port in explicit.items():
        spec = by_key[key]
        who = holder_of(spec, port, taken)
        if who:
            raise Conflict(f"port {port}/{spec.protocol} ({key}) is taken by {who}")
    auto = [s for s in specs if s.key not in explicit]
    if not auto:
        return dict(explicit)
    span = step or max(s.default for s in auto) - min(s.default for s in auto) + 1
    for n in range(MAX_STEPS):
        chosen = {s.key: s.default + n * span for s in auto}
        if any(p > 65535 for p in chosen.values()):
            break
        if all(
            _free(s, chosen[s.key], taken) and fixed.isdisjoint(_pairs(s, chosen[s.key]))
            for s in auto
        ):
            return {**chosen, **explicit}
    raise Conflict("no free ports found above the defaults", hint="pass --port key=N")


class HostSockets(Mapping[tuple[str, int], str]):
    """What the host holds: membership from /proc/net, holders named only when asked."""

    def __init__(self) -> None:
        from . import netstat

        self._netstat = netstat
        self._bound = netstat.bound()

    def __getitem__(self, key: tuple[str, int]) -> str:
        return self._netstat.holder(self._bound[key])

    def __contains__(self, key: object) -> bool:
        return key in self._bound

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self._bound)

    def __len__(self) -> int:
        return len(self._bound)


class Merged(Mapping[tuple[str, int], str]):
    """Several Taken maps seen as one, without naming every host holder up front."""

    def __init__(self, *maps: Taken) -> None:
        self._maps = maps

    def __getitem__(self, key: tuple[str, int]) -> str:
        for m in self._maps:
            if key in m:
                return m[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(key in m for m in self._maps)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter({k for m in self._maps for k in m})

    def __len__(self) -> int:
        return len({k for m in self._maps for k in m})


def host_taken() -> Taken:
    """TCP listeners and bound UDP sockets on this host."""
    return HostSockets()
