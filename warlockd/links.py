"""Join links: the address a game announces for players to join with (Assetto Corsa's
`https://acstuff.ru/s/q:race/online/join?ip=...&httpPort=...`).

Why this design: the runner already sits between the game and systemd, so it reads the
game's output (an app with a `[link] pattern` has its stdout and stderr piped through the
runner, which copies every byte on to the journal) and puts the link it finds into its
`STATUS=` line, after the player count: `players 3/18 | join <link>`. systemd keeps that
text with the unit (`systemctl status` shows it; it goes when the unit stops or restarts),
so get-services and `manage.py link` read it from systemd with no file of ours, and
warlockd.service sees it change through the PropertiesChanged signal it already follows:
a new link is an event, `server started: <link>`, which the webhooks send.

Pure and stdlib only: the runner imports this.
"""

from __future__ import annotations

import re

MARK = " | join "  # between the runner's status and the link, in STATUS=
MAX_LINE = 8192  # a line longer than this is not searched (nor kept whole)
_URL_RE = re.compile(r"\S{1,2048}")


def problem(pattern: object) -> str | None:
    """Why a manifest's [link] pattern cannot be used, or None."""
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
    plain token (no spaces or control characters) counts."""
    if len(line) > MAX_LINE:
        return None
    m = regex.search(line)
    if m is None:
        return None
    found = m.group("link") if "link" in regex.groupindex else m.group(0)
    found = (found or "").strip()
    return found if found and _URL_RE.fullmatch(found) and found.isprintable() else None


def compose(status: str, link: str | None) -> str:
    """The runner's STATUS= text: its own status, then the link if it has one."""
    return f"{status}{MARK}{link}" if link else status


def of(status_text: str) -> str | None:
    """The link in a unit's StatusText, as compose() wrote it."""
    _, mark, link = status_text.partition(MARK)
    return link.strip() or None if mark else None
