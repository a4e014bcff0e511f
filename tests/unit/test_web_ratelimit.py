from __future__ import annotations

import pytest

from warlockd.web.ratelimit import Limit, LoginLimiter, RateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(lim: LoginLimiter, address: str, user: str, times: int) -> None:
    for _ in range(times):
        lim.attempt(address, user)  # counted as a failure until succeeded()


def test_brute_force_on_one_name_is_slowed_exponentially() -> None:
    clock = Clock()
    lim = LoginLimiter(clock=clock)
    fail(lim, "192.0.2.1", "alice", 5)  # free
    waits = []
    for _ in range(5):
        lim.attempt("192.0.2.1", "alice")
        with pytest.raises(RateLimited) as e:
            lim.attempt("192.0.2.1", "alice")
        waits.append(e.value.retry_after)
        clock.now += e.value.retry_after
    assert waits == [1, 2, 4, 8, 16]


def test_a_right_password_during_lock_out_is_refused_too() -> None:
    clock = Clock()
    lim = LoginLimiter(clock=clock)
    fail(lim, "192.0.2.1", "alice", 6)
    with pytest.raises(RateLimited, match="for this user name"):
        lim.attempt("198.51.100.9", "alice")  # the owner, elsewhere, before any password check


def test_one_users_lock_out_does_not_block_another_user_at_the_same_address() -> None:
    lim = LoginLimiter(clock=Clock())
    fail(lim, "192.0.2.1", "alice", 6)
    with pytest.raises(RateLimited):
        lim.attempt("192.0.2.1", "alice")
    lim.attempt("192.0.2.1", "bob")
    lim.succeeded("192.0.2.1", "bob")


def test_an_address_trying_many_names_is_locked_out_as_an_address() -> None:
    lim = LoginLimiter(clock=Clock())
    for i in range(21):
        lim.attempt("192.0.2.1", f"user{i}")
    with pytest.raises(RateLimited, match="from this address"):
        lim.attempt("192.0.2.1", "fresh-name")
    lim.attempt("198.51.100.9", "fresh-name")  # other addresses are not affected


def test_a_locked_address_adds_nothing_to_the_tables() -> None:
    lim = LoginLimiter(clock=Clock(), per_address=Limit(free=2))
    fail(lim, "192.0.2.1", "a", 3)
    for i in range(100):
        with pytest.raises(RateLimited):
            lim.attempt("192.0.2.1", f"name{i}")
    assert len(lim.users.rows) == 1


def test_success_starts_the_name_afresh() -> None:
    lim = LoginLimiter(clock=Clock())
    fail(lim, "192.0.2.1", "alice", 5)
    lim.attempt("192.0.2.1", "alice")  # the 6th: the right one
    lim.succeeded("192.0.2.1", "alice")
    fail(lim, "192.0.2.1", "alice", 5)  # five free failures again


def test_parallel_attempts_cannot_all_slip_past_the_check() -> None:
    lim = LoginLimiter(clock=Clock())
    passed = 0
    for _ in range(50):  # as if 50 requests all got past attempt() before any verdict
        try:
            lim.attempt("192.0.2.1", "alice")
            passed += 1
        except RateLimited:
            pass
    assert passed == 6


def test_failures_are_forgotten_after_a_quiet_time() -> None:
    clock = Clock()
    lim = LoginLimiter(clock=clock, per_user=Limit(free=2, forget=60))
    fail(lim, "192.0.2.1", "alice", 3)
    with pytest.raises(RateLimited):
        lim.attempt("192.0.2.1", "alice")
    clock.now += 61
    fail(lim, "192.0.2.1", "alice", 2)


def test_lock_outs_are_capped() -> None:
    clock = Clock()
    lim = LoginLimiter(clock=clock, per_user=Limit(free=0, max_delay=30, forget=10_000))
    for _ in range(20):
        lim.attempt("192.0.2.1", "alice")
        with pytest.raises(RateLimited) as e:
            lim.attempt("192.0.2.1", "alice")
        assert e.value.retry_after <= 30
        clock.now += e.value.retry_after
        lim.succeeded("192.0.2.1", "bob")  # keeps the address below its limit


def test_the_tables_are_bounded() -> None:
    lim = LoginLimiter(clock=Clock(), cap=100, per_address=Limit(free=10**9))
    for i in range(1000):
        lim.attempt(f"10.0.{i // 250}.{i % 250}", f"user{i}")
    assert len(lim.users.rows) == 100 and len(lim.addresses.rows) == 100
