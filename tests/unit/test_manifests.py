"""Every shipped manifest loads, renders for an instance, and keeps its researched facts.

The facts below come from the sources cited at the top of each manifest (LinuxGSM's configs,
Warlock's installers, the games' own code and docs); a wrong edit to a manifest fails here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.support import ID_A, INSTALLED, INSTALLERS
from warlockd import units
from warlockd.apps import App, Transport, load_manifest
from warlockd.errors import InvalidInput
from warlockd.manifest import parse_manifest
from warlockd.model import Instance

MANIFESTS = sorted(INSTALLERS.glob("*.toml"))
INSTALL_PATH = Path("/var/lib/warlock/apps/guid/12345")
INSTANCE_DIR = "/srv/games/test-1"
GAME_DIR = f"{INSTANCE_DIR}/data"  # what the game sees as its directory (layout.py)


@dataclass(frozen=True)
class Facts:
    guid: str | None  # Warlock's GUID where it has the game, else None (ours, any UUID)
    source: str
    app_id: int | None
    ports: list[tuple[str, Transport, int]]
    query: str
    query_port: str | None
    rcon: tuple[str, str] | None  # (protocol, port key)
    stop_command: str | None
    stop_signal: str
    platform: str | None = None


UDP, TCP, BOTH = Transport.UDP, Transport.TCP, Transport.BOTH

GAMES: dict[str, Facts] = {
    "valheim": Facts(
        "33201d07-4d80-c271-28d5-82548dde0a67", "steamcmd", 896660,
        [("game", UDP, 2456), ("query", UDP, 2457)], "a2s", "query", None, None, "SIGINT",
    ),
    "palworld": Facts(
        "e4cd1462-87ec-213b-f0fa-7e2a1ba72e2d", "steamcmd", 2394010,
        [("game", UDP, 8211), ("query", UDP, 27015)], "none", None, None, None, "SIGINT",
    ),
    "cs2": Facts(
        None, "steamcmd", 730, [("game", BOTH, 27015)], "a2s", "game", ("source", "game"),
        "quit", "SIGTERM",
    ),
    "zomboid": Facts(
        "dd73094b-b84e-475b-b47a-1a97b5b2d850", "steamcmd", 380870,
        [("game", UDP, 16261), ("udp", UDP, 16262)], "a2s", "game", None, "quit", "SIGTERM",
    ),
    "ark-sa": Facts(
        "0c2de651-ec30-d4ac-c53f-ebdb67398324", "steamcmd", 2430930,
        [("game", UDP, 7777), ("rcon", TCP, 27020)], "none", None, ("source", "rcon"),
        "DoExit", "SIGINT", platform="windows",
    ),
    "rust": Facts(
        None, "steamcmd", 258550,
        [("game", UDP, 28015), ("rcon", TCP, 28016), ("query", UDP, 28017), ("app", TCP, 28082)],
        "a2s", "query", ("source", "rcon"), "quit", "SIGINT",
    ),
    "minecraft": Facts(
        "700798f0-35be-bc6c-da84-62c510dfbd06", "archive", None, [("game", TCP, 25565)],
        "minecraft", "game", None, "stop", "SIGTERM",
    ),
    "assetto-corsa": Facts(
        None, "steamcmd", 302550, [("udp", UDP, 9600), ("tcp", TCP, 9600), ("http", TCP, 8081)],
        "assetto", "http", None, None, "SIGTERM",
    ),
}  # fmt: skip


def _app(slug: str) -> App:
    return load_manifest(INSTALLERS / f"{slug}.toml")


def _instance(app: App) -> Instance:
    return Instance(
        id=ID_A,
        app=app.guid,
        name="Test Server 1",
        path=INSTANCE_DIR,
        ports={p.key: p.default for p in app.ports},
        created_at="2026-01-01T00:00:00+00:00",
        secrets={k: "S" * n for k, n in app.secrets.items()},
    )


def _rendered(app: App) -> tuple[list[str], dict[str, str]]:
    inst = _instance(app)
    ctx = units.context(inst, app, INSTALL_PATH)
    command = units.render_values({f"command[{i}]": a for i, a in enumerate(app.command)}, ctx)
    return list(command.values()), units.environment(inst, app, INSTALL_PATH)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_every_manifest_loads_and_its_slug_is_its_file_name(path: Path) -> None:
    app = load_manifest(path)
    assert app.slug == path.stem
    assert app.ports and app.command


def test_guids_and_slugs_are_unique_across_manifests() -> None:
    apps = [load_manifest(p) for p in MANIFESTS]
    assert len({a.guid for a in apps}) == len(apps)
    assert len({a.slug for a in apps}) == len(apps)


def test_every_researched_game_has_a_manifest() -> None:
    assert set(GAMES) <= {p.stem for p in MANIFESTS}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.stem)
def test_every_command_env_and_rcon_password_renders_for_an_instance(path: Path) -> None:
    app = load_manifest(path)
    command, env = _rendered(app)  # strict: an unknown template name raises
    assert not any("{{" in a or "{%" in a for a in [*command, *env.values()])
    if app.rcon:
        secrets = _instance(app).secrets
        password = units.render_values({"rcon": app.rcon.password}, {"secrets": secrets})
        assert password["rcon"] in secrets.values()
    rendered = units.render_dropin(_instance(app), app, INSTALLED, INSTALL_PATH)
    dropin = rendered.conf
    assert "ExecStart=" in dropin and f"WorkingDirectory={GAME_DIR}" in dropin
    for secret in _instance(app).secrets.values():  # only in the root-only secrets file
        assert secret not in dropin and secret in rendered.secrets


@pytest.mark.parametrize("slug", sorted(GAMES))
def test_the_researched_facts_hold(slug: str) -> None:
    app, facts = _app(slug), GAMES[slug]
    if facts.guid:
        assert app.guid == facts.guid  # Warlock's GUID (shared/warlock-contract.md)
    assert app.install.source == facts.source
    assert app.install.app_id == facts.app_id
    assert app.install.platform == facts.platform
    assert app.install.login == "anonymous" and app.install.branch == "public"
    assert [(p.key, p.protocol, p.default) for p in app.ports] == facts.ports
    assert app.query == facts.query
    if facts.query_port:
        assert app.query_port == facts.query_port
    else:
        assert app.watchdog == 0  # nothing to probe: readiness is the ports being bound
    assert ((app.rcon.protocol, app.rcon.port) if app.rcon else None) == facts.rcon
    assert (app.stop.command, app.stop.signal) == (facts.stop_command, facts.stop_signal)


@pytest.mark.parametrize("slug", sorted(GAMES))
def test_every_port_reaches_the_game(slug: str) -> None:
    """Each declared port is on the command line, except the ones the game derives itself."""
    app = _app(slug)
    command, _ = _rendered(app)
    line = " ".join(command)
    derived = {("valheim", "query")}  # game + 1, no flag (LinuxGSM info_game.sh)
    for p in app.ports:
        if (slug, p.key) not in derived:
            assert re.search(rf"(^|[ =?]){p.default}( |$|\?)", line), (p.key, line)


@pytest.mark.parametrize("slug", sorted(GAMES))
def test_saves_stay_in_the_instance_directory(slug: str) -> None:
    app = _app(slug)
    command, env = _rendered(app)
    if app.saves:
        assert any(GAME_DIR in a for a in [*command, *env.values()]), "nothing moves saves"
    assert all(not s.startswith("/") for s in app.saves)
    assert app.writable == ()  # the shared install stays read-only for every one of these


@pytest.mark.parametrize("slug", sorted(GAMES))
def test_slow_starters_get_generous_start_timeouts(slug: str) -> None:
    app = _app(slug)
    assert app.start_timeout >= 300
    if slug in ("ark-sa", "rust"):
        assert app.start_timeout >= 1200  # maps load (and the first start generates) for minutes


def test_valheim_specifics() -> None:
    app = _app("valheim")
    command, env = _rendered(app)
    assert command[0] == f"{INSTALL_PATH}/valheim_server.x86_64"
    assert command[command.index("-savedir") + 1] == f"{GAME_DIR}/save"
    assert command[command.index("-public") + 1] == "1"  # the A2S query answers when public
    assert "-crossplay" not in command
    assert len(command[command.index("-password") + 1]) >= 5  # the game's minimum
    assert env["LD_LIBRARY_PATH"] == f"{INSTALL_PATH}/linux64"
    assert env["SteamAppId"] == "892970"
    assert app.max_players == 10


def test_palworld_specifics() -> None:
    command, _ = _rendered(_app("palworld"))
    assert command[:2] == [f"{INSTALL_PATH}/Pal/Binaries/Linux/PalServer-Linux-Shipping", "Pal"]
    assert "-port=8211" in command and "-queryport=27015" in command
    assert f"-UserDir={GAME_DIR}/Pal" in command


def test_cs2_specifics() -> None:
    command, _ = _rendered(_app("cs2"))
    assert command[0] == f"{INSTALL_PATH}/game/cs2.sh"
    assert {"-dedicated", "-usercon"} <= set(command)  # -usercon: RCON on the game port
    assert command[command.index("+rcon_password") + 1] == "S" * 24


def test_zomboid_specifics() -> None:
    command, _ = _rendered(_app("zomboid"))
    assert command[0] == f"{INSTALL_PATH}/start-server.sh"
    assert f"-cachedir={GAME_DIR}/Zomboid" in command
    assert command[command.index("-adminpassword") + 1] == "S" * 16  # no prompt on stdin
    assert command[command.index("-port") + 1] == "16261"
    assert command[command.index("-udpport") + 1] == "16262"


def test_ark_specifics() -> None:
    app = _app("ark-sa")
    command, env = _rendered(app)
    assert command[:3] == [
        "/usr/local/bin/proton", "run",
        f"{INSTALL_PATH}/ShooterGame/Binaries/Win64/ArkAscendedServer.exe",
    ]  # fmt: skip
    url = command[3]
    assert url.startswith("TheIsland_WP?listen?SessionName=Test Server 1?")
    assert "?RCONEnabled=True?RCONPort=27020?" in url
    assert url.endswith(f"?ServerAdminPassword={'S' * 20}")
    assert "-port=7777" in command
    assert env["STEAM_COMPAT_DATA_PATH"].startswith(GAME_DIR)


def test_rust_specifics() -> None:
    command, env = _rendered(_app("rust"))
    assert command[0] == f"{INSTALL_PATH}/RustDedicated"
    assert command[command.index("+rcon.web") + 1] == "0"  # Source RCON, not WebRCON
    assert command[command.index("+server.identity") + 1] == "warlock"  # saves: server/warlock
    assert f"{INSTALL_PATH}/RustDedicated_Data/Plugins/x86_64" in env["LD_LIBRARY_PATH"]


def test_minecraft_specifics() -> None:
    app = _app("minecraft")
    sha1 = "6bce4ef400e4efaa63a13d5e6f6b500be969ef81"  # Mojang's content address of 1.21.8
    assert app.install.url == f"https://piston-data.mojang.com/v1/objects/{sha1}/server.jar"
    assert app.install.sha256 == "2349d9a8f0d4be2c40e7692890ef46a4b07015e7955b075460d02793be7fbbe7"
    assert app.install.filename == "server.jar"  # kept whole: a jar must not be unpacked
    command, _ = _rendered(app)
    assert command[command.index("-jar") + 1] == f"{INSTALL_PATH}/server.jar"
    assert command[command.index("--port") + 1] == "25565"  # works before server.properties
    assert command[command.index("--universe") + 1] == GAME_DIR
    eula = next(c for c in app.configs if c.file == "eula.txt")
    assert (eula.key, eula.type, eula.default) == ("eula", "bool", False)  # never accepted for you


@pytest.mark.parametrize("slug", ["rust", "ark-sa"])
def test_games_without_a_stdin_console_stop_over_rcon(slug: str) -> None:
    app = _app(slug)
    assert app.stop.via == "rcon" and app.rcon is not None
    inst = Instance(
        id=ID_A, app=app.guid, name="x", path="/srv/x",
        ports={p.key: p.default for p in app.ports}, created_at="2026-01-01T00:00:00+00:00",
        secrets={k: "s3cret" for k in app.secrets},
    )  # fmt: skip
    argv = units.runner_argv(inst, app, ["game"])
    assert argv[argv.index("--stop-rcon") + 1] == f"source:{inst.ports[app.rcon.port]}"
    env = units.environment(inst, app, Path("/srv/install"))
    assert env["WARLOCK_RCON_PASSWORD"] == "s3cret"
    assert "s3cret" not in " ".join(argv[: argv.index("--")])  # not on the runner's command line


def test_stop_over_rcon_needs_an_rcon_table(tmp_path: Path) -> None:
    text = (
        (INSTALLERS / "example.toml")
        .read_text()
        .replace('command = "stop"', 'command = "stop"\nvia = "rcon"')
    )
    with pytest.raises(InvalidInput, match=r"stop\.via"):
        parse_manifest(tmp_path / "x.toml", tomllib.loads(text))
