"""The connector protocol: the one small interface every source implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Protocol

from crmseg.model import RawRecord, SchemaField, TagWrite, WriteResult


class Connector(Protocol):
    """A CRM or file that accounts come from and tags go back to.

    ``read`` yields raw records (CRM field names) for the requested fields, all of
    them or only those modified after ``since``; ``write`` applies one batch of tag
    writes and answers one result per input, in input order; ``schema`` describes
    the object's fields so a mapping can be checked before anything is written.
    """

    #: Largest batch ``write`` accepts in one call.
    batch_size: int

    def read(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]: ...

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]: ...

    def schema(self) -> dict[str, SchemaField]: ...

    def close(self) -> None: ...
