"""The one gateway to child processes: list argv, clean env, timeout, stdin closed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
) -> str:
    """Run argv and return its stdout; raise CommandError with the stderr tail on failure.

    `env` is added to the clean environment (and may override its PATH or LC_ALL); nothing
    is inherited from ours.
    """
    import subprocess  # here: commands that run nothing (start, list) need not load it

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


def exec_(argv: Sequence[str]) -> None:
    """Replace this process (journalctl -f): signals and the terminal go straight to it."""
    import os

    try:
        os.execvp(argv[0], list(argv))
    except OSError as e:
        raise CommandError(f"{argv[0]}: {e.strerror}") from None
