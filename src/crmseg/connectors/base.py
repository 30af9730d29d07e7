"""The connector protocol, and the optional capabilities a connector claims.

Every source implements :class:`Connector`: ``read``, ``write``, ``schema``, ``close``, a
``batch_size``, and ``capabilities``. What only some sources can do (read incrementally
against the CRM's clock, write through a bulk API, create tag fields, report API usage,
leave bad rows out, name the CRM it is connected to, track changes, list deletions, ...) is
not probed for: a connector *claims* it by putting an object into its :class:`Capabilities`
(usually ``self``), and callers read ``connector.capabilities.<name>``, which is that object or
None.

Why a capabilities object rather than ``isinstance`` checks against runtime-checkable
protocols: a claim is explicit and made in one place per connector, where mypy checks that
the claimed object really has every member of the capability (``isinstance`` on a protocol
only checks that attributes of those names exist, so a connector would claim a capability
by accident, and reading a property to check it may already call the CRM); and each
capability is typed ``X | None``, so mypy makes every caller handle a connector without it.
The contract suite (``tests/connector_contract.py``) compares each connector's claims with
the ones its test hooks declare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as TMapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, Protocol

from crmseg.errors import FatalError
from crmseg.model import RawRecord, Removed, SchemaField, TagWrite, WriteResult

__all__ = [
    "ApiLimits",
    "BadRowPolicy",
    "BulkRead",
    "BulkWrite",
    "Capabilities",
    "ChangeTracking",
    "Connector",
    "CrmIdentity",
    "DealReads",
    "DeletedRecords",
    "DeltaLinkExpired",
    "IncrementalRead",
    "KnownIdentity",
    "ObjectSchema",
    "PassThrough",
    "ProvisionSteps",
    "RowLists",
    "SchemaProvision",
    "SkippedRows",
    "TagSink",
]

#: What a file source does with a malformed row: stop with an error, or leave it out and list it.
BadRowPolicy = Literal["raise", "skip"]


class TagSink(Protocol):
    """Where tag writes go, a batch at a time: a connector, or a file sync's changes file."""

    #: Largest batch ``write`` accepts in one call.
    batch_size: int

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """Apply one batch; one result per input, in input order."""
        ...


# ------------------------------------------------------------------ capabilities
class IncrementalRead(Protocol):
    """``read(fields, since=...)`` yields only the records modified at or after ``since``,
    judged by ``modified_field``; ``server_time`` is the source's own clock at its latest
    answer (None when it has none), where the next watermark starts."""

    @property
    def modified_field(self) -> str: ...

    @property
    def server_time(self) -> datetime | None: ...


class DeltaLinkExpired(FatalError):
    """The CRM no longer accepts a delta link (expired, or not one of this object): only a full
    read can start change tracking again."""


class ChangeTracking(Protocol):
    """The CRM tracks changes for the client (Dataverse change tracking): a read that asks for it
    ends with a *delta link*; following that link later yields the records created or changed
    since it was issued, :class:`~crmseg.model.Removed` for those deleted, and the next link.

    A connector claims this where the CRM can do it; whether the object has it turned on is
    the CRM's to say (:meth:`tracks_changes`), so a sync without it reads by its
    :class:`IncrementalRead` modification stamps instead."""

    def tracks_changes(self) -> bool:
        """Whether the CRM tracks changes of the object (its metadata; no call once the schema is known)."""
        ...

    def read_changes(self, fields: Sequence[str], delta_link: str | None = None) -> Iterator[RawRecord | Removed]:
        """With no ``delta_link`` every record (a full read that starts tracking), else the records
        changed since the link was issued and the deletions; :class:`DeltaLinkExpired` when the CRM
        refuses the link. Once the walk is exhausted :attr:`delta_link` holds the next link."""
        ...

    @property
    def delta_link(self) -> str | None:
        """The link the latest exhausted :meth:`read_changes` ended with; None before one ended,
        or when the CRM answered none."""
        ...


class DeletedRecords(Protocol):
    """The CRM lists the records deleted since a time, apart from the records (Zoho's
    ``/deleted``): a read by modification stamps never sees a deletion, so an incremental sync
    asks for this list with the same ``since`` after reading the changes, and the accounts in it
    leave the population. Asking twice is harmless (a deleted account leaves once)."""

    def read_deleted(self, since: datetime) -> Iterator[Removed]:
        """The records deleted at or after ``since`` by the CRM's clock (recycle bin and for good)."""
        ...


class BulkRead(Protocol):
    """A second read path for large full reads (Zoho's Bulk Read: a job exports up to 200,000
    records as a zipped CSV, for fewer calls and credits than a page walk). The sync's read step
    alone decides when to use it: a full read of a population at least ``bulk_read_threshold``
    accounts large, as the state last recorded it (no call to count)."""

    @property
    def bulk_read_threshold(self) -> int: ...

    def read_bulk(self, fields: Sequence[str]) -> Iterator[RawRecord]:
        """Every live record holding ``fields``, as a full ``read`` gives them, in no order."""
        ...


class BulkWrite(Protocol):
    """A second write path for large runs (Salesforce Bulk API 2.0). The sync writer alone
    decides when to use it: more than ``bulk_threshold`` pending writes in one run."""

    @property
    def bulk_threshold(self) -> int: ...

    def write_bulk(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """One bulk job for ``writes``, whatever their number; one result per input, in order."""
        ...


class SchemaProvision(Protocol):
    """The connector can create the mapping's missing tag (and pin) fields in the CRM."""

    def provision(self, dimensions: TMapping[str, list[str] | None], scores: Sequence[str] = ()) -> list[str]:
        """Create or widen the tag fields of ``dimensions`` (-> their values); the names changed."""
        ...


class ProvisionSteps(Protocol):
    """The connector says what to create for the mapping's missing tag (and pin) fields instead
    of creating them (Dataverse: custom columns carry a publisher's prefix and usually travel in
    a solution, an admin's decision)."""

    def provision_steps(self, dimensions: TMapping[str, list[str] | None], scores: Sequence[str] = ()) -> list[str]:
        """The steps (text, request bodies included) that create or widen the tag fields of
        ``dimensions``; empty when they all exist with every value."""
        ...


class ApiLimits(Protocol):
    """The connector counts its HTTP calls and reads the CRM's daily allowance from its headers."""

    @property
    def calls(self) -> int:
        """HTTP calls made so far by this connector."""
        ...

    @property
    def api_remaining(self) -> tuple[int, int] | None:
        """(calls left today, daily allowance) as the CRM last reported, or None before it has."""
        ...

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, max) when the CRM reports usage itself (Salesforce ``Sforce-Limit-Info``), else None."""
        ...


class ObjectSchema(Protocol):
    """The source is a CRM object whose fields the CRM describes (types, picklists, updateable)."""

    @property
    def object(self) -> str:
        """The object's API name, for messages (``Account``, ``companies``)."""
        ...

    @property
    def field_names_case_insensitive(self) -> bool: ...

    def cached_schema(self) -> TMapping[str, SchemaField] | None:
        """The schema when ``schema()`` has already fetched it (no call), else None."""
        ...


@dataclass(frozen=True, slots=True)
class CrmIdentity:
    """Which CRM (or file) a connector talks to, as the vendor names it.

    ``kind`` and ``id`` are what a sync's state is bound to (``key``): a Salesforce org id
    (its 15-character form, the same whichever way it was read), a HubSpot portal id, a file's
    resolved path. ``where`` (instance URL, UI domain) is for messages only: an org keeps its
    id when its instance URL changes."""

    kind: str
    id: str
    where: str = ""

    @property
    def key(self) -> str:
        """The text stored in the state and compared on every run: ``kind:id``."""
        return f"{self.kind}:{self.id}"

    def describe(self) -> str:
        """For messages: ``salesforce org 00D... (https://acme.my.salesforce.com)``."""
        noun = {"salesforce": "salesforce org", "hubspot": "hubspot portal", "zoho": "zoho org", "file": "file"}.get(
            self.kind, self.kind
        )
        return f"{noun} {self.id}" + (f" ({self.where})" if self.where else "")


class KnownIdentity(Protocol):
    """The connector can say which CRM it is connected to (at most one cheap call, cached)."""

    def crm_identity(self) -> CrmIdentity:
        """The CRM's identity; the first call may ask the CRM (counted like any other call)."""
        ...


class SkippedRows(Protocol):
    """A file source that can leave malformed rows out and list them instead of stopping."""

    on_bad_row: BadRowPolicy

    @property
    def skipped(self) -> list[str]:
        """The rows left out by the latest read, as ``file:line: problem``."""
        ...


class PassThrough(Protocol):
    """A source whose own columns are canonical fields the rules may read (files)."""

    def columns(self) -> list[str]: ...


class RowLists(Protocol):
    """A fast read path: the same records as ``read``, each a list in header order (CSV files)."""

    def read_rows(self, on_header: Callable[[list[str]], None]) -> Iterator[tuple[str, list[Any]]]:
        """(id, row) of every record; ``on_header(names)`` is called once before the first."""
        ...


class DealReads(Protocol):
    """The source reads deals (Salesforce Opportunities, HubSpot deals, a deals file) as raw
    records of the mapping's ``[deals]`` source fields, turned into canonical deals by
    :class:`crmseg.deals.mapped.DealNormalizer`. Where the source reads incrementally, its
    :class:`IncrementalRead` ``server_time`` is the clock the deals watermark starts from too."""

    @property
    def multi_currency(self) -> bool:
        """Whether the CRM keeps amounts in several currencies (detected from the CRM, never
        configured: Salesforce's ``CurrencyIsoCode`` on Opportunity, HubSpot's additional
        currencies); then the normalizer reads the home-currency amount."""
        ...

    def read_deals(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Every live deal (``since`` None: a full read, deleted deals absent), or the deals
        modified at or after ``since`` by the CRM's clock. Each record holds ``fields``; a mapped
        association (HubSpot's ``companies``) holds the primary associated account's id."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """What a connector can do beyond the protocol: each field the object doing it, or None."""

    incremental: IncrementalRead | None = None
    change_tracking: ChangeTracking | None = None
    deletions: DeletedRecords | None = None
    bulk_read: BulkRead | None = None
    bulk_write: BulkWrite | None = None
    provision: SchemaProvision | None = None
    provision_steps: ProvisionSteps | None = None
    api_limits: ApiLimits | None = None
    object_schema: ObjectSchema | None = None
    skipped_rows: SkippedRows | None = None
    passthrough: PassThrough | None = None
    row_lists: RowLists | None = None
    identity: KnownIdentity | None = None
    deals: DealReads | None = None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every capability's name, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def claimed(self) -> frozenset[str]:
        """The names of the capabilities this connector claims."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name) is not None)


# ------------------------------------------------------------------ the protocol
class Connector(TagSink, Protocol):
    """A CRM or file that accounts come from and tags go back to.

    ``read`` yields raw records (CRM field names) for the requested fields, all of them or,
    for a connector claiming :class:`IncrementalRead`, only those modified after ``since``;
    ``write`` applies one batch of tag writes and answers one result per input, in input
    order; ``schema`` describes the object's fields so a mapping can be checked before
    anything is written. Concrete connectors subclass this protocol explicitly, so mypy
    checks that they implement every member.
    """

    def read(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]: ...

    def schema(self) -> dict[str, SchemaField]: ...

    def close(self) -> None: ...

    @property
    def capabilities(self) -> Capabilities:
        """The optional capabilities this connector claims."""
        ...
