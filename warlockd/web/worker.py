"""Where the HTTP API's changing commands run: a transient unit of their own, outside the
daemon's sandbox, as a root shell's manage.py would run them.

warlockd.service is hardened (ProtectSystem=full: /etc and /usr read-only; native system
calls only; no writable-executable memory), which suits watching and serving but not what
create, clone, delete, update, backup, restore and set-config do: add users (/etc/passwd),
write drop-ins (/etc/systemd/system), install Debian packages (/usr), run SteamCMD (32-bit).
So the API hands each of them to `warlock-api-<op>.service` (`systemd-run`, collected when
done): the command of the table runs there with the Args the API parsed, and it outlives
a restart of warlockd (an upgrade restarts it), so an install is never cut short by one.

The request and the answer go through a root-only directory under /run/warlock/api/<op>:
request.json (the command and its Args), progress.json (what Host.progress reports,
replaced at most twice a second) and answer.json (the outcome, or the error with its HTTP
status), each written atomically. The daemon polls them (operations.Transient); when it
stops first it leaves them, and the next warlockd reads on where it left off.

    python3 -m warlockd.web.worker /run/warlock/api/<op>     # the unit's command
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..actions import Args
from ..fsutil import atomic_write
from ..model import parse_id

REQUEST, PROGRESS, ANSWER = "request.json", "progress.json", "answer.json"
PROGRESS_EVERY = 0.5


def encode(command: str, args: Args) -> str:
    fields = {k: (list(v) if isinstance(v, tuple) else v) for k, v in args._asdict().items()}
    return json.dumps({"command": command, "args": fields})


def decode(text: str) -> tuple[str, Args]:
    data = json.loads(text)
    fields: dict[str, Any] = dict(data["args"])
    for name in ("instance", "instance_id"):
        if fields.get(name) is not None:
            fields[name] = parse_id(str(fields[name]))
    return str(data["command"]), Args(**{k: v for k, v in fields.items() if k in Args._fields})


def answer_of(exc: BaseException | None, data: Any = None, notes: Sequence[str] = ()) -> dict[
    str, Any
]:  # fmt: skip
    """What the daemon reads back: the outcome, or the error as the API shows it."""
    if exc is None:
        return {"state": "done", "result": data, "notes": list(notes)}
    from .operations import error_of

    return {"state": "failed", "error": error_of(exc)}


def main(argv: list[str]) -> int:
    from ..commands import call
    from ..host import Host

    where = Path(argv[0])
    last = [0.0]

    def report(what: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY or (total is not None and done >= total):
            last[0] = now
            progress = {"what": what, "done": done, "total": total}
            atomic_write(where / PROGRESS, json.dumps(progress), 0o600)

    try:
        command, args = decode((where / REQUEST).read_text())
        host = Host.from_env()
        host.progress = report
        outcome = call(host, command, args)
        answer = answer_of(None, outcome.data, outcome.notes)
        for note in outcome.notes:
            sys.stderr.write(note + "\n")  # the unit's journal
    except Exception as e:
        if not hasattr(e, "hint"):
            traceback.print_exc()
        sys.stderr.write(f"error: {e}\n")
        answer = answer_of(e)
    atomic_write(where / ANSWER, json.dumps(answer, default=str), 0o600)
    return 0 if answer["state"] == "done" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
