"""Assetto Corsa's dedicated server (acServer) and its files; also the first step of its
unit: `python3 -m warlockd.acserver DIR INSTALL UDP TCP HTTP` (the manifest's command).

acServer reads `cfg/server_cfg.ini` and `cfg/entry_list.ini`, finds `content/` and
`system/` relative to its working directory and writes `results/` there; it takes its
three ports only from `server_cfg.ini` ([SERVER] UDP_PORT, TCP_PORT, HTTP_PORT). So each
start, as the instance's user, in the instance's directory, before acServer runs:

1. `content` and `system` are links to the shared build's read-only copies (ten instances
   of one pack cost one copy; a build the instance moved to is linked the next start);
2. `cfg/server_cfg.ini` says the instance's ports: the record's, which warlockd's
   allocator chose, whatever a copied or restored file says (every other line is kept);
   an instance without one (made through SteamCMD) starts from the install's cfg/;
3. `results/` exists.

Then acServer replaces this process (the same pid: the runner's child is the server).
Reading and writing the INI goes through settings/ini.py, as set-config does.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .settings import ini
from .settings.spec import Setting

BINARY = "acServer"  # the Linux server, at the top of an install or a pack
WINDOWS_BINARY = "acServer.exe"
CONFIG = "cfg/server_cfg.ini"
ENTRY_LIST = "cfg/entry_list.ini"
SHARED = ("content", "system")  # read-only, from the build
SECTION = "SERVER"
PORT_KEYS = {"udp": "UDP_PORT", "tcp": "TCP_PORT", "http": "HTTP_PORT"}  # port key: INI key


def _setting(key: str, kind: str = "int") -> Setting:
    return Setting(option=key, key=key, format="ini", type=kind, section=SECTION)


def server_value(text: str, key: str, kind: str = "str") -> object:
    """One [SERVER] value: typed when it fits `kind`, else the raw text; None if absent."""
    return ini.read(text, _setting(key, kind))


def with_ports(text: str, ports: dict[str, int]) -> str:
    """server_cfg.ini's text saying these ports (keys udp, tcp, http), the rest as it was."""
    for key, port in sorted(ports.items()):
        if key in PORT_KEYS and server_value(text, PORT_KEYS[key], "int") != port:
            text = ini.write(text, _setting(PORT_KEYS[key]), port)
    return text


def display_name(text: str) -> str:
    """[SERVER] NAME without the ` \u2139<port>` Content Manager appends for its wrapper."""
    name = server_value(text, "NAME")
    return str(name).split(" \u2139", 1)[0].strip() if name is not None else ""


# The start step (as the instance's user).


def _link(name: str, target: Path) -> None:
    """`name` -> target, replaced atomically if it points elsewhere; a real directory the
    admin put there is theirs and stays."""
    here = Path(name)
    if here.is_symlink():
        if os.readlink(here) == str(target):
            return
    elif here.exists():
        log(f"{name}/ is a directory of the instance's own: used instead of the build's")
        return
    tmp = Path(f".{name}.link")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.rename(here)


def _seed_config(install: Path) -> None:
    """An instance without cfg/ (made through SteamCMD) starts from the install's."""
    Path("cfg").mkdir(mode=0o750, exist_ok=True)
    for rel in (CONFIG, ENTRY_LIST):
        if not Path(rel).exists() and (install / rel).is_file():
            shutil.copyfile(install / rel, rel)
            log(f"{rel}: copied from {install / rel}")


def _write_ports(ports: dict[str, int]) -> None:
    path = Path(CONFIG)
    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw[3 if bom else 0 :].decode("utf-8")
    new = with_ports(text, ports)
    if new != text:
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes((b"\xef\xbb\xbf" if bom else b"") + new.encode("utf-8"))
        tmp.replace(path)
        shown = ", ".join(f"{PORT_KEYS[k]}={v}" for k, v in sorted(ports.items()))
        log(f"{CONFIG}: {shown}")


def prepare(install: Path, ports: dict[str, int]) -> None:
    """Steps 1-3 in the working directory (the instance's)."""
    for name in SHARED:
        if (install / name).is_dir():
            _link(name, install / name)
    if not Path(CONFIG).exists():
        _seed_config(install)
    if not Path(CONFIG).is_file():
        raise SystemExit(f"warlock-acserver: no {CONFIG} in {Path.cwd()}: nothing to run")
    _write_ports(ports)
    Path("results").mkdir(mode=0o750, exist_ok=True)


def log(message: str) -> None:
    sys.stderr.write(f"warlock-acserver: {message}\n")
    sys.stderr.flush()


USAGE = "usage: python3 -m warlockd.acserver GAME_DIR INSTALL_DIR UDP_PORT TCP_PORT HTTP_PORT"


def main(argv: list[str]) -> int:
    if len(argv) != 5 or not all(a.isdigit() for a in argv[2:]):
        log(USAGE)
        return 2
    install = Path(argv[1])
    ports = dict(zip(("udp", "tcp", "http"), map(int, argv[2:]), strict=True))
    try:
        os.chdir(argv[0])  # the unit's working directory already; said here for every reader
        prepare(install, ports)
    except (OSError, UnicodeDecodeError) as e:
        log(f"cannot prepare {Path.cwd()}: {e}")
        return 1
    binary = install / BINARY
    try:
        os.execv(binary, [str(binary)])
    except OSError as e:
        log(f"cannot run {binary}: {e.strerror}")
        return 127
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
