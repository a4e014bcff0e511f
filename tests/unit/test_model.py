from __future__ import annotations

import pytest

from warlockd.errors import InvalidInput
from warlockd.model import (
    DEFAULT_ID,
    Instance,
    InstanceId,
    Limits,
    Status,
    new_id,
    parse_id,
    parse_service,
    status_of,
    unit_name,
    user_name,
    validate_name,
)

UUID = InstanceId("550e8400-e29b-41d4-a716-446655440000")


@pytest.mark.parametrize("value", [UUID, "00000000-0000-0000-0000-000000000000", DEFAULT_ID])
def test_parse_id_accepts_canonical_lowercase_uuids_and_default(value: str) -> None:
    assert parse_id(value) == value


@pytest.mark.parametrize(
    "value",
    [
        UUID.upper(),
        "{" + UUID + "}",
        UUID.replace("-", ""),
        "a/b",
        "..",
        "../" + UUID,
        UUID + "\n",
        "x\ny",
        "%n",
        "%i",
        "a b",
        " " + UUID,
        "",
        "a" * 300,
        "Default",
        UUID + ".service",
    ],
)
def test_parse_id_refuses_anything_but_a_canonical_uuid(value: str) -> None:
    with pytest.raises(InvalidInput) as e:
        parse_id(value)
    assert "\n" not in str(e.value)  # the offending value is shown escaped, on one line
    assert e.value.hint


def test_parse_id_shows_a_long_value_shortened() -> None:
    with pytest.raises(InvalidInput) as e:
        parse_id("a" * 300)
    assert len(e.value.message) < 150


@pytest.mark.parametrize("value", ["My server", "x", "n" * 64, '50% "best" \\ server', "Ünïcödé"])
def test_validate_name_accepts_printable_names_up_to_64_characters(value: str) -> None:
    assert validate_name(value) == value


@pytest.mark.parametrize("value", ["a\nb", "a\tb", "a\rb", "a\x1bb", "n" * 65, "", "   "])
def test_validate_name_refuses_control_characters_long_and_empty_names(value: str) -> None:
    with pytest.raises(InvalidInput):
        validate_name(value)


@pytest.mark.parametrize("value", [UUID, DEFAULT_ID, "ffffffff-ffff-ffff-ffff-ffffffffffff"])
def test_user_name_fits_in_31_characters(value: str) -> None:
    name = user_name(parse_id(value))
    assert len(name) <= 31
    assert name.startswith("wl-")


def test_user_names_of_different_instances_differ() -> None:
    assert user_name(UUID) != user_name(parse_id("650e8400-e29b-41d4-a716-446655440000"))
    assert user_name(parse_id(DEFAULT_ID)) == "wl-default"


def test_a_bad_id_never_becomes_a_unit_or_user_name() -> None:
    # unit_name and user_name take only a checked InstanceId (mypy sees to it); the check
    with pytest.raises(InvalidInput):
        unit_name(parse_id("../x"))
    with pytest.raises(InvalidInput):
        user_name(parse_id("A"))
    assert unit_name(UUID) == f"game@{UUID}.service"


@pytest.mark.parametrize("value", [f"game@{UUID}", f"game@{UUID}.service", "game@default"])
def test_parse_service_reads_the_id_of_a_game_unit(value: str) -> None:
    assert unit_name(parse_service(value)).removesuffix(".service") == value.removesuffix(
        ".service"
    )


@pytest.mark.parametrize(
    "value", ["nginx.service", f"game-{UUID}", "game@", "game@../x", f"game@{UUID}.socket"]
)
def test_parse_service_refuses_anything_but_a_game_unit(value: str) -> None:
    with pytest.raises(InvalidInput):
        parse_service(value)


def _instance(**changes: object) -> Instance:
    inst = Instance(
        id=UUID,
        app="6f0c2a1e-5b7d-4c39-9e21-3a8d4f7b2c10",
        name="Round trip",
        path="/srv/games/rt",
        ports={"game": 30000, "query": 30001},
        created_at="2025-01-01T00:00:00+00:00",
        enabled=True,
        limits=Limits(cpu_quota=150, memory_max="2G", tasks_max=64, cpu_affinity="0-1,3"),
        env={"GREETING": 'say "hi" $USER'},
    )
    return inst.with_(**changes)


@pytest.mark.parametrize(
    "inst",
    [_instance(), _instance(limits=Limits(), env={}, enabled=False), _instance(id=DEFAULT_ID)],
)
def test_instance_survives_a_round_trip_through_to_dict_and_from_dict(inst: Instance) -> None:
    assert Instance.from_dict(inst.to_dict()) == inst


def test_instance_to_dict_leaves_unset_limits_out() -> None:
    assert _instance(limits=Limits(memory_max="1G")).to_dict()["limits"] == {"memory_max": "1G"}


@pytest.mark.parametrize(
    ("key", "value"),
    [("id", "../etc"), ("app", "not-a-guid"), ("name", "two\nlines"), ("ports", {"game": "x"})],
)
def test_instance_from_dict_refuses_a_bad_value(key: str, value: object) -> None:
    data = _instance().to_dict() | {key: value}
    with pytest.raises(InvalidInput):
        Instance.from_dict(data)


def test_instance_from_dict_names_a_missing_key() -> None:
    data = _instance().to_dict()
    del data["created_at"]
    with pytest.raises(InvalidInput, match="created_at"):
        Instance.from_dict(data)


def test_instance_from_dict_refuses_bad_limits() -> None:
    data = _instance().to_dict() | {"limits": {"memory_max": "lots"}}
    with pytest.raises(InvalidInput, match="lots"):
        Instance.from_dict(data)


def test_limits_accept_systemd_values() -> None:
    limits = Limits(cpu_quota=1, memory_max="512M", tasks_max=4_194_304, cpu_affinity="0,2-3")
    assert Limits.from_dict(limits.to_dict()) == limits


@pytest.mark.parametrize(
    "changes",
    [
        {"cpu_quota": 0},
        {"cpu_quota": 100_001},
        {"memory_max": "0"},
        {"memory_max": "2GB"},
        {"memory_max": "-1G"},
        {"memory_max": "1G\nExecStart=/bin/sh"},
        {"tasks_max": 0},
        {"tasks_max": 5_000_000},
        {"cpu_affinity": "0-"},
        {"cpu_affinity": "a"},
        {"cpu_affinity": "0 1"},
        {"tasks_max": True},  # JSON or TOML true is not a number of tasks
        {"cpu_quota": "150"},
        {"tasks_max": 1.5},
        {"memory_max": 512},
    ],
)
def test_limits_refuse_values_systemd_would_not_take(changes: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Limits(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("active", "sub", "status"),
    [
        ("active", "running", Status.RUNNING),
        ("reloading", "reload", Status.RUNNING),
        ("failed", "failed", Status.CRASHED),
        ("activating", "auto-restart", Status.CRASHED),
        ("activating", "start", Status.STARTING),
        ("deactivating", "stop-sigterm", Status.STOPPING),
        ("inactive", "dead", Status.STOPPED),
    ],
)
def test_status_of_maps_systemd_states_to_the_five_user_states(
    active: str, sub: str, status: Status
) -> None:
    assert status_of(active, sub) is status


def test_new_ids_are_random_version_4_uuids_in_canonical_form() -> None:
    import uuid

    ids = {new_id() for _ in range(500)}
    assert len(ids) == 500
    for value in ids:
        parsed = uuid.UUID(value)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == value == parse_id(value)
