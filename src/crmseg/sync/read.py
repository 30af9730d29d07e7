"""The read step of a sync run and the watermark it leaves for the next run.

The source is streamed into the state's local copy a chunk at a time, and the newest
modification stamp seen is kept. The next watermark (:func:`next_watermark`) is on the CRM's
own clock and never later than the read, so a change made after the read is read next time.

A CRM that tracks changes (:class:`~crmseg.connectors.base.ChangeTracking`) is read through
it instead: a full read asks for a delta link, an incremental one follows the link the last
completed run stored, and the accounts it reports deleted leave the population there and then
(:meth:`~crmseg.state.store.StateStore.mark_removed`). A link the CRM refuses (expired) falls
back to a full read, logged and noted for the run. The read hands back the next link; the run
stores it only once its writes are recorded, so a run that dies reads the same changes again.

A full read goes through the connector's bulk read (:class:`~crmseg.connectors.base.BulkRead`)
when the population the state last recorded is at least its ``bulk_read_threshold`` (known
without a call; the first run of a sync walks the pages unless the threshold is 0).

A CRM that lists its deleted records apart (:class:`~crmseg.connectors.base.DeletedRecords`,
Zoho) is asked for them in an incremental read, with the same ``since`` as the changes and
after them: a deletion before the newest stamp read happened before the list was asked for, so
the next watermark (never later than that stamp) leaves none out. A run that dies before its
watermark moves asks again; an account leaves the population once. A full read leaves the
deleted out by itself, but a record deleted during it, after its page was read, is in no
list the read saw: its next watermark is the clock before the read, not the newest stamp.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any

from crmseg.connectors.base import ChangeTracking, Connector, DeltaLinkExpired
from crmseg.dates import stamp_or_none
from crmseg.model import RawRecord, Removed
from crmseg.state.store import StateStore

log = logging.getLogger(__name__)


@dataclass
class SourceRead:
    """What a read brought into the local copy."""

    #: The ids read (kept only for an incremental read: a full one evaluates every account).
    ids: set[str]
    #: Accounts read.
    count: int
    #: The newest modification stamp read, where the next watermark may go (None: the source has
    #: none, or the watermark must stay at the clock before the read).
    newest: datetime | None
    #: Accounts the CRM reported deleted (change tracking, or its list of deletions) that left the population.
    removed: int = 0
    #: An incremental read that had to read every account instead (its delta link was refused).
    fell_back: str | None = None
    #: Change tracking's link to the changes after this read (None: not tracking, or none answered).
    delta_link: str | None = None


@dataclass(frozen=True)
class Tracking:
    """Read through change tracking: ``link`` the stored delta link (None: a full read)."""

    source: ChangeTracking
    link: str | None = None


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
    tracking: Tracking | None = None,
) -> SourceRead:
    """Stream the source into the local copy, ``chunk`` accounts a time, watching the stamps of
    ``modified_field`` (None: the source has none); ``after_chunk(n)`` (``n``: accounts read so
    far) runs after each full chunk is stored, not after the last one. With ``tracking`` the
    accounts come through change tracking (``since`` is then unused): see the module's documentation."""
    if tracking is None:
        deletions = connector.capabilities.deletions
        records: Iterator[RawRecord | Removed]
        records = _full_read(connector, fields, store, sync) if since is None else connector.read(fields, since=since)
        if since is not None and deletions is not None:
            records = chain(records, deletions.read_deleted(since))  # asked once the changes are read
        read = _stream(records, since is not None, modified_field, store, sync, run, chunk, after_chunk)
        if since is None and deletions is not None:
            read.newest = None  # deletions during this read are in no list it saw (module documentation)
        return read
    source = tracking.source
    fell_back = None
    if tracking.link is not None:
        try:
            read = _stream(
                source.read_changes(fields, tracking.link), True, modified_field, store, sync, run, chunk, after_chunk
            )
        except DeltaLinkExpired as exc:
            fell_back = f"change tracking: the CRM refused the stored delta link, so every account was read ({exc})"
            log.warning("sync %s: %s", sync, fell_back)
        else:
            read.delta_link = source.delta_link
            return read
    read = _stream(source.read_changes(fields), False, modified_field, store, sync, run, chunk, after_chunk)
    read.fell_back, read.delta_link = fell_back, source.delta_link
    if read.delta_link is None:
        log.warning("sync %s: change tracking: the CRM answered no delta link; the next run reads in full again", sync)
    return read


def _full_read(connector: Connector, fields: Sequence[str], store: StateStore, sync: str) -> Iterator[RawRecord]:
    """Every account: through the connector's bulk read when the population, as the state last
    recorded it, is at least its threshold; else ``read``."""
    bulk = connector.capabilities.bulk_read
    known = store.account_count(sync) if bulk is not None else 0
    if bulk is None or known < bulk.bulk_read_threshold:
        return connector.read(fields)
    log.info("sync %s: %d accounts last time: a full read through the CRM's bulk read", sync, known)
    return bulk.read_bulk(fields)


def _stream(
    records: Iterator[RawRecord] | Iterator[RawRecord | Removed],
    keep: bool,
    mod: str | None,
    store: StateStore,
    sync: str,
    run: int,
    chunk: int,
    after_chunk: Callable[[int], None],
) -> SourceRead:
    """Store ``records`` a chunk at a time (their ids kept when ``keep``); deletions leave the population."""
    ids: set[str] = set()
    batch: list[tuple[str, Any]] = []
    gone: list[str] = []
    removed = 0
    n = 0
    newest: Any = None  # the latest modification stamp read, as the CRM wrote it (same format throughout)
    for raw in records:
        if isinstance(raw, Removed):
            gone.append(raw.id)
            if len(gone) >= chunk:
                removed += store.mark_removed(sync, gone)
                gone = []
            continue
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
    if gone:
        removed += store.mark_removed(sync, gone)
    return SourceRead(ids, n, stamp_or_none(newest), removed)


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
