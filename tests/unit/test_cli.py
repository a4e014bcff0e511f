"""The CLI in-process (typer's CliRunner) and as a real `manage.py` subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.unit.support import EXAMPLE_GUID, ID_A, ID_B, REPO, World, make_paths, tree
from warlockd.actions import Args, Outcome
from warlockd.actions import clone as clone_action
from warlockd.actions import pack as pack_action
from warlockd.actions.create import CreateRequest, create
from warlockd.actions.start_stop import start
from warlockd.cli import entry, fast, full
from warlockd.cli import run as cli_run
from warlockd.commands import TABLE
from warlockd.layout import data_dir
from warlockd.model import Instance
from warlockd.registry import Registry

Result = tuple[int, str, str]  # exit status, stdout, stderr
Runner = Callable[[list[str]], Result]

# Without a system bus nothing can reach systemd; on a systemd host the subprocess
# would talk to the real one, so those tests only run where it is absent.
HAS_SYSTEMD = Path("/run/systemd/system").exists() or Path("/run/dbus/system_bus_socket").exists()


def _env(root: Path) -> dict[str, str]:
    return {
        "WARLOCK_STATE_DIR": str(root / "state"),
        "WARLOCK_UNIT_DIR": str(root / "units"),
        "WARLOCK_CONFIG_DIR": str(root / "config"),
    }


def _in_process(root: Path) -> Runner:
    def run(args: list[str]) -> Result:
        env: dict[str, str | None] = {
            **_env(root),
            "WARLOCK_TEMPLATES_DIR": None,
            "WARLOCK_INSTALLERS_DIR": None,
            "STATE_DIRECTORY": None,
        }
        with CliRunner(mix_stderr=False).isolation(env=env) as (out, err):
            rc = full.main(args)
            sys.stdout.flush()
            sys.stderr.flush()
            assert err is not None
            return rc, out.getvalue().decode(), err.getvalue().decode()

    return run


def _start(root: Path, args: list[str]) -> subprocess.Popen[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", **_env(root)}
    return subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _subprocess(root: Path) -> Runner:
    def run(args: list[str]) -> Result:
        proc = _start(root, args)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err

    return run


def _seed(root: Path) -> Instance:
    """One registered instance, written straight through the registry (no systemd involved)."""
    inst = Instance(
        id=ID_A,
        app=EXAMPLE_GUID,
        name="seeded",
        path=str(root / "games" / "a"),
        ports={"game": 30000},
        created_at="2025-01-01T00:00:00+00:00",
    )
    data_dir(inst).mkdir(parents=True)
    registry = Registry(make_paths(root))
    with registry.lock():
        registry.save(inst)
    return inst


@pytest.fixture
def seeded(tmp_path: Path) -> Instance:
    return _seed(tmp_path)


RUNNERS: dict[str, Callable[[Path], Runner]] = {
    "in-process": _in_process,
    "subprocess": _subprocess,
}


def _one_error_line(result: Result, status: int) -> str:
    rc, out, err = result
    assert (rc, out) == (status, ""), err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


BAD_INPUT: dict[str, tuple[list[str], int, str]] = {
    "uppercase id": (["--instance", "ABC", "--start"], 2, "invalid instance id"),
    "dotdot id": (["--instance", "../x", "--start"], 2, "invalid instance id"),
    "slash id": (["--instance", "a/b", "--status"], 2, "invalid instance id"),
    "newline id": (["--instance", "x\ny", "--start"], 2, "invalid instance id"),
    "specifier id": (["--instance", "%n", "--stop"], 2, "invalid instance id"),
    "space id": (["--instance", "a b", "--start"], 2, "invalid instance id"),
    "uuid in braces": (["--instance", "{" + ID_A + "}", "--start"], 2, "invalid instance id"),
    "bad id, subcommand": (["start", "--instance", "ABC"], 2, "invalid instance id"),
    "bad service": (["--service", "nginx.service", "--start"], 2, "not a game@<id> unit"),
    "unknown instance": (["--instance", ID_B, "--start"], 1, "no instance"),
    "unknown instance, subcommand": (["stop", "-i", ID_B], 1, "no instance"),
    "unknown app": (["--create", "--app", "nope"], 1, "unknown app"),
    "create without app": (["--create"], 2, "needs --app"),
    "create, malformed id": (["--create", "--app", "example", "--instance-id", "X"], 2, "invalid"),
    "create, subcommand, malformed id": (["create", "--app", "example", "-i", "A/B"], 2, "invalid"),
    "name with newline": (
        ["--create", "--app", "example", "--instance-name", "a\nb"],
        2,
        "control character",
    ),
    "300-char name": (["--create", "--app", "example", "--name", "x" * 300], 2, "at most 64"),
    "port not a number": (["--create", "--app", "example", "--port", "game=abc"], 2, "number"),
    "port out of range": (["--create", "--app", "example", "--port", "game=70000"], 2, "range"),
    "port, subcommand": (["create", "--app", "example", "--port", "game=0"], 2, "range"),
    "relative dir": (["--create", "--app", "example", "--dir", "relative"], 2, "absolute"),
    "bad memory limit": (["--create", "--app", "example", "--memory-max", "lots"], 2, "size"),
    "cpu quota not a number": (["--create", "--app", "example", "--cpu-quota", "x"], 2, "x"),
    "two verbs": (["--start", "--stop"], 2, "one command at a time"),
    "unknown option": (["--frobnicate"], 2, "--frobnicate"),
    "unknown subcommand": (["frobnicate"], 2, "frobnicate"),
    "delete without --yes": (["--instance", ID_A, "--delete"], 2, "without --yes"),
    "no instance and no default": (["--start"], 2, ID_A),
    "console line with newline": (["--instance", ID_A, "--cmd", "a\nb"], 2, "one line"),
    "clone of an unknown instance": (["--instance", ID_B, "--clone"], 1, "no instance"),
    "clone, bad id": (["clone", "--instance", "a/b"], 2, "invalid instance id"),
    "clone, bad name": (
        ["--instance", ID_A, "--clone", "--instance-name", "a\nb"],
        2,
        "control character",
    ),
    "clone, bad port": (["clone", "-i", ID_A, "--port", "game=70000"], 2, "range"),
    "pack of an unknown instance": (["--instance", ID_B, "--pack"], 1, "no instance"),
    "import of a relative path": (["import", "x.tar.gz"], 2, "absolute"),
    "import, flag, missing file": (["--import", "/nonexistent.tar.gz"], 1, "no pack"),
}


# The real program gets the inputs from the brief and the systemd-less cases; the rest
# are covered in-process, where they cost a millisecond instead of a fifth of a second.
REAL_PROGRAM = [
    "uppercase id",
    "dotdot id",
    "slash id",
    "newline id",
    "specifier id",
    "space id",
    "bad id, subcommand",
    "unknown instance",
    "unknown app",
    "name with newline",
    "300-char name",
    "port not a number",
    "port out of range",
    "relative dir",
    "two verbs",
    "delete without --yes",
]
NEEDS_SYSTEMD: dict[str, list[str]] = {
    "start": ["--instance", ID_A, "--start"],
    "start, subcommand": ["start", "--instance", ID_A],
    "stop, mixed": ["--instance", ID_A, "stop"],
    "status": ["--instance", ID_A, "--status"],
    "enable": ["--instance", ID_A, "--enable"],
    "list": ["--list"],
    "get-services": ["get-services", "--instance", ID_A],
}
Ran = tuple[Result, dict[str, tuple[int, int, bytes | None]], dict[str, Any]]


@pytest.fixture(scope="module")
def real_program(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """Run every real-program case at once, each on its own seeded host: the tier stays fast."""
    cases = {c: BAD_INPUT[c][0] for c in REAL_PROGRAM}
    if not HAS_SYSTEMD:
        cases |= {f"systemd: {c}": args for c, args in NEEDS_SYSTEMD.items()}
    started = {}
    for n, (case, args) in enumerate(cases.items()):
        root = tmp_path_factory.mktemp(f"case{n}")
        _seed(root)
        started[case] = (root, tree(root), _start(root, args))
    outcomes: dict[str, Ran] = {}
    for case, (root, before, proc) in started.items():
        out, err = proc.communicate(timeout=60)
        outcomes[case] = ((proc.returncode, out, err), before, tree(root))
    return outcomes


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_gives_one_error_line_an_exit_status_and_changes_nothing(
    tmp_path: Path, seeded: Instance, case: str
) -> None:
    args, status, says = BAD_INPUT[case]
    before = tree(tmp_path)
    line = _one_error_line(_in_process(tmp_path)(args), status)
    assert says in line
    assert tree(tmp_path) == before


@pytest.mark.parametrize("case", REAL_PROGRAM)
def test_bad_input_to_the_real_program_gives_one_error_line_and_changes_nothing(
    real_program: dict[str, Ran], case: str
) -> None:
    _, status, says = BAD_INPUT[case]
    result, before, after = real_program[case]
    assert says in _one_error_line(result, status)
    assert after == before


@pytest.mark.skipif(HAS_SYSTEMD, reason="systemd is reachable here")
@pytest.mark.parametrize("case", sorted(NEEDS_SYSTEMD))
def test_without_systemd_the_real_program_fails_with_one_line_and_a_hint(
    real_program: dict[str, Ran], case: str
) -> None:
    result, before, after = real_program[f"systemd: {case}"]
    line = _one_error_line(result, 1)
    assert "systemd" in line and "(hint: " in line
    assert after == before


@pytest.mark.skipif(HAS_SYSTEMD, reason="systemd is reachable here")
def test_without_systemd_a_command_fails_in_process_too(tmp_path: Path, seeded: Instance) -> None:
    line = _one_error_line(_in_process(tmp_path)(["--instance", ID_A, "--start"]), 1)
    assert "systemd" in line and "(hint: " in line


def test_help_lists_the_flags_and_the_subcommands() -> None:
    result = CliRunner().invoke(full.app, ["--help"])
    assert result.exit_code == 0
    rows = {line.strip(" │").split(" ")[0] for line in result.output.splitlines()}
    for verb in (c.name for c in TABLE):
        assert f"--{verb}" in result.output
        assert verb in rows  # a row of the commands' list (a box of them, with rich)
    assert "--instance" in result.output


def test_help_of_the_real_program_exits_zero(tmp_path: Path) -> None:
    rc, out, err = _subprocess(tmp_path)(["--help"])
    assert (rc, err) == (0, "")
    assert "--get-services" in out and "get-services" in out


def test_no_command_prints_the_help(tmp_path: Path) -> None:
    rc, out, err = _in_process(tmp_path)([])
    assert (rc, err) == (0, "")
    assert "--get-services" in out


def test_cli_runner_reports_two_verbs_as_a_usage_error() -> None:
    result = CliRunner(mix_stderr=False).invoke(full.app, ["--start", "--stop"])
    assert result.exit_code == 2
    assert "one command at a time" in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    rc, _, err = _subprocess(tmp_path)(["--debug", "--instance", "ABC", "--start"])
    assert rc != 0
    assert "Traceback" in err and "InvalidInput" in err


@pytest.mark.parametrize(
    ("mode", "args"),
    [
        ("in-process", ["--list", "--json"]),
        ("in-process", ["list", "--json"]),
        ("subprocess", ["--list", "--json"]),
    ],
)
def test_list_json_of_an_empty_host_is_an_empty_json_list(
    tmp_path: Path, mode: str, args: list[str]
) -> None:
    rc, out, err = RUNNERS[mode](tmp_path)(args)
    assert (rc, err) == (0, "")
    assert json.loads(out) == []


def test_a_reader_that_goes_away_gets_no_traceback_and_the_exit_status_stays(
    tmp_path: Path,
) -> None:
    # manage.py leaves with os._exit after flushing; a closed pipe must not turn that
    # flush into a traceback (`manage.py list --json | head -1`).
    proc = _start(tmp_path, ["--instance", "bad", "--start"])
    proc.stdout.close()  # type: ignore[union-attr]
    assert proc.wait(timeout=60) == 2
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert "Traceback" not in err and err.startswith("error: invalid instance id"), err
    proc = _start(tmp_path, ["list", "--json"])
    proc.stdout.close()  # type: ignore[union-attr]
    assert proc.wait(timeout=60) == 0
    assert proc.stderr.read() == ""  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", sorted(RUNNERS))
def test_get_ports_lists_each_port_once_per_protocol_in_the_panels_shape(
    tmp_path: Path, seeded: Instance, mode: str
) -> None:
    run = RUNNERS[mode](tmp_path)
    rc, out, err = run(["--instance", ID_A, "--get-ports"])
    assert (rc, err) == (0, "")
    unit = f"game@{ID_A}.service"
    # panels add `.service` themselves: the service is named without it
    common = {
        "config": None, "service": f"game@{ID_A}", "key": "game", "instance_id": ID_A,
        "name": "seeded",
    }  # fmt: skip
    description = "Game port (UDP) and status query (UDP and TCP)"
    assert json.loads(out) == [
        {"value": 30000, "protocol": "TCP", "description": description, **common},
        {"value": 30000, "protocol": "UDP", "description": description, **common},
    ]
    # the other spellings, and every instance when none is named, say the same
    assert run(["get-ports", "--service", unit]) == (rc, out, err)
    assert run(["get-ports"]) == (rc, out, err)


def test_both_spellings_of_list_give_the_same_output_on_a_seeded_host(
    tmp_path: Path, seeded: Instance
) -> None:
    # `list` asks systemd for live states: without it, both spellings fail the same way.
    run = _subprocess(tmp_path)
    assert run(["list", "--json"]) == run(["--list", "--json"])


@pytest.fixture
def console(seeded: Instance) -> Iterator[Callable[[], bytes]]:
    """A reader on the seeded instance's console FIFO; call it to take what was written."""
    fifo = data_dir(seeded) / "console"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)

    def take() -> bytes:
        try:
            return os.read(fd, 65536)
        except BlockingIOError:
            return b""

    try:
        yield take
    finally:
        os.close(fd)


SPELLINGS = [
    ["--instance", ID_A, "--cmd", "say hi"],
    ["-i", ID_A, "--cmd", "say hi"],
    ["cmd", "say hi", "--instance", ID_A],
    ["--instance", ID_A, "cmd", "say hi"],
    ["--service", f"game@{ID_A}.service", "--cmd", "say hi"],
    ["cmd", "say hi", "--service", f"game@{ID_A}"],
]


@pytest.mark.parametrize(
    ("mode", "args"),
    [("in-process", a) for a in SPELLINGS] + [("subprocess", a) for a in SPELLINGS[2:4]],
)
def test_every_spelling_of_a_command_reaches_the_same_implementation(
    tmp_path: Path, console: Callable[[], bytes], mode: str, args: list[str]
) -> None:
    rc, out, err = RUNNERS[mode](tmp_path)(args)
    assert (rc, out) == (0, ""), err
    assert err == f"sent to game@{ID_A}.service: say hi\n"
    assert console() == b"say hi\n"


NEW = ["--instance-name", "Copy", "--instance-id", ID_B, "--port", "game=31000"]
PACK = "/srv/p.tar.gz"


@pytest.mark.parametrize(
    ("verb", "flag", "subcommand", "given"),
    [
        ("clone", ["-i", ID_A, "--clone"], ["clone", "-i", ID_A], ("instance", ID_A)),
        ("import", ["--import", PACK], ["import", PACK], ("archive", PACK)),
    ],
)
def test_both_spellings_of_clone_and_import_reach_them_with_the_same_options(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
    flag: list[str],
    subcommand: list[str],
    given: tuple[str, str],
) -> None:
    seen: list[Args] = []

    def record(host: object, args: Args) -> Outcome:
        seen.append(args)
        return Outcome()

    module = {"clone": clone_action, "import": pack_action}[verb]
    monkeypatch.setattr(module, "do_" + verb, record)
    run = _in_process(tmp_path)
    assert run([*flag, *NEW])[0] == 0
    assert run([*subcommand, *NEW])[0] == 0
    assert seen[0] == seen[1]
    assert getattr(seen[0], given[0]) == given[1]
    assert (seen[0].instance_name, seen[0].instance_id) == ("Copy", ID_B)
    assert list(seen[0].port) == ["game=31000"]


def test_a_command_for_a_game_that_is_not_reading_fails_with_one_line(
    tmp_path: Path, seeded: Instance
) -> None:
    os.mkfifo(data_dir(seeded) / "console")  # nobody reads it
    line = _one_error_line(_in_process(tmp_path)(["--instance", ID_A, "--cmd", "say hi"]), 1)
    assert "not reading its console" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--instance", ID_A, "--get-services"], {"instance": ID_A, "verb": "get-services"}),
        (["get-services", "--instance", ID_A], {"instance": ID_A, "verb": "get-services"}),
        (
            ["--get-services", f"--service=game@{ID_A}.service"],
            {"service": f"game@{ID_A}.service", "verb": "get-services"},
        ),
        (["get-services"], {"verb": "get-services"}),
        (["--instance", ID_A, "--start"], {"instance": ID_A, "verb": "start"}),
        (["stop", "-i", ID_A], {"instance": ID_A, "verb": "stop"}),
        (["--instance", ID_A, "--get-services", "--debug"], None),  # the full parser takes it
        (["--instance", ID_A, "--start", "--stop"], None),
        (["--instance", ID_A, "--delete"], None),
        (["--get-services", "--get-services"], None),
        (["--instance", "--get-services"], None),  # a missing value: the full parser explains
        (
            ["--create", "--app", "example", "--name", "Fri", "--port", "game=30010"],
            {"app": "example", "instance_name": "Fri", "port": ["game=30010"], "verb": "create"},
        ),
        (
            ["create", "--app=example", "--env", "A=1", "--env", "B=2", "--dir", "/srv/x"],
            {"app": "example", "env": ["A=1", "B=2"], "dir": "/srv/x", "verb": "create"},
        ),
        (
            ["--create", "--app", "example", "--cpu-quota", "50"],
            {"app": "example", "cpu_quota": 50, "verb": "create"},
        ),
        (["--create", "--app", "example", "--cpu-quota", "x"], None),  # typer explains it
        (["--create", "--app", "a", "--app", "b"], None),
        (["--instance", ID_A, "--start", "--app", "example"], None),  # not an option of start
        (["--app", "example"], None),
        (["list", "--json"], {"json": True, "verb": "list"}),
        (["--list"], {"verb": "list"}),
        (["list", "--instance", ID_A], None),  # list takes no instance
        (["list", "--app", "example"], None),  # not an option of list
        (
            ["--instance", ID_A, "--get-services", "--json"],
            {"instance": ID_A, "json": True, "verb": "get-services"},
        ),
        (["--instance", ID_A, "--start", "--json=1"], None),  # a flag takes no value
        (["--instance", ID_A, "--logs"], None),  # not a fast command
    ],
)
def test_only_plain_get_services_calls_take_the_fast_path(
    argv: list[str], expected: dict[str, str] | None
) -> None:
    parsed = fast.parse(argv)
    got = None if parsed is None else {**parsed[1], "verb": parsed[0].name}
    assert got == expected


FULL = "import sys\nfrom warlockd.cli.full import main\nsys.exit(main(sys.argv[1:]))"


def _both_paths(tmp_path: Path, args: list[str]) -> list[tuple[int, str, str]]:
    """One call through manage.py (the fast path where it answers) and through the full
    parser alone, each a real process."""
    env = {**os.environ, "WARLOCK_STATE_DIR": str(tmp_path / "state")}
    results = []
    for program in ([str(REPO / "manage.py")], ["-c", FULL]):
        argv = [sys.executable, *program, *args]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
        results.append((proc.returncode, proc.stdout, proc.stderr))
    return results


def test_a_fast_create_answers_like_the_full_parser(tmp_path: Path) -> None:
    args = ["--create", "--app", "nope", "--tasks-max", "64"]
    assert fast.parse(args) is not None
    fast_result, full_result = _both_paths(tmp_path, args)
    assert fast_result == full_result
    assert fast_result[0] != 0 and "nope" in fast_result[2].splitlines()[-1]


@pytest.mark.parametrize("verb", ["get-services", "get-ports", "start", "stop", "restart"])
def test_the_fast_path_answers_like_the_full_parser(tmp_path: Path, verb: str) -> None:
    """The same failing command, fast and full: the same answer."""
    args = ["--instance", ID_A, f"--{verb}"]
    assert fast.parse(args) is not None
    fast_result, full_result = _both_paths(tmp_path, args)
    assert fast_result == full_result
    assert fast_result[0] == 1 and fast_result[2].startswith(f"error: no instance {ID_A}")


def test_create_and_list_never_print_generated_secrets(tmp_path: Path) -> None:
    from warlockd.model import Instance

    inst = Instance(
        id=ID_A,
        app=EXAMPLE_GUID,
        name="s",
        path="/srv/s",
        ports={"game": 30000},
        created_at="2026-01-01T00:00:00+00:00",
        secrets={"rcon_password": "s3cretPassw0rd"},
    )
    shown = json.dumps(inst.public())
    assert "s3cretPassw0rd" not in shown and "rcon_password" in shown


def test_list_json_fast_and_full_print_the_same_one_instance_a_line(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    made = [create(world.host, CreateRequest("example", f"n{i}")) for i in range(3)]
    start(world.host, made[0])
    monkeypatch.setattr(cli_run, "make_host", lambda: world.host)
    outs = []
    for main in (entry.main, full.main):
        assert main(["list", "--json"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]
    lines = outs[0].splitlines()
    assert (lines[0], lines[-1], len(lines)) == ("[", "]", 5)
    status = {r["id"]: r["status"] for r in json.loads(outs[0])}
    assert status == {i.id: "running" if i is made[0] else "stopped" for i in made}


def test_backup_and_restore_in_both_spellings(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    inst = create(world.host, CreateRequest("example", "b", ID_A))
    (data_dir(inst) / "world.json").write_text('{"tick": 5}')
    monkeypatch.setattr(cli_run, "make_host", lambda: world.host)
    capsys.readouterr()
    assert full.main(["--instance", ID_A, "--backup", "--max-backups", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert full.main(["backup", "--instance", ID_A, "--max-backups", "1"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["pruned"] == [first["file"]]
    (data_dir(inst) / "world.json").write_text('{"tick": 9}')
    name = Path(second["file"]).name
    assert full.main(["--instance", ID_A, "--restore", name]) == 0
    assert json.loads(capsys.readouterr().out)["restored"] == second["file"]
    assert (data_dir(inst) / "world.json").read_text() == '{"tick": 5}'
    assert full.main(["restore", name, "--instance", ID_A]) == 0
    assert full.main(["restore", "--instance", ID_A, "../x"]) == 2
    assert "error: backup path" in capsys.readouterr().err
