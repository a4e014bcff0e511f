"""The one gateway to child processes: list argv, clean env, timeout, stdin closed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from .errors import CommandError

if TYPE_CHECKING:
    from pathlib import Path

_CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> str:
    """Run argv and return its stdout; raise CommandError with the stderr tail on failure.

    `env` is added to the clean environment (and may override its PATH or LC_ALL); nothing
    is inherited from ours. `on_line` sees each line of stdout as it comes (a line ends at
    \n or \r: progress bars redraw with \r).
    """
    import subprocess  # here: commands that run nothing (start, list) need not load it

    if on_line is not None:
        return _streamed(argv, timeout, check, env, cwd, on_line)
    try:
        proc = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env={**_CLEAN_ENV, **env} if env else _CLEAN_ENV,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise CommandError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{argv[0]} did not finish within {timeout:g} s") from None
    if check and proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit status {proc.returncode}"
        raise CommandError(f"{' '.join(argv[:2])} failed: {tail}")
    return proc.stdout


def _streamed(
    argv: Sequence[str], timeout: float, check: bool, env: Mapping[str, str] | None,
    cwd: Path | str | None, on_line: Callable[[str], None],
) -> str:  # fmt: skip
    import subprocess
    import threading

    try:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, cwd=cwd,
            env={**_CLEAN_ENV, **env} if env else _CLEAN_ENV,
        )  # fmt: skip
    except FileNotFoundError:
        raise CommandError(f"{argv[0]}: command not found") from None
    assert proc.stdout is not None and proc.stderr is not None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        proc.kill()

    err: list[str] = []
    stderr = proc.stderr
    reader = threading.Thread(target=lambda: err.append(stderr.read()), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, expire)
    timer.start()
    out: list[str] = []
    try:
        for line in proc.stdout:  # universal newlines: \r ends a line too
            out.append(line)
            on_line(line.rstrip("\n"))
        proc.wait()
        reader.join()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if expired.is_set():
        raise CommandError(f"{argv[0]} did not finish within {timeout:g} s")
    if check and proc.returncode != 0:
        tail = (
            " / ".join("".join(err).strip().splitlines()[-3:]) or f"exit status {proc.returncode}"
        )
        raise CommandError(f"{' '.join(argv[:2])} failed: {tail}")
    return "".join(out)


def exec_(argv: Sequence[str]) -> None:
    """Replace this process (journalctl -f): signals and the terminal go straight to it."""
    import os

    try:
        os.execvp(argv[0], list(argv))
    except OSError as e:
        raise CommandError(f"{argv[0]}: {e.strerror}") from None
