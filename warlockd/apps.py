"""Apps: the games warlockd can run, each defined by a manifest (`installers/<slug>.toml`),
and finding one by slug or guid. Parsing and checking a manifest is manifest.py's job.

The format is documented in installers/README.md.
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from .errors import InvalidInput, NotFound
from .paths import Paths
from .sources import InstallSpec


class Transport(StrEnum):
    """Which transport a port is bound on."""

    TCP = "tcp"
    UDP = "udp"
    BOTH = "both"  # the same number on TCP and UDP


class PortSpec(NamedTuple):
    key: str
    protocol: Transport
    default: int
    description: str = ""
    env: str | None = None  # the environment variable that tells the game


class Stop(NamedTuple):
    command: str | None = None  # a command that saves and quits
    via: str = "console"  # where the command goes: the game's stdin, or its [rcon]
    signal: str = "SIGTERM"
    timeout: int = 60


class Rcon(NamedTuple):
    protocol: str
    port: str  # a port key
    password: str  # a template, usually {{ secrets.rcon_password }}


class Console(NamedTuple):
    """What the game's console takes: the commands panels offer, and how to say something
    to every player (a template over `message`), for warnings before a restart. Commands
    go over the app's [rcon] when it has one, else by `transport`."""

    commands: tuple[str, ...] = ()
    say: str | None = None  # e.g. "say {{ message }}"
    save: str | None = None  # a command that saves the world now, before a delayed stop
    # stdin: the runner's FIFO to the game's input; file: a request file that something
    # inside the game (a mod) reads, answering in a response file (console_file.py)
    transport: str = "stdin"
    request: str | None = None  # file: relative to the game's directory
    response: str | None = None


class FileSpec(NamedTuple):
    """A file the runner puts in the game's directory, as the game's user, before every
    start: what the game must find there but no setting of it holds (a console's password,
    a console mod). Exactly one of text and link."""

    path: str  # relative to the game's directory
    text: str | None = None  # a template; the file is the game's user's alone (0600)
    link: str | None = None  # a template naming what a symbolic link at `path` points to
    keep: bool = False  # text: left in place once the game is ready (default: removed, so
    # a secret in it is on disk only while the game starts, and in no backup or pack)


class ConfigOption(NamedTuple):
    option: str  # the human name panels show and `set-config` takes
    key: str
    format: str
    type: str = "str"
    file: str | None = None  # relative to the instance directory; None for cli
    section: str | None = None
    default: Any = None
    help: str = ""
    options: tuple[Any, ...] = ()
    group: str = ""
    min: float | None = None  # numbers: the range set-config allows
    max: float | None = None
    style: str = ""  # properties: java | plain; cfg: quake | source | teeworlds
    struct: str | None = None  # ini: the Unreal `Key=(Field=...)` line `key` is a field of


class App(NamedTuple):
    guid: str
    slug: str
    title: str
    command: tuple[str, ...]  # jinja2 templates over instance values
    ports: tuple[PortSpec, ...]
    manifest: Path
    asset_path: Path  # bundled apps: where their files are (bundled/<slug>/)
    install: InstallSpec = InstallSpec("bundled")
    max_players: int = 16
    start_timeout: int = 90
    watchdog: int = 0  # seconds; the runner feeds it only while the query answers
    stop: Stop = Stop()
    env: dict[str, str] = {}  # noqa: RUF012 (shared, never changed in place)
    query: str = "none"  # the player-count protocol
    query_port: str | None = None  # the key of the port it answers on
    rcon: Rcon | None = None
    secrets: dict[str, int] = {}  # noqa: RUF012 (name -> length, made per instance)
    saves: tuple[str, ...] = ()  # paths in the instance directory that hold the world
    writable: tuple[str, ...] = ()  # install files the game writes beside its binary
    configs: tuple[ConfigOption, ...] = ()
    console: Console = Console()
    files: tuple[FileSpec, ...] = ()

    def port(self, key: str) -> PortSpec:
        for p in self.ports:
            if p.key == key:
                return p
        raise InvalidInput(
            f"{self.slug} has no port {key!r}",
            hint="its ports are " + ", ".join(p.key for p in self.ports),
        )


def load_manifest(path: Path, bundled: Path | None = None) -> App:
    """A manifest from its file; `bundled` is where programs shipped with warlockd are
    (Paths.bundled), which a bundled app's install_path names."""
    from .manifest import parse_manifest

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{path}: cannot read: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"{path}: not valid TOML: {e}") from None
    return parse_manifest(path, data, bundled)


def manifest_files(paths: Paths) -> list[Path]:
    """Shipped manifests, then the admin's, which win on the same slug."""
    found: dict[str, Path] = {}
    for d in (paths.installers, paths.extra_installers):
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                found[f.stem] = f
    return list(found.values())


def find_app(paths: Paths, slug_or_guid: str) -> App:
    for f in manifest_files(paths):
        if f.stem == slug_or_guid:
            return load_manifest(f, paths.bundled)
    for f in manifest_files(paths):
        try:
            if slug_or_guid not in f.read_text():
                continue  # records name apps by guid: parse only the file that holds it
            app = load_manifest(f, paths.bundled)
        except (InvalidInput, OSError, UnicodeDecodeError):
            continue  # a broken manifest of another app must not hide this one
        if slug_or_guid in (app.guid, app.slug):
            return app
    known = ", ".join(f.stem for f in manifest_files(paths)) or "none"
    raise NotFound(f"unknown app {slug_or_guid!r}", hint=f"known apps: {known}")


def app_slugs(paths: Paths) -> dict[str, str]:
    """Every known app's slug by its guid (what tables show instead of a guid)."""
    out = {}
    for f in manifest_files(paths):
        try:
            out[tomllib.loads(f.read_text()).get("guid", "")] = f.stem
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
    return out
