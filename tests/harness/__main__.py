"""Run a command in a throw-away systemd container.

python3 -m tests.harness run -- CMD [ARG...]   # exits with CMD's exit code
python3 -m tests.harness shell                 # interactive bash inside
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from types import FrameType

from tests.harness.container import ContainerError, SystemdContainer, available


def _run_inherited(argv: list[str]) -> int:
    """Run argv with this terminal's stdio; Ctrl-C goes to it, not to us."""

    def ignore(signum: int, frame: FrameType | None) -> None:
        pass

    # A Python handler (unlike SIG_IGN) is reset to the default in the child.
    previous = signal.signal(signal.SIGINT, ignore)
    try:
        returncode = subprocess.Popen(argv).wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - returncode if returncode < 0 else returncode


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.harness", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run CMD inside and exit with its exit code")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    sub.add_parser("shell", help="an interactive bash inside")
    options = parser.parse_args(args)

    if options.action == "run":
        cmd = options.cmd[1:] if options.cmd[:1] == ["--"] else options.cmd
        if not cmd:
            parser.error("run needs a command: run -- CMD [ARG...]")
        env: dict[str, str] = {}
    else:
        cmd = ["bash", "-l"]
        env = {"TERM": os.environ.get("TERM", "xterm")}

    ok, reason = available()
    if not ok:
        print(f"cannot boot a systemd container: {reason}", file=sys.stderr)
        return 2
    print(
        "booting a throw-away systemd container (PID 1 here is not systemd)...",
        file=sys.stderr,
    )
    try:
        with SystemdContainer() as container:
            # The host's files are visible at the same paths (but /tmp is fresh).
            cwd = os.getcwd()
            if container.run(["test", "-d", cwd], check=False).returncode != 0:
                cwd = "/"
            return _run_inherited(container.nsenter_argv(cmd, env=env, cwd=cwd))
    except ContainerError as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
