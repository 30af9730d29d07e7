"""Mapping files (connectors/*.toml): which CRM field feeds each canonical field, where tags
are written, and how deals map."""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from crmseg.config.loading import StrictModel, read_toml, validate_toml
from crmseg.errors import ConfigError

FieldType = Literal["str", "int", "float", "bool", "date", "datetime", "list"]
FIELD_TYPES: tuple[str, ...] = ("str", "int", "float", "bool", "date", "datetime", "list")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ---------------------------------------------------------------- mapping files
class FieldMap(StrictModel):
    """Where one canonical field comes from, its type and normalization."""

    source: str | None = None  # CRM field; defaults to the canonical name
    type: FieldType = "str"
    normalize: Literal["country", "lower", "upper", "strip"] | None = None
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    separator: str = ";"  # list fields: how a CRM string splits into items


#: The canonical deal fields (read through a mapping's ``[deals.fields]``) and their fixed types;
#: ``status`` is read through ``[deals.status]``. Admins may map more fields, of any type.
DEAL_FIELDS: dict[str, FieldType] = {
    "id": "str",
    "account_id": "str",
    "amount": "float",
    "currency": "str",
    "created_at": "datetime",
    "closed_at": "date",
    "stage": "str",
    "pipeline": "str",
    "type": "str",
}
#: Deal fields every ``[deals]`` mapping must say where to read (``status`` too, in ``[deals.status]``).
DEAL_REQUIRED: tuple[str, ...] = ("id", "created_at")


class DealFieldMap(StrictModel):
    """Where one deal field comes from: a CRM field (``source``) or, for ``account_id``, an association."""

    source: str | None = None  # CRM field; defaults to the canonical name
    type: FieldType | None = None  # canonical fields: their fixed type (may be restated); others: "str"
    #: ``amount`` only: the field holding the amount in the home currency, read instead of ``source``
    #: when the CRM has several currencies (HubSpot ``amount_in_home_currency``).
    home_source: str | None = None
    #: ``account_id`` only: the associated object whose (primary) record is the deal's account
    #: (HubSpot ``companies``); the connector puts its id in the raw record under this name.
    association: str | None = None

    @property
    def key(self) -> str | None:
        """The raw record's key holding the value (None: the canonical name)."""
        return self.association or self.source


class DealStatusMap(StrictModel):
    """Where a deal's status comes from: one field holding open/won/lost, or a closed and a won flag."""

    source: str | None = None  # a field holding open, won or lost (any case)
    closed: str | None = None  # a boolean field: the deal is closed (Salesforce IsClosed, HubSpot hs_is_closed)
    won: str | None = None  # a boolean field: the deal is won (IsWon, hs_is_closed_won)

    @model_validator(mode="after")
    def _one_way(self) -> DealStatusMap:
        flags = (self.closed is not None, self.won is not None)
        if self.source is not None and any(flags):
            raise ValueError(
                "give either source (a field holding open/won/lost) or closed and won (two flags), not both"
            )
        if self.source is None and not all(flags):
            missing = " and ".join(k for k, f in zip(("closed", "won"), flags, strict=True) if not f)
            raise ValueError(
                f"needs {missing}: the status comes from source (a field holding open/won/lost) "
                "or from closed and won (two boolean fields)"
            )
        return self

    def sources(self) -> list[str]:
        """The CRM fields the status is read from."""
        return [s for s in (self.source, self.closed, self.won) if s is not None]


class DealsMapping(StrictModel):
    """A mapping's ``[deals]`` part: which CRM field feeds each canonical deal field."""

    object: str | None = None  # the CRM object deals are read from (Opportunity, deals); files need none
    modified_field: str | None = None  # the field incremental deal reads filter on
    fields: dict[str, DealFieldMap]
    status: DealStatusMap

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, DealFieldMap]) -> dict[str, DealFieldMap]:
        problems: list[str] = []
        for need in DEAL_REQUIRED:
            if need not in v:
                problems.append(f"{need} is required (a [deals.fields.{need}] table; an empty one reads {need!r})")
        for name, fm in v.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                problems.append(f"canonical field name {name!r} must match [a-z][a-z0-9_]*")
            if name == "status":
                problems.append("status is read through [deals.status] (source, or closed and won), not fields")
            fixed = DEAL_FIELDS.get(name)
            if fixed is not None and fm.type is not None and fm.type != fixed:
                problems.append(
                    f"{name}.type must be {fixed!r} (a canonical deal field's type is fixed), not {fm.type!r}"
                )
            if fm.home_source is not None and name != "amount":
                problems.append(f"{name}.home_source applies to amount only")
            if fm.association is not None and name != "account_id":
                problems.append(f"{name}.association applies to account_id only")
            if fm.association is not None and fm.source is not None:
                problems.append(f"{name}: give source or association, not both")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    def source_of(self, name: str) -> str:
        """The raw record's key holding canonical field ``name``."""
        fm = self.fields.get(name)
        return (fm.key if fm else None) or name

    def field_types(self) -> dict[str, FieldType]:
        """Canonical field -> type, every mapped field (extra ones default to "str")."""
        return {name: fm.type or DEAL_FIELDS.get(name, "str") for name, fm in self.fields.items()}

    def read_fields(self, multi_currency: bool = False) -> list[str]:
        """The CRM fields to read: every mapped source (associations are read apart), the status
        fields and the modified field; with ``multi_currency``, the home-currency amount too."""
        names = [self.source_of(name) for name, fm in self.fields.items() if fm.association is None]
        if multi_currency:
            names += [fm.home_source for fm in self.fields.values() if fm.home_source]
        names += self.status.sources()
        if self.modified_field:
            names.append(self.modified_field)
        return list(dict.fromkeys(names))


def canonical_deals_mapping() -> DealsMapping:
    """The ``[deals]`` mapping of a file with canonical column names (``--deals FILE``)."""
    return DealsMapping(fields={name: DealFieldMap() for name in DEAL_FIELDS}, status=DealStatusMap(source="status"))


class Mapping(StrictModel):
    """A connector mapping: CRM fields -> canonical fields, dimensions -> CRM tag fields."""

    loader_keys: ClassVar[frozenset[str]] = frozenset({"path"})

    object: str = "Account"
    id_field: str = "id"
    modified_field: str | None = None
    pin_field: str | None = None
    fields: dict[str, FieldMap] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    tag_field_pattern: str | None = None  # e.g. "crmseg_{dimension}" for unlisted dimensions
    vocabulary: str | None = None  # the shared synonyms file, relative to the mapping (merged at load)
    deals: DealsMapping | None = None  # the [deals] part: where deals come from (None: not mapped)
    path: str = ""

    @field_validator("fields")
    @classmethod
    def _names(cls, v: dict[str, FieldMap]) -> dict[str, FieldMap]:
        for name in v:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"canonical field name {name!r} must match [a-z][a-z0-9_]*")
        return v

    def source_of(self, canonical: str) -> str:
        fm = self.fields.get(canonical)
        return fm.source if fm and fm.source else canonical

    def tag_field(self, dimension: str) -> str | None:
        """The CRM field that holds ``dimension``'s tag, or None when unmapped."""
        if dimension in self.tags:
            return self.tags[dimension]
        if self.tag_field_pattern:
            return self.tag_field_pattern.format(dimension=dimension)
        return None

    def vocabulary_file(self) -> Path | None:
        """The shared vocabulary file this mapping uses, or None."""
        from crmseg.config.vocabulary import vocabulary_path

        return vocabulary_path(self.path or ".", self.vocabulary) if self.vocabulary else None

    def field_types(self) -> dict[str, str]:
        return {name: fm.type for name, fm in self.fields.items()}


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping TOML file."""
    from crmseg.config.vocabulary import load_vocabulary, merge_vocabulary, vocabulary_path

    p = Path(path)
    data = read_toml(p)
    data["path"] = str(p)
    vocab = data.get("vocabulary")
    if vocab is not None:
        if not isinstance(vocab, str):
            raise ConfigError(f'{p}: vocabulary must be a file name, e.g. "vocabulary.toml"')
        merge_vocabulary(data, load_vocabulary(vocabulary_path(p, vocab)), str(p))
    return validate_toml(Mapping, data, p)
