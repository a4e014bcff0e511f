from __future__ import annotations

import pytest

from warlockd.apps import PortSpec, Transport
from warlockd.errors import Conflict, InvalidInput
from warlockd.ports import allocate, holder_of, parse_port

GAME = PortSpec("game", Transport.UDP, 27015)
QUERY = PortSpec("query", Transport.UDP, 27016)
BOTH = PortSpec("game", Transport.BOTH, 30000)
RCON = PortSpec("rcon", Transport.TCP, 30000)


def _instance_ports(*ports: int, who: str = "instance x (first)") -> dict[tuple[str, int], str]:
    return {(proto, p): who for p in ports for proto in ("tcp", "udp")}


def test_parse_port_reads_key_equals_number() -> None:
    assert parse_port("game=27015") == ("game", 27015)
    assert parse_port("query=1") == ("query", 1)
    assert parse_port("query=65535") == ("query", 65535)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("27015", "expected key=N"),
        ("=27015", "expected key=N"),
        ("game=abc", "not a number"),
        ("game=", "not a number"),
        ("game=0", "out of range"),
        ("game=70000", "out of range"),
        ("game=-1", "out of range"),
    ],
)
def test_parse_port_refuses_malformed_input(text: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        parse_port(text)


def test_allocate_takes_the_defaults_when_they_are_free() -> None:
    assert allocate([GAME, QUERY], {}, {}) == {"game": 27015, "query": 27016}


def test_allocate_steps_from_the_defaults_past_taken_ports() -> None:
    taken = {("udp", 30000): "process 1 (a)", ("tcp", 30001): "process 2 (b)"}
    assert allocate([BOTH], taken, {}) == {"game": 30002}


def test_allocate_keeps_a_multi_port_layout() -> None:
    first = allocate([GAME, QUERY], {}, {})
    second = allocate([GAME, QUERY], _instance_ports(*first.values()), {})
    assert second == {"game": 27017, "query": 27018}
    third = allocate([GAME, QUERY], _instance_ports(*first.values(), *second.values()), {})
    assert third == {"game": 27019, "query": 27020}


def test_allocate_moves_the_whole_layout_when_one_of_its_ports_is_taken() -> None:
    assert allocate([GAME, QUERY], {("udp", 27016): "process 9 (x)"}, {}) == {
        "game": 27017,
        "query": 27018,
    }


def test_an_explicit_port_is_used_as_given() -> None:
    assert allocate([GAME, QUERY], {}, {"game": 40000}) == {"game": 40000, "query": 27016}


def test_an_automatic_port_never_lands_on_an_explicit_one() -> None:
    assert allocate([GAME, QUERY], {}, {"game": 27016}) == {"game": 27016, "query": 27017}


def test_a_taken_explicit_port_is_a_conflict_naming_the_holder() -> None:
    taken = _instance_ports(27015, who="instance 1234 (Alpha)")
    with pytest.raises(Conflict, match=r"27015.*instance 1234 \(Alpha\)"):
        allocate([GAME, QUERY], taken, {"game": 27015})


def test_an_explicit_port_for_an_unknown_key_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="rcon") as e:
        allocate([GAME, QUERY], {}, {"rcon": 27020})
    assert e.value.hint is not None and "game, query" in e.value.hint


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_a_both_port_is_blocked_by_a_holder_on_either_protocol(proto: str) -> None:
    taken = {(proto, 30000): "process 42 (nginx)"}
    assert holder_of(BOTH, 30000, taken) == "process 42 (nginx)"
    assert allocate([BOTH], taken, {}) == {"game": 30001}
    with pytest.raises(Conflict, match=r"process 42 \(nginx\)"):
        allocate([BOTH], taken, {"game": 30000})


def test_a_tcp_port_is_not_blocked_by_a_udp_holder() -> None:
    taken = {("udp", 30000): "process 42 (nginx)"}
    assert holder_of(RCON, 30000, taken) is None
    assert allocate([RCON], taken, {}) == {"rcon": 30000}
    assert allocate([RCON], taken, {"rcon": 30000}) == {"rcon": 30000}


def test_allocate_gives_up_with_a_conflict_at_the_top_of_the_range() -> None:
    top = PortSpec("game", Transport.UDP, 65535)
    with pytest.raises(Conflict, match="no free ports"):
        allocate([top], {("udp", 65535): "process 1 (x)"}, {})


def test_two_explicit_ports_of_one_instance_cannot_share_a_number() -> None:
    specs = [PortSpec("game", Transport.UDP, 27015), PortSpec("query", Transport.UDP, 27016)]
    with pytest.raises(InvalidInput, match="share a number"):
        allocate(specs, {}, {"game": 28000, "query": 28000})


def test_an_explicit_privileged_port_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidInput, match="below 1024") as e:
        allocate([PortSpec("game", Transport.TCP, 27015)], {}, {"game": 80})
    assert e.value.hint
