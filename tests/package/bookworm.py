"""A clean Debian 12 booted with systemd in a throw-away container, for the package test.

The root is built once with debootstrap (minbase plus systemd, systemd-sysv and dbus, from
this machine's own Debian mirror; about a minute) and cached in /var/cache/warlock-test
(or $WARLOCK_TEST_CACHE). It is booted with ``systemd-nspawn --volatile=overlay``: every
write lands in a tmpfs and vanishes at power-off, so the cached root stays clean. Two
directories persist between runs to save downloads: apt's package lists and its archive of
downloaded .debs (both are Debian's own files, fetched by apt in the container).

It is booted by the integration tier's container class (tests/harness): no machined on
the host, commands inside through ``nsenter -t LEADER -a``; the network namespace is the
host's, so apt reaches the mirror and a game's port is the host's port.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from tests.harness.container import ContainerError, SystemdContainer

CACHE = Path(os.environ.get("WARLOCK_TEST_CACHE", "/var/cache/warlock-test"))
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
KERNEL_ARGS = (
    # apt's timers must not take the dpkg lock in the middle of the test
    "systemd.mask=apt-daily.timer",
    "systemd.mask=apt-daily-upgrade.timer",
)
REQUIRED_TOOLS = ("debootstrap", "systemd-nspawn", "nsenter", "setpriv")
_counter = itertools.count(1)


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


def mirror() -> str:
    """The first URIs: of this machine's Debian sources (what debootstrap fetches from)."""
    for line in HOST_SOURCES.read_text().splitlines():
        if line.startswith("URIs:"):
            return line.split()[1]
    return "http://deb.debian.org/debian"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cached_root(log: IO[str] | None = None) -> Path:
    """The debootstrapped bookworm root, built on first use (under a lock, then renamed
    into place, so a half-built root is never used)."""
    root = CACHE / "bookworm"
    if root.is_dir():
        return root
    with _locked(CACHE / ".lock"):
        if root.is_dir():
            return root
        tmp = Path(tempfile.mkdtemp(prefix="bookworm.tmp-", dir=CACHE))
        tmp.chmod(0o755)  # the container's / (mkdtemp makes it 0700)
        try:
            argv = ["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus",
                    "bookworm", str(tmp), mirror()]  # fmt: skip
            result = subprocess.run(argv, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                raise ContainerError(f"debootstrap failed:\n{result.stdout[-3000:]}{result.stderr}")
            # apt in the container uses the same sources as this machine (with updates and
            # security), not only debootstrap's one line
            if HOST_SOURCES.exists():
                (tmp / "etc/apt/sources.list").unlink(missing_ok=True)
                shutil.copy(HOST_SOURCES, tmp / "etc/apt/sources.list.d/debian.sources")
            for deb in (tmp / "var/cache/apt/archives").glob("*.deb"):
                deb.unlink()
            tmp.rename(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return root


class Bookworm(SystemdContainer):
    """A booted clean bookworm; ``binds`` are (host path, container path, read_only)."""

    def __init__(
        self,
        root: Path,
        binds: Sequence[tuple[Path, str, bool]] = (),
        boot_timeout: float = 60.0,
    ) -> None:
        super().__init__(
            name=f"warlock-deb-{os.getpid()}-{next(_counter)}",
            image=root,
            binds=[(src, dst) for src, dst, ro in binds if not ro],
            ro_binds=[(src, dst) for src, dst, ro in binds if ro],
            kernel_args=KERNEL_ARGS,
            boot_timeout=boot_timeout,
            env={"DEBIAN_FRONTEND": "noninteractive"},
        )
