"""A clean Debian 12 booted with systemd in a throw-away container, for the package test.

The root is built once with debootstrap (minbase plus systemd, systemd-sysv and dbus, from
this machine's own Debian mirror; about a minute) and cached in /var/cache/warlock-test
(or $WARLOCK_TEST_CACHE). It is booted with ``systemd-nspawn --volatile=overlay``: every
write lands in a tmpfs and vanishes at power-off, so the cached root stays clean. Two
directories persist between runs to save downloads: apt's package lists and its archive of
downloaded .debs (both are Debian's own files, fetched by apt in the container).

Like tests/harness (see TESTING.md): no machined on the host, so ``--register=no
--keep-unit`` and commands run inside through ``nsenter -t LEADER -a``; the network
namespace is the host's, so apt reaches the mirror and a game's port is the host's port.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from tests.harness.container import (
    ContainerCommandError,
    ContainerError,
    _find_systemd_descendant,
    _parent_pid,
)

CACHE = Path(os.environ.get("WARLOCK_TEST_CACHE", "/var/cache/warlock-test"))
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
KERNEL_ARGS = (
    "systemd.mask=console-getty.service",
    # apt's timers must not take the dpkg lock in the middle of the test
    "systemd.mask=apt-daily.timer",
    "systemd.mask=apt-daily-upgrade.timer",
    "systemd.show_status=0",
)
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
}
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


class Bookworm:
    """A booted clean bookworm; ``binds`` are (host path, container path, read_only)."""

    def __init__(
        self,
        root: Path,
        binds: Sequence[tuple[Path, str, bool]] = (),
        boot_timeout: float = 60.0,
    ) -> None:
        self.root = root
        self.name = f"warlock-deb-{os.getpid()}-{next(_counter)}"
        self.binds = list(binds)
        self.boot_timeout = boot_timeout
        self.boot_seconds = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._leader: int | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> Self:
        argv = ["setpriv", "--pdeathsig=TERM",  # powers off if the test process dies
                "systemd-nspawn", "--quiet", "--register=no", "--keep-unit",
                "-D", str(self.root), "--volatile=overlay", f"--machine={self.name}"]  # fmt: skip
        for src, dst, ro in self.binds:
            argv.append(f"--bind{'-ro' if ro else ''}={src}:{dst}")
        argv += ["--boot", "--", *KERNEL_ARGS]
        self._log = tempfile.TemporaryFile(prefix=f"{self.name}-console-")  # noqa: SIM115
        started = time.monotonic()
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_for_boot(started + self.boot_timeout)
        except BaseException:
            self.close()
            raise
        self.boot_seconds = time.monotonic() - started
        return self

    def _wait_for_boot(self, deadline: float) -> None:
        assert self._proc is not None
        state = "no PID 1 yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ContainerError(f"systemd-nspawn exited during boot\n{self.console()}")
            if self._leader is None:
                self._leader = _find_systemd_descendant(self._proc.pid)
            if self._leader is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    result = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
                    state = result.stdout.strip() or result.stderr.strip() or state
                    if state in ("running", "degraded"):
                        return
            time.sleep(0.1)
        raise ContainerError(f"no boot within {self.boot_timeout:g} s ({state})\n{self.console()}")

    def console(self, tail: int = 4000) -> str:
        if self._log is None or self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - tail)
        return os.pread(fd, size - start, start).decode(errors="replace")

    def close(self) -> None:
        """Power off; kill by PID (the container's PID 1, then nspawn) if that fails."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            if self._leader is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.run(["systemctl", "poweroff"], check=False, timeout=10)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                if self._leader is not None and _parent_pid(self._leader) == proc.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self._leader, signal.SIGKILL)
                proc.kill()
                proc.wait(timeout=10)
        self._leader = None
        if self._log is not None:
            self._log.close()

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """argv inside, with a clean environment; output captured as text."""
        if self._leader is None:
            raise ContainerError(f"container {self.name} is not running")
        assignments = [f"{k}={v}" for k, v in {**BASE_ENV, **(env or {})}.items()]
        result = subprocess.run(
            ["nsenter", "-t", str(self._leader), "-a", "env", "-i", *assignments, *argv],
            stdin=subprocess.DEVNULL if input is None else None,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ContainerCommandError(argv, result.returncode, result.stdout, result.stderr)
        result.args = list(argv)
        return result

    def sh(self, script: str, *, check: bool = True, timeout: float = 120) -> str:
        """A shell snippet inside; its standard output, stripped."""
        return self.run(["sh", "-c", script], check=check, timeout=timeout).stdout.strip()
