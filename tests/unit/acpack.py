"""Server packs as Content Manager makes them, built by the tests: the real layout
(ServerPresetObject.Running.cs, PackServerData) with the real cfg files of a preset
(tests/fixtures/assetto/) and the stand-in server (tests/fakes/acserver) as `acServer`."""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from warlockd import acserver
from warlockd.settings import ini
from warlockd.settings.spec import Setting

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "assetto"
FAKE_SERVER = REPO / "tests" / "fakes" / "acserver"
CAR, TRACK, LAYOUT = "ks_toyota_ae86_tuned", "pk_akina", "akina_downhill"

# name in the pack: (content, mode); None content: take the member out
Members = Mapping[str, tuple[bytes, int] | None]


def server_cfg(ports: tuple[int, int, int] = (9600, 9600, 8081), **keys: str) -> str:
    """The preset's server_cfg.ini (a real one: tests/fixtures/assetto), with these ports
    and [SERVER] keys."""
    text = (FIXTURES / "server_cfg.ini").read_text(encoding="utf-8")
    text = acserver.with_ports(text, dict(zip(("udp", "tcp", "http"), ports, strict=True)))
    for key, value in keys.items():
        text = ini.write(text, Setting(key, key, "ini", section=acserver.SECTION), value)
    return text


def members(cfg: str | None = None, *, binary: bytes | None = None) -> dict[str, tuple[bytes, int]]:
    """What Content Manager packs for "Linux (64-bit)" with "Include executable"."""
    return {
        "acServer": (binary if binary is not None else FAKE_SERVER.read_bytes(), 0o755),
        "cfg/server_cfg.ini": ((cfg or server_cfg()).encode(), 0o644),
        "cfg/entry_list.ini": ((FIXTURES / "entry_list.ini").read_bytes(), 0o644),
        "cfg/cm_wrapper_params.json": (b'{\n  "port": 18082,\n  "verboseLog": false\n}', 0o644),
        f"content/cars/{CAR}/data.acd": (b"\x00ACD" * 64, 0o644),
        f"content/tracks/{TRACK}/{LAYOUT}/data/surfaces.ini": (b"[SURFACE_0]\nKEY=ROAD\n", 0o644),
        f"content/tracks/{TRACK}/models_{LAYOUT}.ini": (b"[MODEL_0]\nFILE=pk_akina.kn5\n", 0o644),
        "system/data/surfaces.ini": (b"[SURFACE_0]\nKEY=ROAD\n", 0o644),
    }


def build(dest: Path, changes: Members | None = None, *, kind: str = "tar.gz",
          top: str = "") -> Path:  # fmt: skip
    """A pack at `dest`: the members above with `changes` applied, under the folder `top`."""
    items: dict[str, tuple[bytes, int] | None] = dict(members())
    items.update(changes or {})
    files = {top + k: v for k, v in items.items() if v is not None}
    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "zip":
        with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, (data, mode) in files.items():
                info = zipfile.ZipInfo(name)
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        return dest
    with tarfile.open(dest, "w:gz") as tf:
        for name, (data, mode) in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), mode
            tf.addfile(ti, io.BytesIO(data))
    return dest


def tar_with(dest: Path, *extra: tarfile.TarInfo) -> Path:
    """A pack with extra tar members made by hand (links, absolute paths...)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tf:
        for name, (data, mode) in members().items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), mode
            tf.addfile(ti, io.BytesIO(data))
        for ti in extra:
            tf.addfile(ti, io.BytesIO(b"x" * ti.size) if ti.isfile() else None)
    return dest
