"""tests/panel.py: the Warlock panels' parsing rules, fed the kinds of output they meet."""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import panel
from tests.panel import PanelError, UpHelp

# What typer 0.7 with rich prints for a WM-style manage.py (80 columns, as over SSH: no tty).
RICH_HELP = "".join(
    line.ljust(80) + "\n"  # rich pads every row to the width
    for line in [
        "",
        " Usage: manage.py [OPTIONS] COMMAND [ARGS]...",
        "",
        " Manage the game servers of this install.",
        " Warlock Manager: 2.2.14",
        "",
        "╭─ Options ────────────────────────────────────────────────────────────────────╮",
        "│ --debug          Enable debug logging                                        │",
        "│ --help           Show this message and exit.                                 │",
        "╰──────────────────────────────────────────────────────────────────────────────╯",
        "╭─ Commands ───────────────────────────────────────────────────────────────────╮",
        "│ backup           Back up a service's world and configuration                 │",
        "│ create-service   Create a new service instance                               │",
        "│ delayed-restart  Restart after warning players, with a long line of help     │",
        "│                  text that wraps onto a second row.                          │",
        "│ get-configs      Get the configuration options as JSON                       │",
        "│ get-metrics      Get performance metrics in JSON format                      │",
        "│ get-services     Get the list of services as JSON                            │",
        "│ restore          Restore a backup                                            │",
        "│ set-config       Set a configuration option                                  │",
        "╰──────────────────────────────────────────────────────────────────────────────╯",
    ]
)
RICH_COMMANDS = [
    "backup",
    "create-service",
    "delayed-restart",
    "get-configs",
    "get-metrics",
    "get-services",
    "restore",
    "set-config",
]

# FORK docs/Management API.md, quoted in the contract §2.
CONTRACT_METRICS = {
    "vein-server": {
        "service": "vein-server",
        "name": "BitsNBytes VEIN Test",
        "ip": "45.26.230.248",
        "port": 7777,
        "status": "running",
        "player_count": 0,
        "max_players": 16,
        "memory_usage": "9.79 GB",
        "cpu_usage": "28%",
        "game_pid": 726626,
        "service_pid": 726614,
    }
}
V1_SERVICE = {
    "service": "valheim-server",
    "name": "My Valheim",
    "ip": "203.0.113.7",
    "port": 2456,
    "enabled": True,
    "max_players": 10,
}
V2_SERVICE = V1_SERVICE | {
    "app_dir": "/home/steam/Valheim/AppFiles",
    "bak_dir": "/home/steam/Valheim/Backups/valheim-server",
    "version": None,
    "loader": None,
}


def _argparse_help() -> str:
    """A v1 manage.py's help, as argparse on Python 3.11 prints it ("options:")."""
    p = argparse.ArgumentParser(prog="manage.py", description="Manage Valheim")
    p.add_argument("--service", help="Service to act on, default ALL")
    p.add_argument("--get-services", action="store_true", help="List services as JSON")
    p.add_argument("--set-config", nargs=2, metavar=("OPT", "VALUE"), help="Set an option")
    p.add_argument("--delayed-restart", action="store_true")  # no help text
    return p.format_help()


# --- discovery ----------------------------------------------------------------------------------


def _state(tmp_path: Path) -> Path:
    state = tmp_path / "var lib warlock"  # a space: the directory must reach sh quoted
    state.mkdir()
    return state


def test_discovery_gives_guid_and_install_path_of_each_app_file(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "33201d07.app").write_text("/home/steam/Valheim")  # as installers write it
    (state / "700798f0.app").write_text("/home/minecraft\n")  # $(cat) drops the newline
    (state / ".auth").write_text("ab" * 32)
    (state / "dir.app").mkdir()  # not a regular file
    assert sorted(panel.discover(str(state))) == [
        ("33201d07", "/home/steam/Valheim"),
        ("700798f0", "/home/minecraft"),
    ]


def test_discovery_of_an_empty_or_missing_directory_finds_nothing(tmp_path: Path) -> None:
    assert panel.discover(str(_state(tmp_path))) == []
    assert panel.discover(str(tmp_path / "absent")) == []


def test_discovery_script_for_the_default_directory_is_the_panels_own() -> None:
    script = panel.DISCOVERY.format(glob=shlex.quote("/var/lib/warlock") + "/*.app")
    assert script == (
        'for file in /var/lib/warlock/*.app; do if [ -f "$file" ]; then '
        'echo "$(basename "$file" ".app"):$(cat "$file")"; fi; done'
    )


def test_a_colon_in_the_install_path_cuts_the_path_there(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "g.app").write_text("/srv/games:ark")
    assert panel.discover(str(state)) == [("g", "/srv/games")]


def test_surrounding_spaces_of_guid_and_path_are_trimmed(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "g.app").write_text("  /srv/x\u00a0")
    assert panel.discover(str(state)) == [("g", "/srv/x")]


def test_an_instance_app_file_shows_up_as_an_unknown_guid(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "33201d07.second.app").write_text("/srv/valheim2")
    assert panel.discover(str(state)) == [("33201d07.second", "/srv/valheim2")]


def test_a_newline_inside_an_app_file_makes_the_panel_throw(tmp_path: Path) -> None:
    state = _state(tmp_path)
    (state / "g.app").write_text("/srv/a\n/srv/b")
    with pytest.raises(PanelError, match="path is undefined"):
        panel.discover(str(state))


@pytest.mark.parametrize(
    ("basename", "parsed"),
    [
        ("33201d07", ("33201d07", None)),
        ("33201d07.2", ("33201d07", "2")),
        ("33201d07.a.b", ("33201d07", "a")),
        ("33201d07.", ("33201d07", "")),
    ],
)
def test_fork_mi_splits_the_name_at_dots(basename: str, parsed: tuple[str, str | None]) -> None:
    assert panel.fork_mi_name(basename) == parsed


# --- --help ------------------------------------------------------------------------------------


def test_fork_takes_every_double_dash_word_of_an_argparse_help() -> None:
    options = panel.fork_options(_argparse_help())
    for name in ("help", "service", "get-services", "set-config", "delayed-restart"):
        assert name in options


def test_fork_keeps_duplicates_in_order_of_appearance() -> None:
    text = "usage: [--service SERVICE] [--backup]\n  --service SERVICE  which one\n  --backup\n"
    assert panel.fork_options(text) == ["service", "backup", "service", "backup"]


def test_fork_swallows_an_angle_bracket_argument_after_an_option() -> None:
    assert panel.fork_options("--restore <path --to-file> --update") == ["restore", "update"]


def test_fork_sees_only_global_options_in_a_typer_help() -> None:
    assert panel.fork_options(RICH_HELP) == ["debug", "help"]


def test_up_reads_version_and_commands_from_a_typer_rich_help() -> None:
    assert panel.up_help(RICH_HELP) == UpHelp("2.2.14", "v2", RICH_COMMANDS)


def test_up_reads_the_help_typer_0_7_with_rich_prints_for_real(tmp_path: Path) -> None:
    script = tmp_path / "manage.py"
    script.write_text(
        textwrap.dedent('''\
        import typer
        app = typer.Typer(help="Game servers.\\n\\nWarlock Manager: 2.2.14", add_completion=False)
        @app.callback()
        def main(debug: bool = typer.Option(False, "--debug", help="Debug logging")) -> None:
            """Game servers."""
        @app.command("get-services")
        def get_services() -> None:
            """Get the list of services as JSON."""
        @app.command("set-config")
        def set_config(option: str, value: str, service: str = typer.Option("")) -> None:
            """Set a configuration option."""
        app()
        ''')
    )
    env = os.environ | {"COLUMNS": "80", "PYTHONIOENCODING": "utf-8", "TERM": "dumb"}
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, env=env, check=True
    )
    assert "\u256d\u2500 Commands" in done.stdout  # rich drew its box
    assert panel.up_help(done.stdout) == UpHelp("2.2.14", "v2", ["get-services", "set-config"])


def test_a_commands_box_without_a_version_line_means_version_2() -> None:
    text = RICH_HELP.replace("Warlock Manager: 2.2.14", "")
    assert panel.up_help(text) == UpHelp("2", "v2", RICH_COMMANDS)


def test_an_argparse_help_is_v1_and_an_option_without_help_text_is_missed() -> None:
    # "--delayed-restart" alone on its line has no whitespace after the name for UP's regex
    assert panel.up_help(_argparse_help()) == UpHelp(
        "1", "v1", ["service", "get-services", "set-config"]
    )


def test_a_1_x_version_line_with_a_commands_box_finds_no_options() -> None:
    text = RICH_HELP.replace("2.2.14", "1.4.0")
    assert panel.up_help(text) == UpHelp("1.4.0", "v1", [])


def test_a_help_with_neither_marker_has_no_version() -> None:
    assert panel.up_help("usage: manage.py\n--start  Start\n") == UpHelp(None, None, [])


def test_js_trim_takes_a_byte_order_mark_but_not_pythons_extra_whitespace() -> None:
    text = "\ufeffWarlock Manager: 2.0.1\n\u256d\u2500 Commands \u2500\u256e\n"
    text += "\u00a0\u2502 start   Start the servers \u2502\n"  # NBSP: JS and Python both trim it
    text += "\x1c\u2502 stop    Stop the servers  \u2502\n"  # U+001C: only Python would trim it
    assert panel.up_help(text) == UpHelp("2.0.1", "v2", ["start"])
    assert panel.js_trim("\x1c x \x85") == "\x1c x \x85"


@pytest.mark.parametrize(
    ("version", "dialect"),
    [
        ("2.2.14", "v2"),
        ("2", "v2"),
        ("10.0", "v2"),
        ("2.0.0-rc1", "v2"),  # "0-rc1" is NaN, counted as 0
        ("1.5", "v1"),
        ("1", "v1"),
        ("1.999.999", "v1"),
        ("1.1000.0", None),  # above ^1's ceiling 1.999.999, below 2.0.0
        ("0.9.0", None),
        ("v2.1", None),  # "v2" is NaN: 0.1
        ("", None),
        (None, None),
    ],
)
def test_up_dialect_compares_versions_part_by_part(
    version: str | None, dialect: str | None
) -> None:
    assert panel.up_dialect(version) == dialect


# --- command lines -----------------------------------------------------------------------------


def test_up_builds_v2_commands_with_the_service_after_the_subcommand() -> None:
    assert panel.up_command("/srv/ark", "get-services") == "/srv/ark/manage.py get-services"
    assert (
        panel.up_command("/srv/ark", "get-metrics", service="ark-island")
        == '/srv/ark/manage.py get-metrics --service "ark-island"'
    )
    assert (
        panel.up_command("/srv/ark", "restore", ["ark-backup-20260101-000000.tar.gz"], "ark-island")
        == '/srv/ark/manage.py restore --service "ark-island" ark-backup-20260101-000000.tar.gz'
    )


def test_up_builds_v1_commands_with_the_service_before_the_flag() -> None:
    help_v1 = UpHelp("1", "v1", ["set-config", "backup"])
    assert (
        panel.up_command("/srv/vh", "set-config", ["Max Players", 16], "vh-server", help_v1)
        == '/srv/vh/manage.py --service "vh-server" --set-config "Max Players" 16'
    )
    assert panel.up_command("/srv/vh", "backup", version="1.0.3") == "/srv/vh/manage.py --backup"


@pytest.mark.parametrize(
    ("arg", "text"),
    [
        ("plain", "plain"),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ('"pre quoted"', '"pre quoted"'),
        ("'pre quoted'", "'pre quoted'"),
        ('"', '"'),  # starts and ends with '"': trusted as it is
        ("a$HOME\tb", "a$HOME\tb"),  # no space, no '"': bare
        (None, ""),
        (True, "true"),
        (16, "16"),
        (100.0, "100"),
        (0.5, "0.5"),
        (-2.5, "-2.5"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (123456789012345680000.0, "123456789012345680000"),
    ],
)
def test_up_quotes_arguments_like_args_parse(arg: panel.Arg, text: str) -> None:
    assert (
        panel.up_command("/p", "set-config", ["Opt", arg])
        == f"/p/manage.py set-config Opt {text}".strip()
    )


def test_up_throws_for_an_option_its_help_did_not_list_or_an_unknown_version() -> None:
    with pytest.raises(PanelError, match="not supported"):
        panel.up_command("/p", "get-mods", version=UpHelp("2.2.14", "v2", ["get-services"]))
    with pytest.raises(PanelError, match="Unsupported application version"):
        panel.up_command("/p", "get-services", version="0.9")


def _echo_argv(tmp_path: Path) -> Path:
    """A stand-in manage.py that prints the argv it received as JSON."""
    script = tmp_path / "manage.py"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    script.chmod(0o755)
    return script


def _run(cmd: str, **env: str) -> list[str]:
    done = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, env=os.environ | env)
    assert done.returncode == 0, done.stderr
    argv: list[str] = json.loads(done.stdout)
    return argv


def test_an_up_set_config_value_with_spaces_and_quotes_reaches_manage_py_intact(
    tmp_path: Path,
) -> None:
    _echo_argv(tmp_path)
    cmd = panel.up_command(str(tmp_path), "set-config", ["Server Name", 'My "best" server'], "s1")
    assert _run(cmd) == ["set-config", "--service", "s1", "Server Name", 'My "best" server']


def test_an_up_value_with_a_dollar_sign_and_no_space_is_expanded_by_the_shell(
    tmp_path: Path,
) -> None:
    _echo_argv(tmp_path)
    cmd = panel.up_command(str(tmp_path), "set-config", ["Password", "pa$HOME"])
    assert _run(cmd, HOME="/x") == ["set-config", "Password", "pa/x"]


def test_fork_builds_its_v1_command_lines() -> None:
    p = "/home/steam/Valheim"
    assert (
        panel.fork_command(p, "get-metrics", service="vh")
        == f"{p}/manage.py --service vh --get-metrics"
    )
    assert panel.fork_command(p, "get-services") == f"{p}/manage.py --get-services"
    assert (
        panel.fork_command(p, "delayed-stop", service="vh")
        == f"{p}/manage.py --service vh --delayed-stop &"
    )
    assert panel.fork_command(p, "backup") == f"set -euo pipefail; {p}/manage.py --backup"
    assert (
        panel.fork_command(p, "backup", max_backups=5) == f"{p}/manage.py --backup --max-backups=5"
    )
    assert (
        panel.fork_command(p, "set-config", "Server Name", "Viking Hall", service="vh")
        == f'{p}/manage.py --service vh --set-config "Server Name" "Viking Hall"'
    )
    assert panel.fork_command(p, "rcon", 'say "hi"', service="vh") == (
        f'{p}/manage.py --service vh --rcon "say \\"hi\\""'
    )


def test_fork_restores_a_basename_from_the_backups_directory() -> None:
    assert panel.fork_command("/srv/vh", "restore", " vh-backup-20260101.tar.gz\n") == (
        'set -euo pipefail; /srv/vh/manage.py --restore "/srv/vh/backups/vh-backup-20260101.tar.gz"'
    )


@pytest.mark.parametrize("name", ["", "../x.tar.gz", "a b.tar.gz", "x;rm.tar.gz", "x\u00e9.tar.gz"])
def test_a_restore_name_outside_the_safe_characters_is_refused(name: str) -> None:
    with pytest.raises(PanelError, match="Invalid filename"):
        panel.restore_basename(name)


def test_a_fork_set_config_value_with_a_quote_breaks_the_command(tmp_path: Path) -> None:
    _echo_argv(tmp_path)
    cmd = panel.fork_command(str(tmp_path), "set-config", "Motd", 'a "b" c')
    assert _run(cmd) == ["--set-config", "Motd", "a b c"]  # FORK escapes nothing


def test_the_ssh_line_quotes_the_command_in_one_single_quoted_word() -> None:
    line = panel.ssh_line("echo 'hi'", "10.0.0.5")
    assert line == (
        "ssh -o LogLevel=quiet -o StrictHostKeyChecking=no -o PasswordAuthentication=no "
        "-o ConnectTimeout=3 root@10.0.0.5 'echo '\\''hi'\\'''"
    )
    assert panel.ssh_line("echo hi", "10.0.0.5", "FORK") == (
        "ssh -o LogLevel=quiet -o StrictHostKeyChecking=no root@10.0.0.5 'echo hi'"
    )
    assert panel.ssh_line("echo 'hi'", "localhost") == "echo 'hi'"


@pytest.mark.parametrize("who", ["UP", "FORK"])
def test_a_command_survives_the_ssh_quoting_unchanged(tmp_path: Path, who: panel.Panel) -> None:
    _echo_argv(tmp_path)
    cmd = panel.up_command(str(tmp_path), "cmd", ["say \"it's\" $HOME \\ 'x'"], "s1")
    remote = panel.ssh_remote(cmd, who)
    assert remote == cmd
    # the double quotes UP adds keep the spaces, not the $: the host's shell expands it
    said = ["cmd", "--service", "s1", "say \"it's\" /x \\ 'x'"]
    assert _run(remote, HOME="/x") == _run(cmd, HOME="/x") == said


# --- JSON shapes -------------------------------------------------------------------------------


def test_the_contract_example_of_get_metrics_passes() -> None:
    assert panel.check_get_metrics(CONTRACT_METRICS) == []


def test_v2_metrics_with_players_and_ports_pass() -> None:
    entry = V2_SERVICE | {
        "status": "stopped",
        "players": [],
        "player_count": None,
        "memory_usage": "N/A",
        "cpu_usage": "N/A",
        "game_pid": 0,
        "service_pid": 0,
        "ports": [{"port": 2456, "protocol": "UDP", "description": "Game", "open": True}],
    }
    assert panel.check_get_metrics({"valheim-server": entry}) == []


def test_a_service_key_ending_in_dot_service_is_flagged() -> None:
    metrics = {"vein-server.service": CONTRACT_METRICS["vein-server"]}
    problems = panel.check_get_metrics(metrics)
    assert any("appends '.service'" in p for p in problems)
    assert any("'service' is 'vein-server'" in p for p in problems)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("status", "crashed", "'status' should be running|stopped|starting|stopping"),
        ("memory_usage", "12 KB", "memory_usage '12 KB' is stored as 12 MB"),
        ("memory_usage", 512, "memory_usage 512 is stored as 0 MB"),
        ("cpu_usage", "28", "cpu_usage '28' is not like '28%'"),
        ("game_pid", True, "'game_pid' should be int"),
        ("player_count", "3", "'player_count' should be int?"),
        ("players", None, "'players' should be ~list"),
    ],
)
def test_a_metric_the_panel_would_misread_is_flagged(field: str, value: object, says: str) -> None:
    entry = CONTRACT_METRICS["vein-server"] | {field: value}
    problems = panel.check_get_metrics({"vein-server": entry})
    assert any(says in p for p in problems), problems


def test_get_metrics_must_be_an_object_keyed_by_service() -> None:
    assert panel.check_get_metrics([CONTRACT_METRICS["vein-server"]])[0].startswith(
        "get-metrics: expected an object keyed by service name"
    )


def test_v1_services_pass_as_v1_but_lack_the_v2_directories() -> None:
    assert panel.check_get_services({"valheim-server": V1_SERVICE}, "v1") == []
    assert panel.check_get_services({"valheim-server": V2_SERVICE}, "v2") == []
    problems = panel.check_get_services({"valheim-server": V1_SERVICE}, "v2")
    assert problems == [
        f"get-services['valheim-server']: missing {k!r}"
        for k in ("app_dir", "bak_dir", "version", "loader")
    ]


def test_a_service_with_wrong_types_gets_one_problem_per_field() -> None:
    bad = V1_SERVICE | {"enabled": "yes", "port": "2456"}
    assert panel.check_get_services({"valheim-server": bad}, "v1") == [
        "get-services['valheim-server']: 'port' should be int?, got '2456'",
        "get-services['valheim-server']: 'enabled' should be bool, got 'yes'",
    ]


def test_configs_need_a_known_type_and_in_v2_a_group() -> None:
    config = {
        "option": "Max Players",
        "default": 10,
        "value": 16,
        "type": "int",
        "help": "How many may join",
        "options": None,
        "group": "Basic",
    }
    assert panel.check_get_configs([config, config | {"type": "list", "options": ["a", "b"]}]) == []
    no_group = {k: v for k, v in config.items() if k != "group"}
    assert panel.check_get_configs([no_group], "v1") == []
    assert panel.check_get_configs([no_group]) == ["get-configs[0]: missing 'group'"]
    assert "'type' should be" in panel.check_get_configs([config | {"type": "string"}])[0]


def test_ports_need_an_integer_value_and_an_upper_case_protocol() -> None:
    port = {
        "value": 2456,
        "config": "Port",
        "service": "vh",
        "protocol": "UDP",
        "description": "Game",
    }
    assert panel.check_get_ports([port, port | {"config": None, "protocol": "TCP"}]) == []
    assert len(panel.check_get_ports([port | {"value": "2456", "protocol": "udp"}])) == 2
    assert panel.check_get_ports({"vh": port})[0].startswith("get-ports: expected a list")


def test_commands_are_a_list_of_strings() -> None:
    assert panel.check_get_commands(["save", "kick <player>"]) == []
    assert panel.check_get_commands(["save", 3]) != []
    assert panel.check_get_commands({"save": "Save"}) != []


@pytest.mark.parametrize(
    ("stdout", "unit"),
    [
        ("Creating service...\nCreatedService:ark-island\n", "ark-island"),
        ("CreatedService: ark-island \r\n\n", "ark-island"),
        ("CreatedService:ark:island", "ark"),
        ("CreatedService:ark-island\nDone.\n", None),
        ("", None),
    ],
)
def test_the_created_unit_is_read_from_the_last_stdout_line(stdout: str, unit: str | None) -> None:
    assert panel.created_service(stdout) == unit


# --- what the panel stores ---------------------------------------------------------------------


def test_the_contract_example_becomes_this_metric_row() -> None:
    row = panel.metric_row(CONTRACT_METRICS["vein-server"])
    assert row == {"player_count": 0, "status": 1, "memory_usage": 10024, "cpu_usage": 28}
    assert panel.metric_row(CONTRACT_METRICS["vein-server"], "FORK") == row


@pytest.mark.parametrize(
    ("memory", "mb"),
    [
        *[("512 MB", 512), ("1.5 GB", 1536), ("2gb", 2048), ("12 KB", 12), ("512", 512)],
        *[("N/A", 0), ("", 0), (None, 0), ("about 3 GB", 0), ("0.4 MB", 0)],
    ],
)
def test_memory_is_stored_in_whole_megabytes_as_the_panel_reads_it(memory: object, mb: int) -> None:
    assert panel.metric_row({"memory_usage": memory})["memory_usage"] == mb


def test_a_memory_of_just_a_dot_is_stored_as_nan() -> None:
    mb = panel.metric_row({"memory_usage": "."})["memory_usage"]
    assert isinstance(mb, float) and math.isnan(mb)


def test_a_numeric_memory_is_0_for_up_and_throws_in_fork() -> None:
    assert panel.metric_row({"memory_usage": 512})["memory_usage"] == 0
    with pytest.raises(PanelError, match="match is not a function"):
        panel.metric_row({"memory_usage": 512}, "FORK")


@pytest.mark.parametrize(
    ("cpu", "up", "fork"),
    [
        ("28%", 28, 28),
        ("28.5%", 28.5, 28),
        ("N/A", 0, 0),
        (None, 0, 0),
        (12.7, 12, 12),
        ("%5", 5, 0),
    ],
)
def test_cpu_is_parsed_as_a_float_by_up_and_an_int_by_fork(
    cpu: object, up: float, fork: float
) -> None:
    assert panel.metric_row({"cpu_usage": cpu})["cpu_usage"] == up
    assert panel.metric_row({"cpu_usage": cpu}, "FORK")["cpu_usage"] == fork


def test_a_stopped_service_with_no_player_count_stores_zeros() -> None:
    row = panel.metric_row({"status": "stopping", "player_count": None})
    assert row == {"player_count": 0, "status": 0, "memory_usage": 0, "cpu_usage": 0}


# --- backups -----------------------------------------------------------------------------------


def test_backups_are_read_from_bak_dir_in_v2_and_path_backups_in_v1() -> None:
    assert panel.backup_dir("/srv/vh", V2_SERVICE) == "/home/steam/Valheim/Backups/valheim-server"
    assert panel.backup_dir("/srv/vh", V1_SERVICE) == "/srv/vh/backups"
    assert panel.backup_dir("/srv/vh", V2_SERVICE | {"bak_dir": ""}) == "/srv/vh/backups"
    assert panel.backup_dir("/srv/vh") == "/srv/vh/backups"


def _row(name: str, modified: int | None) -> dict[str, object]:
    """One object of the files.js listing (routes/api/files.js), as the panel's UI gets it."""
    return {
        "name": name,
        "mimetype": "application/gzip" if name.endswith(".gz") else "text/plain",
        "path": f"/home/steam/Valheim/Backups/valheim-server/{name}",
        "size": 1024,
        "symlink": False,
        "permissions": 644,
        "user": "steam",
        "group": "steam",
        "modified": modified,
    }


def test_the_restore_list_is_tar_gz_files_newest_first() -> None:
    rows = [
        _row("valheim-server-backup-20260101-000000.tar.gz", 1767225600),
        _row("valheim-server-backup-20260301-000000.tar.gz", 1772323200),
        _row("notes.txt", 1772409600),
        _row("valheim-server-backup-20260201-000000.tar.gz", 1769904000),
        _row("old.zip", 1700000000),
        _row("partial.tar.gz.part", 1772500000),
    ]
    assert panel.backups_listing(rows) == [
        "valheim-server-backup-20260301-000000.tar.gz",
        "valheim-server-backup-20260201-000000.tar.gz",
        "valheim-server-backup-20260101-000000.tar.gz",
    ]


def test_backups_with_equal_or_unreadable_times_keep_their_listing_order() -> None:
    rows = [_row("a.tar.gz", None), _row("b.tar.gz", 5), _row("c.tar.gz", 5), _row("d.tar.gz", 0)]
    # an unreadable file has "modified": null, which the subtraction reads as 0
    assert panel.backups_listing(rows) == ["b.tar.gz", "c.tar.gz", "a.tar.gz", "d.tar.gz"]
