"""The parts of a manifest that say how warlockd reaches a running game: [rcon], [console]
and [[files]] (what the runner puts in place before a start: a console's password, a
console mod). Format: installers/README.md."""

from __future__ import annotations

from typing import Any

from .apps import Console, FileSpec, Rcon
from .manifest_check import Checker, one_line, relative, strings

RCON_PROTOCOLS = ("quake3", "source", "teeworlds-econ")
CONSOLE_TRANSPORTS = ("stdin", "file")
RUNNER_FILES = ("console",)  # the runner's own FIFO, which a file must not replace


def parse_console(c: Checker, t: dict[str, Any], has_rcon: bool) -> Console:
    w = "console."
    commands = c.get(
        t, "commands", list, "a list of console command names", w, [],
        lambda v: strings(v) and all(x and x.isprintable() and " " not in x for x in v),
    )  # fmt: skip
    say = c.get(t, "say", str, "a command template over {{ message }}", w, None, one_line)
    if say is not None and "message" not in say:
        c.bad(w + "say", "a template that uses {{ message }}")
    save = c.get(t, "save", str, "a console command", w, None, one_line)
    transport = c.get(
        t, "transport", str, " or ".join(CONSOLE_TRANSPORTS), w, "stdin",
        lambda v: v in CONSOLE_TRANSPORTS,
    )  # fmt: skip
    if transport == "file" and has_rcon:
        c.bad(w + "transport", "stdin with [rcon] (commands go over the rcon)")
    paths: dict[str, str | None] = {}
    for key in ("request", "response"):
        paths[key] = c.get(
            t, key, str, "a path relative to the game's directory", w, None, relative
        )
        if transport == "file" and paths[key] is None and key not in t:
            c.bad(w + key, "a path relative to the game's directory, for transport file")
        if transport != "file" and key in t:
            c.bad(w + key, "no such key unless transport is file")
    if paths["request"] is not None and paths["request"] == paths["response"]:
        c.bad(w + "response", "a path other than the request's")
    return Console(
        tuple(commands), say, save, transport or "stdin", paths["request"], paths["response"]
    )


def parse_rcon(c: Checker, data: dict[str, Any], keys: set[str]) -> Rcon | None:
    if "rcon" not in data:
        return None
    t = c.table(data, "rcon")
    protocol = c.get(
        t, "protocol", str, ", ".join(RCON_PROTOCOLS[:-1]) + " or " + RCON_PROTOCOLS[-1],
        "rcon.", check=lambda v: v in RCON_PROTOCOLS,
    )  # fmt: skip
    port = c.get(t, "port", str, "the key of a declared port", "rcon.", check=lambda v: v in keys)
    password = c.get(t, "password", str, "a password template", "rcon.")
    return Rcon(protocol, port, password) if None not in (protocol, port, password) else None


def _text(value: str) -> bool:
    # lines of printable text (what an EnvironmentFile= line can carry, escaped: units.py)
    return all(line.replace("\t", " ").isprintable() for line in value.split("\n"))


def parse_files(c: Checker, raw: Any) -> tuple[FileSpec, ...]:
    if not isinstance(raw, list):
        c.bad("files", "a list of [[files]] tables")
        return ()
    out: list[FileSpec] = []
    for i, t in enumerate(raw):
        w = f"files[{i}]."
        if not isinstance(t, dict):
            c.bad(f"files[{i}]", "a table")
            continue
        path = c.get(t, "path", str, "a path relative to the game's directory", w, check=relative)
        if path in RUNNER_FILES:
            c.bad(w + "path", f"a path other than {path} (the runner's console)")
        text = c.get(t, "text", str, "a template of lines of text", w, None, _text)
        link = c.get(t, "link", str, "a template naming the link's target", w, None, one_line)
        keep = c.get(t, "keep", bool, "true or false", w, False)
        if ("text" in t) == ("link" in t):
            c.bad(f"files[{i}]", "exactly one of text and link")
        if "keep" in t and "link" in t:
            c.bad(w + "keep", "no such key with link (a link is always kept)")
        if path is not None and (text is not None or link is not None):
            out.append(FileSpec(path, text, link, keep))
    if len({f.path for f in out}) != len(out):
        c.bad("files", "distinct paths")
    return tuple(out)
