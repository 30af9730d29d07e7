"""Long loops over accounts without the garbage collector re-walking the whole heap.

A run allocates a few short-lived containers per account (rows, dicts, results), so the
cyclic collector runs often; each of its full passes walks every object alive — in a CLI
process that is mostly what importing pydantic, rich and the clients created, and it never
becomes garbage. ``frozen_heap()`` moves the objects alive at the start of the loop out of
the collector's sight (``gc.freeze``) and hands them back at the end: cycles made during the
loop are still collected, and a 1M-account audit runs about 5-10% faster.

Freezing is the whole process's business, so only entry points do it, around their run: the
``audit``, ``sync`` and ``review`` commands and the daemon's run job. Library functions (``run_audit``,
``run_sync``) leave the heap of whoever calls them alone.

Garbage cycles among the frozen objects cannot be collected while frozen, so the last block
to end runs one full collection after unfreezing (about 20 ms): without it a daemon whose runs
follow each other would freeze the previous run's garbage again and again, and grow (the
soak test in ``tests/test_daemon_soak.py`` caught 0.1 MB per run).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0  # nested or concurrent loops (daemon threads): the heap is handed back when the last ends


@contextmanager
def frozen_heap(*, paused: bool = False) -> Iterator[None]:
    """Run the block with the objects alive now frozen (``gc.freeze``); unfreeze afterwards.

    ``paused``: the collector does not run during the block either — for a bounded command that
    makes next to no cyclic garbage but allocates millions of short-lived rows (a review reading
    a state: each collection would walk the rows of the chunk being read); it is switched back on
    as it was at the end. The switch is the process's: for an entry point running one block at a
    time (``crmseg review``), not for the daemon's concurrent ones."""
    global _depth
    with _lock:
        _depth += 1
        if _depth == 1:
            gc.freeze()
    was_on = gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused and was_on:
            gc.enable()
        with _lock:
            _depth -= 1
            last = _depth == 0
            if last:
                gc.unfreeze()
        if last:
            gc.collect()
