from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from tests.unit.support import ID_A, ID_B
from warlockd.daemon.prometheus import escape_label, format_value, render, write_textfile
from warlockd.errors import InvalidInput
from warlockd.store import Sample

# The text exposition format 0.0.4, line by line.
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_LABELS = (
    rf"\{{(?:[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE})(?:,[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE})*\}}"
)
_VALUE = r"(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)|NaN|[+-]Inf)"
_SAMPLE = re.compile(rf"({_NAME})({_LABELS})? ({_VALUE})")
_HELP = re.compile(rf"# HELP ({_NAME}) (?:[^\\\n]|\\[\\n])*")
_TYPE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)")
_PAIR = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({_LABEL_VALUE})")


def _unescape(quoted: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], quoted[1:-1])


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A strict reader: every line must match, each family typed once before its samples."""
    assert text.endswith("\n")
    typed: dict[str, str] = {}
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text[:-1].split("\n"):
        if m := _TYPE.fullmatch(line):
            assert m[1] not in typed, f"second TYPE for {m[1]}"
            typed[m[1]] = m[2]
        elif _HELP.fullmatch(line):
            continue
        else:
            m = _SAMPLE.fullmatch(line)
            assert m, f"not a sample line: {line!r}"
            assert m[1] in typed, f"sample before its TYPE: {line!r}"
            labels = tuple((k, _unescape(v)) for k, v in _PAIR.findall(m[2] or ""))
            assert (m[1], labels) not in out, f"duplicate series: {line!r}"
            out[(m[1], labels)] = float(m[3])
    return out


def _labels(iid: str, name: str, app: str = "") -> tuple[tuple[str, str], ...]:
    return (("instance_id", iid), ("name", name), ("app", app))


def test_render_gives_every_gauge_of_the_latest_sample_per_instance() -> None:
    rows = [
        Sample(ID_A, 1.0, "stopped", 1.0),
        Sample(ID_A, 2.0, "running", 12.5, 1 << 30, 40, 5 << 30, 3, 16),
        Sample(ID_B, 2.0, "crashed"),
    ]
    text = render(rows, {ID_A: 2}, {ID_A: "Friday", ID_B: "Other"}, {ID_A: "minecraft"})
    got = parse(text)
    a, b = _labels(ID_A, "Friday", "minecraft"), _labels(ID_B, "Other")
    assert got == {
        ("warlock_instance_up", a): 1, ("warlock_instance_up", b): 0,
        ("warlock_instance_players", a): 3, ("warlock_instance_max_players", a): 16,
        ("warlock_instance_cpu_percent", a): 12.5,
        ("warlock_instance_memory_bytes", a): 1 << 30, ("warlock_instance_tasks", a): 40,
        ("warlock_instance_disk_bytes", a): 5 << 30,
        ("warlock_instance_restarts_total", a): 2, ("warlock_instance_restarts_total", b): 0,
    }  # fmt: skip
    assert "# TYPE warlock_instance_restarts_total counter" in text
    assert "# TYPE warlock_instance_up gauge" in text


def test_label_values_are_escaped_and_parse_back() -> None:
    nasty = 'say "hi"\\ then\nbye'
    assert escape_label(nasty) == 'say \\"hi\\"\\\\ then\\nbye'
    got = parse(render([Sample(ID_A, 1.0, "running")], {}, {ID_A: nasty}))
    assert got[("warlock_instance_up", _labels(ID_A, nasty))] == 1


def test_an_empty_host_still_renders_valid_text() -> None:
    assert parse(render([], {}, {})) == {}


def test_restarts_of_instances_without_a_sample_are_kept() -> None:
    got = parse(render([], {ID_B: 7}, {}))
    assert got == {("warlock_instance_restarts_total", _labels(ID_B, "")): 7}


@pytest.mark.parametrize(
    ("value", "text"),
    [(3.0, "3"), (0.25, "0.25"), (float("nan"), "NaN"), (float("inf"), "+Inf"), (1e300, "1e+300")],
)
def test_values_use_the_formats_prometheus_reads(value: float, text: str) -> None:
    assert format_value(value) == text


def test_write_textfile_replaces_the_file_readable_by_node_exporter(tmp_path: Path) -> None:
    path = write_textfile(tmp_path, "a 1\n")
    write_textfile(tmp_path, "a 2\n")
    assert path == tmp_path / "warlockd.prom"
    assert path.read_text() == "a 2\n"
    assert os.listdir(tmp_path) == ["warlockd.prom"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


@pytest.mark.parametrize("name", ["x.txt", "../x.prom", ".hidden.prom"])
def test_write_textfile_refuses_names_node_exporter_would_not_read(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidInput):
        write_textfile(tmp_path, "", name)
