"""The table of commands, walked: every command answers alike in every spelling (flags,
subcommand, options before the subcommand), through the fast path where it has one and
through the full parser, for a success and for a failure."""

from __future__ import annotations

import importlib
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.unit import acpack
from tests.unit.support import ID_A, ID_B, ID_C, World, make_paths
from warlockd import run as run_module
from warlockd import schedules
from warlockd.actions import Args
from warlockd.actions.backup import backup
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.delete import delete
from warlockd.actions.import_pack import import_pack
from warlockd.actions.pack import pack
from warlockd.actions.schedule import do_schedule_add
from warlockd.cli import entry, fast, full
from warlockd.cli import run as cli_run
from warlockd.commands import COMMANDS, GLOBAL, TABLE, Command, Output
from warlockd.layout import data_dir
from warlockd.systemd import UnitState

# What a scenario needs before the command runs: the arguments it adds, given the world.
Setup = Callable[[World], list[str]]


class Case(NamedTuple):
    setup: Setup
    code: int  # the exit status every spelling must give


def _nothing(world: World) -> list[str]:
    return []


def _console(world: World) -> list[str]:
    fifo = data_dir(world.host.registry.get(ID_A)) / "console"
    os.mkfifo(fifo)
    _readers.append(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # the game reading it
    return ["say hi"]


def _backup_name(world: World) -> list[str]:
    return [Path(backup(world.host, world.host.registry.get(ID_A)).file).name]


def _pack_path(world: World) -> list[str]:
    return [str(pack(world.host, world.host.registry.get(ID_A))["file"])]


def _password(action: str) -> Setup:
    """`user add` and `passwd` read the password from stdin when it is not a terminal."""

    def setup(world: World) -> list[str]:
        sys.stdin = io.StringIO("correct horse battery\n")
        return [action]

    return setup


def _second(world: World) -> list[str]:
    create(world.host, CreateRequest("example", "second", ID_C))
    return []


def _ac_pack(world: World, changes: acpack.Members | None = None) -> list[str]:
    return [str(acpack.build(world.root / "in" / "server-pack.tar.gz", changes))]


def _ac_running(world: World) -> list[str]:
    """ID_A made again from a pack, running, its runner's status holding the join link."""
    delete(world.host, world.host.registry.get(ID_A), purge=True)
    made, _ = import_pack(world.host, _ac_pack(world)[0], instance_id=ID_A)
    link = "https://acstuff.ru/s/q:race/online/join?ip=203.0.113.7&httpPort=8081"
    world.mem.units[made.unit] = UnitState(made.unit, "loaded", "active", "running",
                                           status_text=f"players 0/2 | join {link}")  # fmt: skip
    return []


def _schedule(world: World) -> list[str]:
    add = Args(instance=ID_A, task=["backup"], on_calendar="hourly", max_backups=2)
    return [do_schedule_add(world.host, add).data["id"]]


_readers: list[int] = []

# Per command: extra arguments (after the spelling of the command and its instance) for a
# call that succeeds and one that fails. The instance is ID_A, or ID_B (unknown) to fail.
SUCCESS: dict[str, tuple[list[str], Case]] = {
    "create": (["--app", "example", "--instance-id", ID_C], Case(_nothing, 0)),
    "clone": (["--instance-id", ID_C, "--instance-name", "Copy"], Case(_nothing, 0)),
    "cmd": ([], Case(_console, 0)),
    "restore": ([], Case(_backup_name, 0)),
    "import": (["--instance-id", ID_C], Case(_pack_path, 0)),
    "delete": (["--yes"], Case(_nothing, 0)),
    "check-update": ([], Case(_nothing, 1)),  # bundled: never an update, exit 1 says so
    "backup": (["--max-backups", "2"], Case(_nothing, 0)),
    "metrics": (["--since", "2h"], Case(_nothing, 0)),
    "logs": (["-n", "7"], Case(_nothing, 0)),
    "set-config": ([], Case(lambda w: ["Max Players", "8"], 0)),
    "is-running": ([], Case(_nothing, 1)),  # stopped: exit 1 says so
    "has-players": ([], Case(_nothing, 1)),  # not running: nobody plays
    "rcon": ([], Case(_console, 0)),
    "create-service": (
        ["--service", "Second", "--app", "example", "--instance-id", ID_C],
        Case(_nothing, 0),
    ),
    "remove-service": ([], Case(_second, 0)),
    "remove": (["--confirm"], Case(_nothing, 0)),
    "api-key": (["--name", "laptop", "--scope", "operate"], Case(lambda w: ["create"], 0)),
    "user": (["--name", "bob", "--scope", "read"], Case(_password("add"), 0)),
    "schedule-add": (["--on-calendar", "hourly", "--keep", "3"], Case(lambda w: ["backup"], 0)),
    "schedule-list": ([], Case(lambda w: _schedule(w) and [], 0)),
    "schedule-remove": ([], Case(_schedule, 0)),
    "schedule-pause": ([], Case(_schedule, 0)),
    "schedule-resume": ([], Case(_schedule, 0)),
    "schedule-run": ([], Case(_schedule, 0)),  # a backup, now
    "import-pack": (["--instance-name", "Monday league", "--instance-id", ID_C], Case(_ac_pack, 0)),
    "link": ([], Case(_ac_running, 0)),
}
FAILURE: dict[str, tuple[list[str], Case]] = {
    "cmd": ([], Case(lambda w: ["say hi"], 1)),  # to a game that is not running
    "rcon": ([], Case(lambda w: ["say hi"], 1)),
    "set-config": ([], Case(lambda w: ["Max Players", "lots"], 2)),
    "remove-service": ([], Case(_nothing, 2)),  # the game's last service
    "create-service": (["--service", "a;b", "--app", "example"], Case(_nothing, 2)),
    "remove": ([], Case(_nothing, 2)),  # without --confirm
    "create": (["--app", "nope"], Case(_nothing, 1)),
    "import": ([], Case(lambda w: ["/nonexistent/pack.tar.gz"], 1)),
    "delete": ([], Case(_nothing, 2)),  # without --yes and without a terminal
    "metrics": (["--since", "yesterday"], Case(_nothing, 2)),
    "events": (["--since", "yesterday"], Case(_nothing, 2)),
    "backup": (["--max-backups", "0"], Case(_nothing, 2)),
    "restore": ([], Case(lambda w: ["../x"], 2)),
    "api-key": (["--name", "laptop"], Case(lambda w: ["frob"], 2)),
    "user": ([], Case(_password("add"), 2)),  # without --name
    "apps": (["--app", "nope"], Case(_nothing, 1)),
    "schedule-add": (["--on-calendar", "whenever"], Case(lambda w: ["backup"], 2)),
    "schedule-remove": ([], Case(lambda w: ["backup-0badf00d"], 1)),
    "schedule-pause": ([], Case(lambda w: ["0badf00d"], 1)),
    "schedule-resume": ([], Case(lambda w: ["0badf00d"], 1)),
    "schedule-run": ([], Case(lambda w: ["0badf00d"], 1)),
    "import-pack": ([], Case(lambda w: _ac_pack(w, {"acServer": None}), 2)),  # Windows only
    "link": ([], Case(_nothing, 2)),  # the example game announces no link
}
# setup writes the system's own files (/etc/dbus-1, /etc/systemd): the integration and
# package tiers run it, on real systemd.
SKIPPED = {"setup"}
WALKED = [c for c in TABLE if c.name not in SKIPPED]


def _takes_instance(command: Command) -> bool:
    return any(o.name == "instance" for o in command.options) and command.name != "create"


def spellings(command: Command, instance: str | None, arg: list[str], rest: list[str]) -> dict[
    str, list[str]
]:  # fmt: skip
    """The ways a panel or a person may type one call."""
    named = ["--instance", instance] if instance and _takes_instance(command) else []
    flag = [f"--{command.name}", *arg] if command.argument else [f"--{command.name}"]
    out = {
        "flags": [*named, *flag, *rest],
        "subcommand": [command.name, *arg, *named, *rest],
    }
    if named:
        out["options first"] = [*named, command.name, *arg, *rest]
    return out


@pytest.fixture(autouse=True)
def _no_exec(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`logs` would become journalctl: print what it would run instead."""

    def show(argv: list[str]) -> None:
        print(json.dumps(argv))

    monkeypatch.setattr(run_module, "exec_", show)
    monkeypatch.setattr(sys, "stdin", sys.stdin)  # put back what _password replaces
    monkeypatch.setattr(schedules, "new_id", lambda: "5c4ed01e")  # the same in every world
    yield
    while _readers:
        os.close(_readers.pop())


def _world(root: Path) -> World:
    world = World(root, make_paths(root))
    made = create(world.host, CreateRequest("example", "seeded", ID_A))
    (data_dir(made) / "world.json").write_text('{"tick": 3}')
    return world


def _normal(text: str, root: Path) -> str:
    """What differs between runs that did the same: the world's directory, times."""
    text = text.replace(str(root), "<root>")
    text = re.sub(r"\d{8}-\d{6}", "<time>", text)
    text = re.sub(r'"size": \d+', '"size": 0', text)  # gzip stamps the time
    text = re.sub(r"wlk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", "<api key>", text)
    text = re.sub(r"\b[0-9a-f]{16}\b", "<hex16>", text)  # key ids, users' stamps
    text = re.sub(r"\(\d+ bytes\)", "(<bytes>)", text)
    text = re.sub(r'"due": [0-9.]+', '"due": 0', text)  # when a delayed action is due
    text = re.sub(r'"sampled_at": [0-9.]+', '"sampled_at": 0', text)
    return re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+0-9:Z]*", "<iso>", text)


def _answers(
    command: Command, case: tuple[list[str], Case], instance: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> dict[str, tuple[int, str, str]]:  # fmt: skip
    rest, (setup, _) = case
    results = {}
    for spelling in spellings(command, instance, [], rest):
        for path, main in (("entry", entry.main), ("full", full.main)):
            root = tmp_path / f"{spelling}-{path}".replace(" ", "-")
            world = _world(root)
            arg = setup(world)
            argv = spellings(command, instance, arg, rest)[spelling]
            monkeypatch.setattr(cli_run, "make_host", lambda world=world: world.host)
            capsys.readouterr()
            code = main(argv)
            out, err = capsys.readouterr()
            results[f"{spelling}, {path}: {argv}"] = (code, _normal(out, root), _normal(err, root))
    return results


@pytest.mark.parametrize("name", [c.name for c in WALKED])
def test_every_spelling_of_a_command_that_succeeds_answers_alike(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command = COMMANDS[name]
    case = SUCCESS.get(name, ([], Case(_nothing, 0)))
    answers = _answers(command, case, ID_A, tmp_path, monkeypatch, capsys)
    first = next(iter(answers.values()))
    assert all(a == first for a in answers.values()), answers
    code, out, err = first
    assert code == case[1].code, answers
    assert "error" not in err and "Traceback" not in err
    if command.output is Output.JSON:
        json.loads(out)  # pure JSON on stdout
    elif command.output in (Output.NOTES, Output.EXIT):
        assert out == "" and err != ""  # what happened, for people, on stderr


@pytest.mark.parametrize("name", [c.name for c in WALKED])
def test_every_spelling_of_a_command_that_fails_answers_alike(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    command = COMMANDS[name]
    instance = ID_B if _takes_instance(command) else ID_A  # unknown: every command fails
    default: tuple[list[str], Case] | None = (
        ([], Case(_nothing, 1)) if _takes_instance(command) else None
    )
    case = FAILURE.get(name, default)
    if case is None:
        pytest.skip(f"{name} takes no instance and has no failure case of its own")
    if name in FAILURE:
        instance = ID_A
    answers = _answers(command, case, instance, tmp_path, monkeypatch, capsys)
    first = next(iter(answers.values()))
    assert all(a == first for a in answers.values()), answers
    code, out, err = first
    assert (code, out) == (case[1].code, ""), answers
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err


def test_the_fast_path_takes_each_fast_command_in_both_spellings() -> None:
    for command in TABLE:
        for argv in spellings(command, ID_A, [], []).values():
            parsed = fast.parse(argv)
            if command.fast:
                assert parsed is not None and parsed[0] is command, argv
                assert parsed[1].get("instance", ID_A) == ID_A
            else:
                assert parsed is None, argv


def test_every_row_names_a_handler_and_options_that_exist() -> None:
    for command in TABLE:
        module, _, function = command.handler.partition(":")
        handler = getattr(importlib.import_module(f"warlockd.actions.{module}"), function)
        assert callable(handler), command.handler
        assert function == "do_" + command.name.replace("-", "_")
        options = [*command.options, *GLOBAL, *([command.argument] if command.argument else [])]
        for option in options:
            assert option.name in Args._fields or option.name == "service", option
            assert option.kind in (str, int, bool, list), option
            assert all(f.startswith("-") for f in option.flags), option


def test_a_flag_means_one_thing_in_every_command() -> None:
    meaning: dict[str, tuple[str, type]] = {}
    for command in TABLE:
        for option in (*command.options, *GLOBAL):
            for flag in option.flags:
                assert meaning.setdefault(flag, (option.name, option.kind)) == (
                    option.name,
                    option.kind,
                ), flag
    commands = {f"--{c.name}" for c in TABLE}
    argument_flags = {f for c in TABLE if c.argument for f in c.argument.flags}
    assert not (commands - argument_flags) & set(meaning)  # a command's flag is no option
