"""What unit state changes mean (watch.classify), crash-loop delays and the STATUS= line."""

from __future__ import annotations

import pytest

from warlockd.daemon.watch import Live, classify, retry_delay, summary
from warlockd.model import Status

STOPPED = Live()
RUNNING = Live("active", "running", main_pid=1234)


def _kinds(events: list[tuple[str, str]]) -> list[str]:
    return [kind for kind, _ in events]


def test_a_stopped_unit_that_runs_is_started() -> None:
    assert classify(STOPPED, RUNNING) == [("started", "running")]


def test_a_unit_going_through_activating_is_started_once_it_runs() -> None:
    starting = Live("activating", "start")
    assert classify(STOPPED, starting) == []
    assert classify(starting, RUNNING) == [("started", "running")]


def test_a_running_unit_that_stops_is_stopped() -> None:
    assert classify(RUNNING, STOPPED) == [("stopped", "stopped")]


def test_a_stopping_unit_that_ends_is_stopped() -> None:
    assert classify(Live("deactivating", "stop-sigterm"), STOPPED) == [("stopped", "stopped")]


def test_a_running_unit_that_fails_with_an_exit_code_crashed() -> None:
    failed = Live("failed", "failed", result="exit-code")
    events = classify(RUNNING, failed)
    assert _kinds(events) == ["crashed"]
    assert events[0][1]  # says why


def test_a_failure_by_the_watchdog_is_a_freeze_not_a_crash() -> None:
    failed = Live("failed", "failed", result="watchdog")
    assert _kinds(classify(RUNNING, failed)) == ["frozen"]
    waiting = Live("activating", "auto-restart", result="watchdog")
    events = classify(RUNNING, waiting)
    assert events == [("frozen", "stopped answering: the watchdog restarted it")]


def test_waiting_for_an_automatic_restart_is_a_crash_with_its_reason() -> None:
    waiting = Live("activating", "auto-restart", result="exit-code")
    assert classify(RUNNING, waiting) == [("crashed", "exited with an error")]
    killed = Live("activating", "auto-restart", result="signal")
    assert classify(RUNNING, killed) == [("crashed", "was killed by a signal")]
    odd = Live("activating", "auto-restart", result="something-new")
    assert classify(RUNNING, odd) == [("crashed", "failed (something-new)")]


def test_a_restart_seen_without_the_crash_in_between_is_crashed_then_restarted() -> None:
    again = Live("active", "running", result="exit-code", restarts=1, main_pid=1300)
    events = classify(RUNNING, again)
    assert events == [
        ("crashed", "exited with an error"),
        ("restarted", "restarted by systemd (restart 1)"),
    ]


def test_a_restart_seen_only_once_it_runs_again_does_not_blame_success() -> None:
    # systemd resets Result= to "success" when it starts the unit again
    again = Live("active", "running", result="success", restarts=1)
    (crashed, restarted) = classify(RUNNING, again)
    assert crashed == ("crashed", "stopped unexpectedly (the cause was not seen)")
    assert restarted == ("restarted", "restarted by systemd (restart 1)")


def test_a_restart_after_a_freeze_seen_without_the_failure_is_frozen_then_restarted() -> None:
    again = Live("active", "running", result="watchdog", restarts=3)
    assert _kinds(classify(Live("active", "running", restarts=2), again)) == [
        "frozen",
        "restarted",
    ]


def test_a_restart_after_the_crash_was_seen_is_only_restarted() -> None:
    waiting = Live("activating", "auto-restart", result="exit-code")
    again = Live("activating", "start", result="exit-code", restarts=1)
    assert classify(waiting, again) == [("restarted", "restarted by systemd (restart 1)")]


def test_changes_seen_while_the_daemon_was_down_say_so() -> None:
    events = classify(RUNNING, STOPPED, while_down=True)
    assert events == [("stopped", "stopped (while warlockd was down)")]
    again = Live("active", "running", result="exit-code", restarts=2)
    for _, message in classify(Live("active", "running", restarts=1), again, while_down=True):
        assert message.endswith(" (while warlockd was down)")


def test_nothing_changed_is_no_event() -> None:
    assert classify(RUNNING, RUNNING) == []
    assert classify(STOPPED, STOPPED) == []
    # a new main pid or status text alone is no event either
    assert (
        classify(RUNNING, Live("active", "running", main_pid=99, status_text="players 1/8")) == []
    )


def test_no_earlier_view_is_no_event() -> None:
    assert classify(None, RUNNING) == []
    assert classify(None, Live("failed", "failed", result="exit-code")) == []


def test_a_failed_unit_that_is_reset_and_stays_down_is_no_event() -> None:
    assert classify(Live("failed", "failed", result="exit-code"), STOPPED) == []


def test_live_takes_the_properties_systemd_sends_and_ignores_others() -> None:
    live = RUNNING.updated({"ActiveState": "failed", "SubState": "failed", "Foo": 1})
    assert (live.active, live.sub, live.main_pid) == ("failed", "failed", 1234)
    assert live.status == Status.CRASHED
    assert RUNNING.updated({"NRestarts": 4, "StatusText": "players 3/16"}) == Live(
        "active", "running", restarts=4, main_pid=1234, status_text="players 3/16"
    )


@pytest.mark.parametrize(
    ("attempt", "delay"),
    [(0, 60.0), (1, 120.0), (2, 240.0), (5, 1920.0), (6, 3600.0), (40, 3600.0)],
)
def test_retry_delay_doubles_each_attempt_up_to_the_cap(attempt: int, delay: float) -> None:
    assert retry_delay(attempt, 60, 3600) == delay


def test_retry_delay_is_a_float() -> None:
    assert isinstance(retry_delay(0, 1, 10), float)


def test_summary_counts_each_status_in_a_fixed_order() -> None:
    statuses = [Status.CRASHED, Status.RUNNING, Status.STOPPED, Status.RUNNING]
    assert summary(statuses) == "4 instances: 2 running, 1 stopped, 1 crashed"


def test_summary_of_nothing_is_just_the_count() -> None:
    assert summary([]) == "0 instances"
