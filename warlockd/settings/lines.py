"""Lines of a text file, split only at "\\n" and kept with their endings (pure).

str.splitlines() would also split at characters that games keep inside a value (form feed,
U+2028...), and lose the file's CRLF endings, which Windows builds (ARK under Proton) write.
"""

from __future__ import annotations


def split(text: str) -> list[str]:
    """The lines of `text`, each with its ending; "".join(split(t)) == t."""
    parts = text.split("\n")
    out = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def ending(text: str) -> str:
    """The file's line ending: CRLF if its first line has one, else LF."""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def content(line: str) -> str:
    """A line without its ending."""
    return line.rstrip("\r\n")


def with_ending(line: str, nl: str) -> str:
    return line if line.endswith("\n") else line + nl


def append(lines: list[str], new: list[str], nl: str) -> list[str]:
    """`new` lines after `lines`, the last of which may lack its ending."""
    if lines:
        lines = [*lines[:-1], with_ending(lines[-1], nl)]
    return lines + new


def insert_at(lines: list[str], index: int, new: list[str], nl: str) -> list[str]:
    """`new` lines before lines[index], after the last line that has content before it."""
    while index > 0 and not content(lines[index - 1]).strip():
        index -= 1  # keep the blank lines that separate a section from the next one
    if index == len(lines):
        return append(lines, new, nl)
    head = lines[:index]
    if head:
        head[-1] = with_ending(head[-1], nl)
    return head + new + lines[index:]
