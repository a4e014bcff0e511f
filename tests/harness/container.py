"""Boot a real, throw-away systemd in a container, for integration tests.

warlockd talks to systemd (PID 1, system D-Bus), so its integration tests need
a real one. The development and CI machines do not run systemd as PID 1, and
systemd must never be booted over the live root: its tmpfiles wipe the host's
/tmp and it rewrites /etc, /var and /run. Instead (see TESTING.md), in a private
mount namespace the host's ``/`` is bind-mounted read-only at a per-container
directory and booted with ``systemd-nspawn --volatile=overlay``: the container
sees the host's files (the checkout, its virtualenv) at the same paths, every
write lands in a tmpfs overlay and vanishes at power-off. The network namespace
is shared with the host, so a port opened inside is reachable on 127.0.0.1.

There is no machined on the host, so ``machinectl``/``systemd-run -M`` do not
work; commands run inside through ``nsenter -t LEADER -a`` where LEADER is the
container's PID 1 as the host sees it.

The same class boots a prepared image instead of the host's root (``image=``): the
package tier's clean bookworm (tests/package). A checkout under /tmp cannot be
tested here (game units have their own /tmp): tests/conftest.py says so.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self, TypeVar

__all__ = [
    "DEFAULT_KERNEL_ARGS",
    "ContainerCommandError",
    "ContainerError",
    "SystemdContainer",
    "available",
    "wait_for",
]

BASE_DIR = Path("/srv/warlock-ct")
# Services of the host image that must not start in the container.
DEFAULT_KERNEL_ARGS: tuple[str, ...] = (
    "systemd.mask=postgresql.service",
    "systemd.mask=console-getty.service",
    "systemd.mask=cron.service",
    # Debian's game-server packages enable their own units; they would take the ports
    # our tests give to instances.
    "systemd.mask=openarena-server.service",
    "systemd.mask=minetest-server.service",
    "systemd.mask=teeworlds-server.service",
    # the host's sshd (the off-site tests' SFTP server comes from openssh-server)
    "systemd.mask=ssh.service",
    "systemd.show_status=0",
)
# The environment commands get inside (nothing leaks in from the host process).
BASE_ENV: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}
REQUIRED_TOOLS = ("systemd-nspawn", "nsenter", "unshare", "setpriv")

_counter = itertools.count(1)
T = TypeVar("T")


class ContainerError(RuntimeError):
    """The container could not be booted or managed."""


class ContainerCommandError(AssertionError):
    """A command run inside the container failed (shown in full by pytest)."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"command in container failed: {self.argv!r}\n"
            f"exit code: {returncode}\n"
            f"--- stdout ---\n{stdout.rstrip()}\n"
            f"--- stderr ---\n{stderr.rstrip()}"
        )


def available() -> tuple[bool, str]:
    """Whether this machine can boot a container: (ok, reason if not)."""
    if os.geteuid() != 0:
        return False, "booting a systemd container needs root"
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        return False, f"missing tools: {', '.join(missing)} (apt install systemd-container)"
    return True, ""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now; the container shares the host's network, so a
    server inside may listen on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_block(count: int, low: int = 20000, high: int = 32000) -> int:
    """The first of `count` consecutive ports free now for TCP and UDP, below the kernel's
    ephemeral range (32768 and up): no client connection or TIME_WAIT socket of another
    test on this shared network can hold them, and a game's neighbours (warlockd steps the
    next instance's ports by the span of these) stay below it too."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high - count)
        if all(_bindable(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} free ports in a row between {low} and {high}")


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return False
    return True


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.1,
    message: str = "condition",
) -> T:
    """Call predicate until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {message}")
        time.sleep(interval)


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent_pid(int(entry.name)) == pid
    ]


def _find_systemd_descendant(root_pid: int) -> int | None:
    """Breadth-first: the first descendant of root_pid whose comm is 'systemd'."""
    queue = [root_pid]
    while queue:
        pid = queue.pop(0)
        for child in sorted(_children(pid)):
            if _comm(child) == "systemd":
                return child
            queue.append(child)
    return None


def _remove_empty_dirs(root_dir: Path, *more: Path) -> None:
    # nspawn's image lock file sits next to the root directory.
    with contextlib.suppress(OSError):
        (root_dir.parent / f".#{root_dir.name}.lck").unlink()
    for directory in (root_dir, *more):
        with contextlib.suppress(OSError):
            directory.rmdir()  # only when empty


def _sweep_stale_dirs() -> None:
    """Remove the empty directories of default-named containers whose process died."""
    for ct_dir in BASE_DIR.glob("warlock-ct-*-*"):
        pid = ct_dir.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _remove_empty_dirs(ct_dir / "root", ct_dir / "out", ct_dir)


class SystemdContainer:
    """A booted systemd in a volatile nspawn container over the host's root.

    Use as a context manager (or call start()/close()). Everything written
    inside vanishes at close(); use ``out_dir`` (bound at /out; by default
    /srv/warlock-ct/NAME/out, removed at close() only if empty) to bring files
    back out.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        root_dir: Path | str | None = None,
        out_dir: Path | str | None = None,
        binds: Iterable[tuple[Path | str, str]] = (),
        ro_binds: Iterable[tuple[Path | str, str]] = (),
        kernel_args: Iterable[str] = (),
        setenv: Mapping[str, str] | None = None,
        boot_timeout: float = 60.0,
        image: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``image``: boot that root directory (with an overlay) instead of the host's
        own; ``env``: added to what every command gets inside."""
        self.name = name or f"warlock-ct-{os.getpid()}-{next(_counter)}"
        self.image = image
        self._own_layout = root_dir is None and image is None
        self.root_dir = image or (Path(root_dir) if root_dir else BASE_DIR / self.name / "root")
        self._own_out = out_dir is None
        self.out_dir = Path(out_dir) if out_dir else None
        self.binds = [(Path(src), dst) for src, dst in binds]
        self.ro_binds = [(Path(src), dst) for src, dst in ro_binds]
        self.kernel_args = [*DEFAULT_KERNEL_ARGS, *kernel_args]
        self.setenv = dict(setenv or {})
        self.env = {**BASE_ENV, **(env or {})}
        self.boot_timeout = boot_timeout
        self.boot_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._leader: int | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def leader(self) -> int:
        """The container's PID 1 as the host sees it."""
        if self._leader is None:
            raise ContainerError(f"container {self.name} is not running")
        return self._leader

    def nspawn_command(self) -> list[str]:
        """The systemd-nspawn command line (run inside a private mount namespace)."""
        assert self.out_dir is not None
        cmd = [
            "systemd-nspawn",
            "--quiet",
            "--register=no",  # no machined on the host to register with
            "--keep-unit",
            "-D",
            str(self.root_dir),
            "--volatile=overlay",
            f"--machine={self.name}",
            f"--bind={self.out_dir}:/out",
        ]
        cmd += [f"--bind={src}:{dst}" for src, dst in self.binds]
        cmd += [f"--bind-ro={src}:{dst}" for src, dst in self.ro_binds]
        cmd += [f"--setenv={key}={value}" for key, value in self.setenv.items()]
        return [*cmd, "--boot", "--", *self.kernel_args]

    def start(self) -> Self:
        if self._proc is not None or self._closed:
            raise ContainerError(f"container {self.name} was already started")
        ok, reason = available()
        if not ok:
            raise ContainerError(reason)
        _sweep_stale_dirs()
        if self.image is None:
            self.root_dir.mkdir(parents=True, exist_ok=True)
            if any(self.root_dir.iterdir()):
                raise ContainerError(f"root mount point {self.root_dir} is not empty")
        if self.out_dir is None:
            if self._own_layout:
                self.out_dir = self.root_dir.parent / "out"
            else:
                self.out_dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-out-"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # The host's / is bound read-only only inside unshare's private mount
        # namespace; setpriv makes nspawn power the container off (SIGTERM) if
        # the process that started it dies without calling close().
        script = (
            'root="$1"; shift; mount --bind / "$root" && '
            'mount -o remount,bind,ro "$root" && exec "$@"'
        )
        host_root = ["unshare", "--mount", "--propagation", "private",
                     "sh", "-c", script, "sh", str(self.root_dir)]  # fmt: skip
        argv = [
            "setpriv",
            "--pdeathsig=TERM",
            *(host_root if self.image is None else []),  # an image needs no bind of /
            *self.nspawn_command(),
        ]
        # Closed in close(); anonymous, so nothing is left behind.
        self._log = tempfile.TemporaryFile(prefix=f"{self.name}-console-")  # noqa: SIM115
        started = time.monotonic()
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
        )
        atexit.register(self.close)
        try:
            self._wait_for_boot(started)
        except BaseException:
            self.close()
            raise
        self.boot_seconds = time.monotonic() - started
        return self

    def _wait_for_boot(self, started: float) -> None:
        assert self._proc is not None
        deadline = started + self.boot_timeout
        state = "no leader yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ContainerError(
                    f"systemd-nspawn exited with {self._proc.returncode} during boot\n"
                    + self.console_output()
                )
            if self._leader is None:
                self._leader = _find_systemd_descendant(self._proc.pid)
            if self._leader is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    result = subprocess.run(
                        self.nsenter_argv(["systemctl", "is-system-running"]),
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        text=True,
                        timeout=10,
                    )
                    state = (result.stdout.strip() or result.stderr.strip()) or state
                    if state in ("running", "degraded"):
                        return
            time.sleep(0.05)
        raise ContainerError(
            f"container {self.name} did not boot within {self.boot_timeout:g} s "
            f"(last state: {state})\n" + self.console_output()
        )

    def console_output(self, tail: int = 4000) -> str:
        """The last `tail` bytes of systemd-nspawn's (and the container's) console."""
        if self._log is None or self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - tail)
        # pread: leave the offset shared with systemd-nspawn's stdout alone.
        data = os.pread(fd, size - start, start)
        return "--- container console ---\n" + data.decode(errors="replace")

    def close(self) -> None:
        """Power off (kill by PID if that fails) and clean up. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            if self._leader is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    subprocess.run(
                        self.nsenter_argv(["systemctl", "poweroff"]),
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        timeout=10,
                    )
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._kill(proc)
        self._leader = None
        if self._log is not None:
            self._log.close()
        self._remove_leftovers()

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        # Killing systemd-nspawn alone would orphan the container: kill its
        # PID 1 first (that takes down the whole PID namespace), while nspawn
        # still holds that PID, then nspawn itself (unshare exec()ed into it,
        # so it is the same process). Never by name.
        leader = self._leader
        if leader is not None and _parent_pid(leader) == proc.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leader, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=10)

    def _remove_leftovers(self) -> None:
        # After an unclean exit nspawn's mount-propagation directory stays in /run.
        dirs = [Path("/run/systemd/nspawn/propagate") / self.name]
        if self._own_out and self.out_dir is not None:
            dirs.append(self.out_dir)  # kept when something was written to it
        if self._own_layout:
            dirs.append(self.root_dir.parent)
        _remove_empty_dirs(self.root_dir, *dirs)

    # -- running things inside --------------------------------------------

    def nsenter_argv(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> list[str]:
        """The host command line that runs argv inside, with a clean environment."""
        assignments = [f"{key}={value}" for key, value in {**self.env, **(env or {})}.items()]
        chdir = ["--chdir", cwd] if cwd else []
        return ["nsenter", "-t", str(self.leader), "-a", "env", "-i", *chdir, *assignments, *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 120,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv inside and capture its output as text."""
        result = subprocess.run(
            self.nsenter_argv(argv, env=env, cwd=cwd),
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise ContainerCommandError(argv, result.returncode, result.stdout, result.stderr)
        result.args = list(argv)  # the command as run inside, without nsenter
        return result

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        stdout: int | IO[str] | None = subprocess.PIPE,
        stderr: int | IO[str] | None = subprocess.PIPE,
    ) -> subprocess.Popen[str]:
        """Start a long-running argv inside (e.g. ``journalctl -f``); text pipes."""
        return subprocess.Popen(
            self.nsenter_argv(argv, env=env, cwd=cwd),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
        )

    def sh(self, script: str, *, check: bool = True, timeout: float = 120) -> str:
        """A shell snippet inside; its standard output, stripped."""
        return self.run(["sh", "-c", script], check=check, timeout=timeout).stdout.strip()

    def console(self, tail: int = 4000) -> str:
        return self.console_output(tail)

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``systemctl ARGS`` inside, never raising on a non-zero exit."""
        return self.run(["systemctl", *args], check=False)
