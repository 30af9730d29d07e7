"""frozen_heap: the collector skips the objects alive at the start, and garbage among them is
still collected once the block ends (a daemon's runs back to back must not pile it up)."""

from __future__ import annotations

import gc
import weakref

from crmseg.heap import frozen_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _outside_count() -> int:
    """Objects in the permanent generation outside any block: 0 on 3.11 and 3.13, but 3.12's
    collector moves immortal objects there (375 of them at start-up), so a block must hand back
    exactly what it froze rather than leave zero."""
    gc.collect()
    return gc.get_freeze_count()


def test_garbage_frozen_by_a_block_is_collected_when_it_ends() -> None:
    outside = _outside_count()
    for _ in range(3):  # back to back, as a daemon's runs
        node = _Node()
        alive = weakref.ref(node)
        del node  # garbage now, but frozen with the rest when the block starts
        with frozen_heap():
            assert gc.get_freeze_count() > outside
            gc.collect()
            assert alive() is not None  # frozen: the collector does not look at it
        assert gc.get_freeze_count() == outside
        assert alive() is None  # collected when the block ended


def test_nested_blocks_unfreeze_once_the_outer_one_ends() -> None:
    outside = _outside_count()
    with frozen_heap():
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > outside
    assert gc.get_freeze_count() == outside
