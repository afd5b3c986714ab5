from app.db.breaker import BreakerState, CircuitBreaker


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # a call, so mypy does not narrow across transitions


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_on_first_failure_and_half_opens_after_the_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2.0, clock)
    assert breaker.allow()
    breaker.record_failure("refused")
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after_seconds() == 2
    clock.now += 2.0
    assert breaker.allow()  # the one trial
    assert state(breaker) is BreakerState.HALF_OPEN
    assert not breaker.allow()  # nobody else while the trial runs
    breaker.record_failure("refused again")
    assert not breaker.allow()
    clock.now += 2.0
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.opened_total == 1  # re-failing from half-open is the same outage


def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    breaker = CircuitBreaker(0.2, clock)
    breaker.record_failure("x")
    assert breaker.retry_after_seconds() == 1
