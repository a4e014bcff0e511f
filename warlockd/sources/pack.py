"""Content Manager's server packs: a build from the server files in one, and the files that
are the instance's own.

Content Manager (Server, a preset, Pack) writes a ZIP for the target "Windows" and a .tar.gz
for "Linux (64-bit)" (AcManager/Pages/Dialogs/PackServerDialog.xaml.cs); either holds the
server (`acServer` or `acServer.exe` when "Include executable" is on), `cfg/server_cfg.ini`,
`cfg/entry_list.ini` (and its wrapper's `cfg/cm_wrapper_params.json`, `cfg/welcome.txt`...),
`content/` (each car's data.acd, the track's surfaces.ini, drs_zones.ini, models_*.ini),
`system/data/surfaces.ini` and maybe `setups/` (ServerPresetObject.Running.cs,
PackServerData). People also zip such a folder by hand, so the pack's top is wherever its
`cfg/server_cfg.ini` is.

`read()` judges a pack before anything is made, as restore judges an archive: no absolute
paths, no `..`, no links of any kind (Content Manager writes plain files), no devices; at
most MAX_MEMBERS members and MAX_TOTAL bytes unpacked, none inflating more than MAX_RATIO
times (a bomb); a Linux `acServer`; a readable `cfg/server_cfg.ini` whose ports are usable.
`install()` then makes the build `<apps>/<guid>/pack-<hash>/` of the server files only
(`acServer`, `content/`, `system/`), the hash taken over their names, modes and contents:
ten presets made from one pack, or one pack imported ten times, share one copy. What else
the pack holds under cfg/ and setups/ goes to each instance (`write_own`).
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zipfile
from pathlib import Path
from typing import IO, NamedTuple

from .. import acserver
from ..builds import PACK_PREFIX
from ..errors import InvalidInput, WarlockError
from . import Build, app_dir, build_dir, staging
from .archive import Member, Reader, UnsafeArchive, file_mode, opened, plan

MAX_MEMBERS = 200_000
MAX_TOTAL = 8 << 30
MAX_RATIO = 200  # deflate reaches about 1000 on zeros; real files stay far below 200
_RATIO_FROM = 1 << 20  # small members may compress well: only big ones are judged
OWN = ("cfg", "setups")  # the instance's own, from the pack; the rest of the top is skipped
MAX_CONFIG = 4 << 20
HINT = (
    "make one in Content Manager: Server, your preset, Pack (Ctrl+Shift+P for its options): "
    'Target "Linux (64-bit)", "Include executable"; then import the .tar.gz it writes'
)


class Entry(NamedTuple):
    member: Member
    rel: str  # the path below the pack's top
    size: int  # unpacked
    packed: int  # compressed, where the format says (zip); else the size


class PackPlan(NamedTuple):
    archive: Path
    shared: tuple[Entry, ...]  # the build: acServer, content/, system/
    own: tuple[Entry, ...]  # the instance's: cfg/, setups/
    server_cfg: str
    ports: dict[str, int]  # what the pack's server_cfg.ini says (udp, tcp, http), if it does
    build_id: str
    skipped: tuple[str, ...]  # members outside both (a readme, acServer.exe, the wrapper)


def _refuse(archive: Path, what: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"{archive.name}: {what}", hint=hint)


def _judge(archive: Path, listing: list[tuple[Member, int, int]]) -> None:
    """The archive's safety, as restore judges a backup, and its limits."""
    if len(listing) > MAX_MEMBERS:
        raise _refuse(archive, f"more than {MAX_MEMBERS} members: not a server pack")
    links = [m.name for m, _, _ in listing if m.kind in ("symlink", "hardlink")]
    if links:
        why = "a server pack holds plain files: a link could lead out"
        raise _refuse(archive, f"{links[0]!r} is a link", hint=why)
    try:
        plan([m for m, _, _ in listing])
    except UnsafeArchive as e:
        raise _refuse(archive, f"refused: {e.message}", e.hint) from None
    total = sum(size for _, size, _ in listing)
    if total > MAX_TOTAL:
        raise _refuse(archive, f"unpacks to {total} bytes, more than {MAX_TOTAL}")
    on_disk = max(archive.stat().st_size, 1)
    for m, size, packed in listing:
        if size > _RATIO_FROM and size > MAX_RATIO * max(packed, 1):
            raise _refuse(archive, f"{m.name!r} inflates {size // max(packed, 1)} times: "
                          "refused as a bomb")  # fmt: skip
    if total > _RATIO_FROM and total > MAX_RATIO * on_disk:
        raise _refuse(archive, f"unpacks to {total // on_disk} times its size: refused as a bomb")


def _top(archive: Path, files: list[str]) -> str:
    """The folder of the pack that holds cfg/server_cfg.ini ("" at the archive's top)."""
    tops = sorted(n[: -len(acserver.CONFIG)] for n in files
                  if n == acserver.CONFIG or n.endswith("/" + acserver.CONFIG))  # fmt: skip
    if not tops:
        raise _refuse(archive, f"no {acserver.CONFIG}: not an Assetto Corsa server pack", HINT)
    if len(tops) > 1:
        raise _refuse(archive, f"{len(tops)} server_cfg.ini files; a pack is one server")
    return tops[0]


def _clean(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def read(archive: Path) -> PackPlan:
    """Everything about a pack, checked; InvalidInput (one line, a hint) when it is refused."""
    try:
        with opened(archive) as (listing, reader):
            _judge(archive, listing)
            files = [(m, _clean(m.name), size, packed) for m, size, packed in listing
                     if m.kind == "file"]  # fmt: skip
            top = _top(archive, [f[1] for f in files])
            entries = [Entry(m, n[len(top) :], size, packed) for m, n, size, packed in files
                       if n.startswith(top)]  # fmt: skip
            by_rel = {e.rel: e for e in entries}
            _binary(archive, by_rel, reader)
            text = _config(archive, by_rel, reader)
            if acserver.ENTRY_LIST not in by_rel:
                raise _refuse(archive, f"no {acserver.ENTRY_LIST}: the server needs its cars", HINT)
            shared = tuple(e for e in entries if _is_shared(e.rel))
            own = tuple(e for e in entries if e.rel.split("/")[0] in OWN and "/" in e.rel)
            kept = {e.rel for e in (*shared, *own)}
            skipped = tuple(sorted(n for _, n, _, _ in files if n[len(top) :] not in kept))
            return PackPlan(archive, shared, own, text, _ports(archive, text),
                            _hash(shared, reader), skipped)  # fmt: skip
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as e:
        why = str(e).splitlines()[0].rstrip(":") if str(e) else type(e).__name__
        hint = "Content Manager writes a .zip for Windows, a .tar.gz for Linux"
        raise _refuse(archive, f"not a readable ZIP or tar archive ({why})", hint) from None
    except OSError as e:
        raise _refuse(archive, f"cannot read it: {e.strerror or e}") from None


def _is_shared(rel: str) -> bool:
    return rel == acserver.BINARY or (rel.split("/")[0] in acserver.SHARED and "/" in rel)


def _binary(archive: Path, by_rel: dict[str, Entry], reader: Reader) -> None:
    entry = by_rel.get(acserver.BINARY)
    if entry is None:
        windows = acserver.WINDOWS_BINARY in by_rel
        what = "a pack for Windows only (acServer.exe, no acServer)" if windows else (
            "no server binary (acServer)")  # fmt: skip
        raise _refuse(archive, what, HINT)
    with reader(entry.member.name) as f:
        magic = f.read(4)
    if magic.startswith(b"MZ"):
        raise _refuse(archive, "its acServer is a Windows program", HINT)


def _config(archive: Path, by_rel: dict[str, Entry], reader: Reader) -> str:
    entry = by_rel[acserver.CONFIG]
    if entry.size > MAX_CONFIG:
        raise _refuse(archive, f"{acserver.CONFIG} is {entry.size} bytes: not a config file")
    with reader(entry.member.name) as f:
        raw = f.read(MAX_CONFIG + 1)
    try:
        text = raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(archive, f"{acserver.CONFIG} is not UTF-8 text: unreadable",
                      hint="save it again from Content Manager") from None  # fmt: skip
    if "\0" in text or acserver.server_value(text, "NAME") is None:
        raise _refuse(archive, f"{acserver.CONFIG} has no [SERVER] NAME: unreadable",
                      hint="save it again from Content Manager")  # fmt: skip
    return text


def _ports(archive: Path, text: str) -> dict[str, int]:
    ports: dict[str, int] = {}
    for key, name in acserver.PORT_KEYS.items():
        value = acserver.server_value(text, name, "int")
        if value is None or value == "":
            continue
        if not isinstance(value, int) or not 1024 <= value <= 65535:
            what = f"{acserver.CONFIG}: {name}={value} is out of range 1024..65535"
            raise _refuse(archive, what, hint="set a port from 1024 to 65535 in the preset")
        ports[key] = value
    return ports


def _hash(shared: tuple[Entry, ...], reader: Reader) -> str:
    whole = hashlib.sha256()
    for e in sorted(shared, key=lambda e: e.rel):
        one = hashlib.sha256()
        with reader(e.member.name) as f:
            while chunk := f.read(1 << 20):
                one.update(chunk)
        whole.update(f"{e.rel}\0{file_mode(e.member.mode):o}\0{one.hexdigest()}\n".encode())
    return PACK_PREFIX + whole.hexdigest()[:12]


def _write(root: Path, rel: str, src: IO[bytes], mode: int) -> None:
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(1 << 20):
            out.write(chunk)
        os.fchmod(out.fileno(), mode)


def install(p: PackPlan, apps_dir: Path, guid: str) -> Build:
    """The pack's server files as a shared, read-only build (made once per hash). The
    caller holds the app's lock. It is not made the app's current build: that stays what
    SteamCMD installed, for instances made with create."""
    target = build_dir(apps_dir, guid, p.build_id)
    if target.is_dir():
        return Build(target, p.build_id)
    app_dir(apps_dir, guid).mkdir(parents=True, exist_ok=True, mode=0o755)
    with staging(apps_dir, guid) as staged, opened(p.archive) as (_, reader):
        for e in p.shared:
            with reader(e.member.name) as src:
                _write(staged, e.rel, src, file_mode(e.member.mode) | (
                    0o755 if e.rel == acserver.BINARY else 0))  # fmt: skip
        for parent, dirs, _ in os.walk(staged):
            for d in dirs:
                os.chmod(os.path.join(parent, d), 0o755)
        staged.chmod(0o755)
        os.rename(staged, target)
    return Build(target, p.build_id)


def write_own(p: PackPlan, root: Path, config: str) -> list[str]:
    """The instance's files from the pack under `root` (a new, empty directory), with
    `config` as cfg/server_cfg.ini; the top-level names written."""
    try:
        with opened(p.archive) as (_, reader):
            for e in p.own:
                if e.rel == acserver.CONFIG:
                    continue
                with reader(e.member.name) as src:
                    _write(root, e.rel, src, 0o640)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as e:
        raise WarlockError(f"{p.archive.name}: cannot unpack: {e}") from None
    path = root / acserver.CONFIG
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(config, encoding="utf-8")
    path.chmod(0o640)
    return sorted({e.rel.split("/")[0] for e in p.own} | {"cfg"})
