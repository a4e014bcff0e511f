"""The gateway to child processes: a clean environment, a timeout, one-line failures, and
output seen line by line as it comes (progress bars redraw with \\r)."""

from __future__ import annotations

import time

import pytest

from warlockd.errors import CommandError
from warlockd.run import run


def test_each_line_is_seen_as_it_comes_and_stdout_is_returned() -> None:
    seen: list[tuple[str, float]] = []
    started = time.monotonic()
    script = "printf 'a 10%%\\ra 50%%\\r'; sleep 0.3; printf 'a 100%%\\ndone\\n'; echo oops >&2"
    out = run(["sh", "-c", script], on_line=lambda line: seen.append((line, time.monotonic())))
    assert [line for line, _ in seen] == ["a 10%", "a 50%", "a 100%", "done"]
    assert seen[0][1] - started < 0.25  # before the sleep: streamed, not at the end
    assert out == "a 10%\na 50%\na 100%\ndone\n"


def test_the_environment_is_clean_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARLOCK_SECRET_TEST", "leak")
    lines: list[str] = []
    run(["sh", "-c", "echo ${WARLOCK_SECRET_TEST:-clean}"], on_line=lines.append)
    assert lines == ["clean"]
    assert run(["sh", "-c", "echo ${WARLOCK_SECRET_TEST:-clean}"]) == "clean\n"


def test_a_failure_is_one_line_with_the_end_of_stderr() -> None:
    script = "echo zero >&2; echo one >&2; echo two >&2; echo three >&2; exit 3"
    with pytest.raises(CommandError) as e:
        run(["sh", "-c", script], on_line=print)
    assert e.value.message == "sh -c failed: one / two / three"
    assert run(["sh", "-c", "echo x; exit 3"], check=False, on_line=lambda _: None) == "x\n"


def test_a_command_that_outlives_its_timeout_is_killed() -> None:
    started = time.monotonic()
    with pytest.raises(CommandError, match=r"did not finish within 0\.5 s"):
        run(["sh", "-c", "echo start; exec sleep 30"], timeout=0.5, on_line=lambda _: None)
    assert time.monotonic() - started < 5
    with pytest.raises(CommandError, match="command not found"):
        run(["/nonexistent/binary"], on_line=print)
