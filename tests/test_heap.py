"""frozen_heap: the collector skips the objects alive at the start, and garbage among them is
still collected once the block ends (a daemon's runs back to back must not pile it up)."""

from __future__ import annotations

import gc
import weakref

from crmseg.heap import frozen_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_garbage_frozen_by_a_block_is_collected_when_it_ends() -> None:
    for _ in range(3):  # back to back, as a daemon's runs
        node = _Node()
        alive = weakref.ref(node)
        del node  # garbage now, but frozen with the rest when the block starts
        with frozen_heap():
            assert gc.get_freeze_count() > 0
            gc.collect()
            assert alive() is not None  # frozen: the collector does not look at it
        assert gc.get_freeze_count() == 0
        assert alive() is None  # collected when the block ended


def test_nested_blocks_unfreeze_once_the_outer_one_ends() -> None:
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
