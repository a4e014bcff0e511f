"""The runner's status line and the join link in it.

The runner hands systemd one line, `STATUS=`: `players 3/18: Alice, Bob`, then, where the
game tells them, ` | session race | map ks_monza` (runner_probe.py) and the join link it
announced, ` | join https://acstuff.ru/s/q:race/online/join?ip=...&httpPort=...`. systemd
keeps that text with the running unit (`systemctl status` shows it; a new run replaces it),
so get-services, `manage.py link`, the dashboard and warlockd.service all read the link,
session and map back from systemd, with no file of ours and with warlockd down too; the
daemon sees the line change through the PropertiesChanged signal it already follows, and a
new link is an event, `server started: <link>`, which the webhooks send.

Why the runner finds the link: it already sits between the game and systemd, so a game
whose manifest has a `[link] pattern` has its stdout and stderr piped through it
(runner_output.py copies every byte on to the journal) and each line is searched. Every
value in the line is cleaned of `|` (clean()), so no player name can pose as a field.

Imported by the runner: no module at import time (re only where a pattern is checked).
"""

from __future__ import annotations

TYPE_CHECKING = False  # the runner lives as long as its game: no typing module for it
if TYPE_CHECKING:
    import re

SEP = " | "  # between the fields of the status line
FIELDS = ("session", "map", "join")
MAX_LINE = 8192  # a line longer than this is not searched
MAX_LINK = 2048


def clean(value: object) -> str:
    """A value for the status line: one line, no `|` (which would start a field)."""
    return " ".join(str(value).replace("|", "/").split())


def problem(pattern: object) -> str | None:
    """Why a manifest's [link] pattern cannot be used, or None."""
    import re

    if not isinstance(pattern, str) or not pattern or not pattern.isprintable():
        return "expected a non-empty string on one line"
    try:
        re.compile(pattern)
    except re.error as e:
        return str(e)
    return None


def valid(pattern: object) -> bool:
    return problem(pattern) is None


def find(regex: re.Pattern[str], line: str) -> str | None:
    """The link a line announces: the pattern's group `link`, else its whole match; only a
    plain token counts (no spaces, no `|`, no control characters)."""
    if len(line) > MAX_LINE:
        return None
    m = regex.search(line)
    if m is None:
        return None
    found = (m.group("link") if "link" in regex.groupindex else m.group(0)) or ""
    found = found.strip()
    ok = 0 < len(found) <= MAX_LINK and found.isprintable() and found == clean(found)
    return found if ok and " " not in found else None


def compose(status: str, link: str | None) -> str:
    """The runner's STATUS= text: its own status, then the link if it has one."""
    return f"{status}{SEP}join {link}" if link else status


def field(status_text: str, key: str) -> str | None:
    """One field of a status line (session, map, join), or None."""
    for part in status_text.split(SEP)[1:]:
        name, _, value = part.partition(" ")
        if name == key and value.strip():
            return value.strip()
    return None


def of(status_text: str) -> str | None:
    """The join link in a unit's StatusText, as compose() wrote it."""
    return field(status_text, "join")
