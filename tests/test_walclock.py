from app.db.walclock import WalClock


def test_no_samples_means_unknown() -> None:
    assert WalClock().seconds_behind(100, now=5.0) is None


def test_caught_up_is_zero_even_when_the_primary_is_idle() -> None:
    clock = WalClock()
    clock.record(0.0, 100)
    clock.record(60.0, 100)  # idle primary: the position did not move
    assert clock.seconds_behind(100, now=120.0) == 0.0


def test_behind_by_the_age_of_the_first_unreplayed_sample() -> None:
    clock = WalClock()
    for at, lsn in [(0.0, 100), (1.0, 200), (2.0, 300), (3.0, 400)]:
        clock.record(at, lsn)
    assert clock.seconds_behind(250, now=3.5) == 1.5  # lacks what the primary had at t=2
    assert clock.seconds_behind(50, now=3.5) == 3.5


def test_wal_without_transactions_after_a_long_idle_spell_is_not_minutes_of_lag() -> None:
    clock = WalClock()
    clock.record(0.0, 100)
    clock.record(400.0, 180)  # a checkpoint record after 400 idle seconds
    assert clock.seconds_behind(100, now=400.5) == 0.5
