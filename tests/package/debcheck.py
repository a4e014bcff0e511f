"""Static checks of the built Debian package (run by scripts/build-deb and tests/package).

- lintian: no error, and no warning that debian/warlockd.lintian-overrides does not explain;
- `systemd-analyze verify --recursive-errors=no` of warlockd.service and of a game instance
  (the package's template plus the golden drop-in of the example app, as warlock writes it);
- `systemd-analyze security --offline=true`: the exposure score of each.

The units are checked as installed: the package is unpacked into a directory that serves as
`--root`. Commands the units run that come from dependencies (/usr/bin/python3, /bin/kill)
are copied there from this Debian host; the package test checks the same units again on a
clean bookworm, against what apt really installed.

    python3 -m tests.package.debcheck build/deb/warlockd_<version>_all.deb [CHANGES]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GOLDEN_DROPIN = REPO / "tests" / "golden" / "dropin-plain.conf"
GAME_ID = "0b5c7a52-3f3e-4b8e-9d0f-5a1c2e3d4f60"  # the golden drop-in's instance
GAME_UNIT = f"game@{GAME_ID}.service"
DAEMON_UNIT = "warlockd.service"
PACKAGE_ROOT = "/usr/lib/python3/dist-packages"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}
_EXPOSURE_RE = re.compile(r"Overall exposure level for (\S+): ([0-9.]+) (\w+)")
_EXEC_RE = re.compile(r"^Exec\w*=[-@:+!]*\"?(/[^\s\"]+)", re.MULTILINE)


@dataclass
class Check:
    name: str
    ok: bool
    output: str


def _run(argv: list[str], cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=CLEAN_ENV, cwd=cwd, check=False)


def lintian(*artifacts: Path) -> Check:
    """lintian -EIL +pedantic: fails on any error or warning that is not overridden.

    Overridden tags (O:) are shown with their reasons (N:) from
    debian/warlockd.lintian-overrides. (`--fail-on` is not used: with --show-overrides it
    counts the overridden warnings too.)"""
    argv = ["lintian", "-EIL", "+pedantic", "--show-overrides", "--tag-display-limit", "0"]
    argv += [str(p.resolve()) for p in artifacts]
    if os.geteuid() == 0 and shutil.which("runuser"):
        # lintian warns when run as root; it only needs to read the artifacts
        argv = ["runuser", "-u", "nobody", "--", *argv]
    result = _run(argv, cwd="/")
    output = (result.stdout + result.stderr).strip()
    failing = [line for line in output.splitlines() if line.startswith(("E: ", "W: "))]
    ok = result.returncode == 0 and not failing
    return Check("lintian", ok, output or "(no tags)")


def unpack(deb: Path, root: Path) -> None:
    """The package's files under root, plus the units' commands that dependencies provide."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    dropin_dir = root / "etc/systemd/system" / f"{GAME_UNIT}.d"
    dropin_dir.mkdir(parents=True)
    dropin = GOLDEN_DROPIN.read_text().replace("@PACKAGE_ROOT@", PACKAGE_ROOT)
    (dropin_dir / "50-warlock.conf").write_text(dropin)
    unit_text = dropin + "".join(
        p.read_text() for p in (root / "lib/systemd/system").glob("*.service")
    )
    for command in sorted(set(_EXEC_RE.findall(unit_text))):
        target = root / command.lstrip("/")
        if not target.exists() and Path(command).exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(command).resolve(), target)


def verify(root: Path) -> Check:
    argv = ["systemd-analyze", "verify", "--man=no", "--recursive-errors=no"]
    result = _run([*argv, f"--root={root}", DAEMON_UNIT, GAME_UNIT])
    output = (result.stdout + result.stderr).strip()
    return Check("systemd-analyze verify", result.returncode == 0, output or "(clean)")


def security(root: Path) -> tuple[Check, dict[str, tuple[float, str]]]:
    """Exposure score (0 = locked down, 10 = exposed) and rating of each unit."""
    scores: dict[str, tuple[float, str]] = {}
    outputs = []
    ok = True
    for unit in (DAEMON_UNIT, GAME_UNIT):
        argv = ["systemd-analyze", "security", "--offline=true", f"--root={root}", unit]
        result = _run(argv)
        found = _EXPOSURE_RE.search(result.stdout)
        if result.returncode != 0 or not found:
            ok = False
            outputs.append(f"{unit}: {result.stdout[-2000:]}{result.stderr}")
            continue
        scores[unit] = (float(found.group(2)), found.group(3))
    return Check("systemd-analyze security", ok, "\n".join(outputs)), scores


def check_all(
    deb: Path, changes: Path | None = None
) -> tuple[list[Check], dict[str, tuple[float, str]]]:
    checks = [lintian(changes or deb)]
    with tempfile.TemporaryDirectory(prefix="warlockd-debcheck-") as tmp:
        root = Path(tmp)
        unpack(deb, root)
        checks.append(verify(root))
        sec, scores = security(root)
        checks.append(sec)
    return checks, scores


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    deb = Path(argv[0])
    changes = Path(argv[1]) if len(argv) > 1 else None
    checks, scores = check_all(deb, changes)
    for check in checks:
        print(f"== {check.name}: {'ok' if check.ok else 'FAILED'}")
        if check.output:
            print(check.output)
    print("== exposure (systemd-analyze security --offline=true; 0 = locked down, 10 = exposed)")
    for unit, (score, rating) in scores.items():
        name = "game@<id>.service" if unit == GAME_UNIT else unit
        print(f"   {name:20} {score:4.1f} {rating}")
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
