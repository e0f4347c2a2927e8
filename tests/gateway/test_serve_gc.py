"""`modelgate serve` freezes what start-up left alive, so a full collection under load walks only what
requests made since (gateway/commands/serve.py; bench/README.md has the pauses before and after)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway.commands.serve import freeze_startup_objects


class _Cycle:
    """Freed only by the cyclic collector (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as before


def test_start_up_garbage_is_collected_and_what_lives_on_is_frozen(unfrozen: None) -> None:
    dropped, kept = _Cycle(), _Cycle()
    dropped_ref, kept_ref = weakref.ref(dropped), weakref.ref(kept)
    del dropped  # start-up garbage: collected before the freeze, not frozen with the rest
    frozen_before = gc.get_freeze_count()
    freeze_startup_objects()
    assert dropped_ref() is None
    assert gc.get_freeze_count() > frozen_before
    # A frozen object is out of the collector's sight: even once unreachable, a full collection leaves
    # it — the price of the freeze, paid only for what start-up made (the app, the model, the imports).
    del kept
    gc.collect()
    assert kept_ref() is not None


def test_what_requests_make_after_the_freeze_is_collected_as_before(unfrozen: None) -> None:
    freeze_startup_objects()
    made = _Cycle()
    made_ref = weakref.ref(made)
    del made
    gc.collect()
    assert made_ref() is None
