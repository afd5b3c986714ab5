"""The floors' bookkeeping: what a settlement covers, and what it must leave pending."""

from __future__ import annotations

from app.cache.floors import PENDING, Floors
from app.cache.keys import Key, item_key

LIST = Key("view", "l:?")


def test_a_change_is_pending_until_settled_then_at_the_position() -> None:
    floors = Floors(100)
    assert floors.of(item_key(1)) == floors.of(LIST) == 0
    floors.raise_for([1])
    assert floors.of(item_key(1)) == floors.of(LIST) == PENDING
    assert floors.of(item_key(2)) == 0
    floors.settle(floors.take(), 500)
    assert floors.of(item_key(1)) == floors.of(LIST) == 500
    assert not floors.take()


def test_a_change_heard_while_settling_stays_pending() -> None:
    floors = Floors(100)
    floors.raise_for([1, 2])
    taken = floors.take()
    floors.raise_for([2])  # heard after the position was asked for: it may be later
    floors.settle(taken, 500)
    assert floors.of(item_key(1)) == 500
    assert floors.of(item_key(2)) == floors.of(LIST) == PENDING
    floors.settle(floors.take(), 600)
    assert floors.of(item_key(2)) == floors.of(LIST) == 600


def test_what_could_not_be_settled_is_settled_next_time() -> None:
    floors = Floors(100)
    floors.raise_for([1])
    floors.give_back(floors.take())
    floors.settle(floors.take(), 700)
    assert floors.of(item_key(1)) == 700


def test_every_product_changed_raises_every_item() -> None:
    floors = Floors(100)
    floors.raise_for([1])
    floors.settle(floors.take(), 500)
    floors.raise_for(None)
    assert floors.of(item_key(1)) == floors.of(item_key(99)) == PENDING
    floors.settle(floors.take(), 800)
    assert floors.of(item_key(1)) == floors.of(item_key(99)) == 800
