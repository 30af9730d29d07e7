"""The read step of a sync run and the watermark it leaves for the next run.

The source is streamed into the state's local copy a chunk at a time, and the newest
modification stamp seen is kept. The next watermark (:func:`next_watermark`) is on the CRM's
own clock and never later than the read, so a change made after the read is read next time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crmseg.connectors.base import Connector
from crmseg.dates import INVALID, parse_datetime
from crmseg.state.store import StateStore


@dataclass
class SourceRead:
    """What a read brought into the local copy."""

    #: The ids read (kept only for an incremental read: a full one evaluates every account).
    ids: set[str]
    #: Accounts read.
    count: int
    #: The newest modification stamp read, None when the source has none.
    newest: datetime | None


def read_source(
    connector: Connector,
    fields: Sequence[str],
    modified_field: str | None,
    since: datetime | None,
    store: StateStore,
    sync: str,
    run: int,
    chunk: int,
    after_chunk: Callable[[int], None],
) -> SourceRead:
    """Stream the source into the local copy, ``chunk`` accounts a time, watching the stamps of
    ``modified_field`` (None: the source has none); ``after_chunk(n)`` (``n``: accounts read so
    far) runs after each full chunk is stored, not after the last one."""
    ids: set[str] = set()
    batch: list[tuple[str, Any]] = []
    keep = since is not None
    n = 0
    mod = modified_field
    newest: Any = None  # the latest modification stamp read, as the CRM wrote it (same format throughout)
    for raw in connector.read(fields, since=since):
        batch.append((raw.id, raw.fields))
        stamp = raw.fields.get(mod) if mod else None
        if stamp is not None and (newest is None or str(stamp) > str(newest)):
            newest = stamp
        if keep:
            ids.add(raw.id)
        n += 1
        if len(batch) >= chunk:
            store.upsert_accounts(sync, run, batch)
            batch = []
            after_chunk(n)
    if batch:
        store.upsert_accounts(sync, run, batch)
    return SourceRead(ids, n, modstamp(newest))


def modstamp(value: Any) -> datetime | None:
    """A CRM modification stamp (ISO text or epoch ms) as an aware datetime, else None."""
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except INVALID:
        return None


def next_watermark(
    before_read: datetime | None, newest: datetime | None, after_read: datetime | None
) -> datetime | None:
    """The next run's watermark: the CRM's clock before the read, or the newest stamp the read saw when later.

    Both are on the CRM's clock and no later than the read: a change after the read gets a later
    stamp and is read next time. The ``Date`` header has whole seconds; the newest stamp, finer,
    spares the next run re-reading what this one wrote in the second the read started."""
    if before_read is None:
        return None
    if newest is None or after_read is None or newest <= before_read:
        return before_read
    return min(newest, after_read + timedelta(seconds=1))
