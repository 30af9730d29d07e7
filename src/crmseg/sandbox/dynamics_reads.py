"""Dataverse reads in the Dynamics sandbox: account queries and their paging, change tracking
(delta links), rows as Dataverse renders them, opportunities and currencies.

- ``GET /api/data/v9.2/accounts?$select=a,b&$filter=modifiedon ge 2026-11-01T00:00:00Z``:
  ``Prefer: odata.maxpagesize=N`` (≤ 5,000; larger is ignored), pages ordered by the primary
  key, ``@odata.nextLink`` with a ``$skiptoken`` paging cookie; ``$filter`` takes comparisons
  of ``modifiedon`` / ``createdon`` joined by ``and`` (whole seconds, as Dataverse keeps them).
  Choice columns are integers; ``Prefer: odata.include-annotations="OData.Community.Display.V1.FormattedValue"``
  (or ``"*"``) adds ``<column>@OData.Community.Display.V1.FormattedValue`` beside choice,
  number, money, yes/no, date and lookup values (so a client must pick the choice columns by metadata).
- change tracking, as Microsoft documents it ("Use change tracking to synchronize data with
  external systems"): ``Prefer: odata.track-changes`` on a query (400 with ``$filter``,
  ``$orderby``, ``$expand`` or ``$top``) -> every row, ``Preference-Applied: odata.track-changes``,
  the last page carrying ``@odata.deltaLink`` (``$deltatoken=<version>!<date>``, the version
  taken at the first page: every write after it gets a later one, as Dataverse's row versions
  do). Following the link (no ``Prefer`` needed) answers a ``.../$delta`` context: the rows
  created or changed since, then the deleted ones as ``{"@odata.context": ".../$deletedEntity",
  "id", "reason": "deleted"}`` (also rows created and deleted in between), paged alike, and a
  new delta link on the last page (an empty ``value`` when nothing changed). A token older
  than ``delta_token_days`` answers 400 ``0x80044352`` ExpiredVersionStamp ("Version stamp
  associated with the client has expired. Please perform a full sync."); ``change_tracking=False``:
  the table has none (``ChangeTrackingEnabled`` false; tracking asked for answers 400).

Opportunities, when deals are seeded (``--deals N``; rows from :func:`crmseg.sandbox.deal_records.dynamics_records`):

- ``GET /api/data/v9.2/opportunities?$select=...&$filter=modifiedon ge ...``: paged as accounts
  (``$skiptoken``), deleted rows left out; ``statecode`` 0 Open / 1 Won / 2 Lost, money columns
  with their ``_base`` twins, lookups as ``_<name>_value`` GUIDs; ``Prefer:
  odata.include-annotations`` (``"*"``, the formatted value, or
  ``"Microsoft.Dynamics.CRM.lookuplogicalname"``) adds the lookups' table names (the customer
  lookup points to an account or a contact) and the choices' labels.
- ``GET /api/data/v9.2/transactioncurrencies?$select=isocurrencycode``: the org's currencies
  (USD only, or USD, EUR, GBP, CAD and AUD with ``multi_currency``).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from crmseg.sandbox.base import BaseApp, Request, Response, json_response
from crmseg.sandbox.deal_setup import CORPORATE_CURRENCY, CURRENCY_RATES, DY_CUSTOMER_TABLE, dy_currency_id
from crmseg.sandbox.dynamics_odata import API, dv_error, preferences
from crmseg.sandbox.dynamics_schema import option_label
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import ms_of, parse_datetime

MAX_PAGE = 5000
FORMATTED = "OData.Community.Display.V1.FormattedValue"
_COMPARE = re.compile(r"^\s*(modifiedon|createdon)\s+(eq|ne|gt|ge|lt|le)\s+(\S+)\s*$", re.IGNORECASE)
_SQL_OP = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
_LAST = re.compile(r'last="\{?([0-9a-fA-F-]{36})\}?"')
_SINCE = re.compile(r'since="(\d+)"')
_PHASE = re.compile(r'phase="([01])"')

LOOKUP_TABLE = "Microsoft.Dynamics.CRM.lookuplogicalname"
#: The opportunity columns the sandbox serves (lookups under their ``_<name>_value`` property).
OPPORTUNITY_COLUMNS = (
    "opportunityid",
    "name",
    "statecode",
    "statuscode",
    "estimatedvalue",
    "estimatedvalue_base",
    "actualvalue",
    "actualvalue_base",
    "_transactioncurrencyid_value",
    "exchangerate",
    "createdon",
    "modifiedon",
    "estimatedclosedate",
    "actualclosedate",
    "_parentaccountid_value",
    "_customerid_value",
    "stepname",
    "salesstagecode",
    "closeprobability",
)
_STATE_LABEL = {0: "Open", 1: "Won", 2: "Lost"}
_STATUS_LABEL = {1: "In Progress", 2: "On Hold", 3: "Won", 4: "Canceled", 5: "Out-Sold"}
_STAGE_LABEL = {0: "Qualify", 1: "Develop", 2: "Propose", 3: "Close"}


def iso_seconds(ms: int) -> str:
    """Dataverse's datetime text: UTC, whole seconds, ``Z``."""
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DataverseReads(BaseApp):
    """The Dynamics app's reads: account queries with change tracking, opportunities, currencies;
    and the write time every write takes (after any change-tracking version handed out)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._issued = 0  # the latest change-tracking version handed out in a delta link (epoch ms)

    # ------------------------------------------------------------ accounts
    def _selected(self, req: Request) -> list[FieldDef]:
        raw = req.arg("$select")
        if not raw:
            return list(self.schema.values())
        out = []
        for name in (n.strip() for n in raw.split(",")):
            fd = self.schema.get(name)
            if fd is None:
                raise dv_error(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.account'.",
                )
            out.append(fd)
        if not any(fd.system == "id" for fd in out):
            out.append(self.schema["accountid"])
        return out

    def _filter(self, text: str) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for part in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
            m = _COMPARE.match(part)
            if not m:
                raise dv_error(
                    400,
                    "0x80060888",
                    f"The sandbox cannot evaluate the $filter clause {part!r} "
                    "(comparisons of modifiedon/createdon joined by 'and' only).",
                )
            when = parse_datetime(m.group(3))
            if when is None:
                raise dv_error(400, "0x80060888", f"The DateTimeOffset literal {m.group(3)!r} is not valid.")
            column = "modified_ms" if m.group(1).lower() == "modifiedon" else "created_ms"
            clauses.append(f"(({column} / 1000) * 1000) {_SQL_OP[m.group(2).lower()]} ?")  # whole seconds
            params.append(int(when.timestamp()) * 1000)
        return " AND ".join(clauses), params

    def _query(self, req: Request) -> Response:
        prefer = preferences(req)
        options = [k for k in req.query if k.startswith("$")]
        delta = req.arg("$deltatoken")
        tracking = "odata.track-changes" in prefer or delta is not None
        if tracking and not self.options.change_tracking:
            raise dv_error(400, "0x80044350", "Change tracking is not enabled for the entity 'account'.")
        for name in ("$filter", "$orderby", "$expand", "$top"):
            if tracking and name in options:
                raise dv_error(
                    400, "0x80060888", f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
                )
        unsupported = sorted(k for k in options if k not in ("$select", "$filter", "$skiptoken", "$deltatoken"))
        if unsupported:
            raise dv_error(
                400, "0x80060888", f"The sandbox does not support the query option(s) {', '.join(unsupported)}."
            )
        try:
            size = int(prefer.get("odata.maxpagesize") or MAX_PAGE)
        except ValueError:
            size = MAX_PAGE
        size = size if 1 <= size <= MAX_PAGE else MAX_PAGE
        columns = self._selected(req)
        annotate = prefer.get("odata.include-annotations", "") in (FORMATTED, "*")
        cookie = unquote(unquote(req.arg("$skiptoken") or ""))
        last = _LAST.search(cookie)
        after = last.group(1).lower() if last else None
        since = _SINCE.search(cookie)
        # the version the walk's delta link hands out: taken at its first page (under the write lock,
        # so every write after it gets a later modification time, as Dataverse's row versions do)
        version = int(since.group(1)) if since else (self._issue_version() if tracking else 0)
        if delta is not None:
            phase = _PHASE.search(cookie)
            ids = self._delta_ids(self._changed_after(delta), int(phase.group(1)) if phase else 0, after, size + 1)
        else:
            where, params = "deleted = 0", list[Any]()
            if req.arg("$filter"):
                clause, params = self._filter(req.arg("$filter") or "")
                where = f"{where} AND {clause}"
            if after:
                where, params = f"{where} AND id > ?", [*params, after]
            ids = [(0, i) for i in self.store.select_ids(where, params, "id", size + 1)]
        found = self.store.get_many([i for _, i in ids[:size]])
        value = [self._render(found[i], columns, annotate) for _, i in ids[:size] if i in found]
        ctx = "accounts(" + ",".join(fd.name for fd in columns) + ")"
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API}/$metadata#{ctx}" + ("/$delta" if delta is not None else "")
        }
        body["value"] = value
        query = [(k, v[-1]) for k, v in req.query.items() if k != "$skiptoken"]
        link = f"{self.base_url}{API}/accounts?" + "&".join(f"{k}={quote(v, safe=',$!')}" for k, v in query)
        if len(ids) > size:
            number = re.search(r'pagenumber="(\d+)"', cookie)
            page = (int(number.group(1)) if number else 1) + 1
            phase_of_last, last_id = ids[size - 1]
            inner = quote(f'<cookie page="{page - 1}"><accountid last="{{{last_id.upper()}}}" /></cookie>', safe="")
            token = (
                f'<cookie pagenumber="{page}" pagingcookie="{inner}" istracking="{tracking}" since="{version}"'
                + (f' phase="{phase_of_last}"' if delta is not None else "")
                + " />"
            )
            body["@odata.nextLink"] = f"{link}&$skiptoken={quote(token, safe='')}"
        elif tracking:
            stamp = datetime.fromtimestamp(version / 1000, tz=UTC).strftime("%m/%d/%Y %H:%M:%S")
            kept = "&".join(f"{k}={quote(v, safe=',$')}" for k, v in query if k != "$deltatoken")
            body["@odata.deltaLink"] = (
                f"{self.base_url}{API}/accounts?{kept}&$deltatoken={quote(f'{version}!{stamp}', safe='')}"
            )
        applied = f"odata.maxpagesize={size}" + (",odata.track-changes" if tracking and delta is None else "")
        return json_response(200, body, {"Preference-Applied": applied})

    def _changed_after(self, delta: str) -> int:
        """The version a delta token was issued at (400 ExpiredVersionStamp past ``delta_token_days``)."""
        try:
            changed_after = int(delta.split("!", 1)[0])
        except ValueError:
            raise dv_error(400, "0x80044352", f"The delta token '{delta}' is not valid.") from None
        if self.now_ms() - changed_after > self.options.delta_token_days * 86_400_000:
            raise dv_error(
                400,
                "0x80044352",
                "Version stamp associated with the client has expired. Please perform a full sync.",
            )
        return changed_after

    def _delta_ids(self, changed_after: int, phase: int, after: str | None, limit: int) -> list[tuple[int, str]]:
        """(phase, id) of up to ``limit`` rows changed after ``changed_after``: created or updated
        rows first (phase 0), then deleted ones (phase 1), each in id order, from the paging
        cookie's place (``phase``, last id ``after``) on."""
        out: list[tuple[int, str]] = []
        for ph in (0, 1):
            if ph < phase or len(out) >= limit:
                continue
            where, params = f"deleted = {ph} AND modified_ms > ?", list[Any]([changed_after])
            if after and ph == phase:
                where, params = f"{where} AND id > ?", [*params, after]
            out += [(ph, i) for i in self.store.select_ids(where, params, "id", limit - len(out))]
        return out

    def _issue_version(self) -> int:
        """A change-tracking version for a delta link: now, and never earlier than one handed out."""
        with self.lock:
            self._issued = max(self._issued, self.now_ms())
            return self._issued

    def write_ms(self) -> int:
        """A write's modification time: after every delta link's version handed out (Dataverse's
        row versions only grow), so a change made once a link was issued is in that link's delta."""
        with self.lock:
            return max(self.now_ms(), self._issued + 1)

    def _render(self, rec: Record, columns: list[FieldDef], annotate: bool) -> dict[str, Any]:
        if rec.deleted:
            return {
                "@odata.context": f"{self.base_url}{API}/$metadata#accounts/$deletedEntity",
                "id": rec.id,
                "reason": "deleted",
            }
        out: dict[str, Any] = {"@odata.etag": f'W/"{rec.modified_ms}"'}
        for fd in columns:
            value, label = self._value(rec, fd)
            out[fd.name] = value
            if annotate and label is not None:
                out[f"{fd.name}@{FORMATTED}"] = label
        return out

    def _value(self, rec: Record, fd: FieldDef) -> tuple[Any, str | None]:
        """(the value as Dataverse sends it, its formatted value or None)."""
        if fd.system == "id":
            return rec.id, None
        if fd.system in ("created", "modified"):
            ms = rec.created_ms if fd.system == "created" else rec.modified_ms
            return iso_seconds(ms), _date_label(ms)
        stored = rec.data.get(fd.name)
        if stored is None:
            return None, None
        if fd.kind == "Picklist":
            return stored, option_label(fd, stored)
        if fd.kind == "DateTime":
            when = ms_of(stored)
            return (iso_seconds(when), _date_label(when)) if when is not None else (None, None)
        if fd.kind == "Boolean":
            return bool(stored), "Yes" if stored else "No"
        if fd.kind == "Integer":
            return int(stored), f"{int(stored):,}"
        if fd.kind == "Money":
            return float(stored), f"${float(stored):,.2f}"
        if fd.kind == "Lookup":
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"systemuser:{stored}")), str(stored)
        return stored, None

    # ------------------------------------------------------------ opportunities
    def _currencies(self, req: Request) -> Response:
        codes = list(CURRENCY_RATES) if self.options.multi_currency else [CORPORATE_CURRENCY]
        value = [{"transactioncurrencyid": dy_currency_id(c), "isocurrencycode": c, "currencyname": c} for c in codes]
        return json_response(
            200, {"@odata.context": f"{self.base_url}{API}/$metadata#transactioncurrencies", "value": value}
        )

    def _opportunities(self, req: Request) -> Response:
        store = self.deals
        assert store is not None  # routed only when deals are attached
        unsupported = sorted(
            k for k in req.query if k.startswith("$") and k not in ("$select", "$filter", "$skiptoken")
        )
        if unsupported:
            raise dv_error(
                400, "0x80060888", f"The sandbox does not support the query option(s) {', '.join(unsupported)}."
            )
        prefer = preferences(req)
        try:
            size = int(prefer.get("odata.maxpagesize") or MAX_PAGE)
        except ValueError:
            size = MAX_PAGE
        size = size if 1 <= size <= MAX_PAGE else MAX_PAGE
        raw = req.arg("$select")
        columns = [n.strip() for n in raw.split(",")] if raw else list(OPPORTUNITY_COLUMNS)
        for name in columns:
            if name not in OPPORTUNITY_COLUMNS:
                raise dv_error(
                    400,
                    "0x80060888",
                    f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.opportunity'.",
                )
        annotations = prefer.get("odata.include-annotations", "")
        labels = annotations in (FORMATTED, "*")
        tables = annotations in (LOOKUP_TABLE, "*")
        where, params = "deleted = 0", list[Any]()
        if req.arg("$filter"):
            clause, params = self._filter(req.arg("$filter") or "")
            where = f"{where} AND {clause}"
        last = _LAST.search(unquote(unquote(req.arg("$skiptoken") or "")))
        if last:
            where, params = f"{where} AND id > ?", [*params, last.group(1).lower()]
        ids = store.select_ids(where, params, "id", size + 1)
        found = store.get_many(ids[:size])
        value = [_opportunity(found[i], columns, labels, tables) for i in ids[:size] if i in found]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}{API}/$metadata#opportunities({','.join(columns)})",
            "value": value,
        }
        if len(ids) > size:
            query = "&".join(f"{k}={quote(v[-1], safe=',$')}" for k, v in req.query.items() if k != "$skiptoken")
            inner = quote(f'<cookie page="1"><opportunityid last="{{{ids[size - 1].upper()}}}" /></cookie>', safe="")
            token = f'<cookie pagenumber="2" pagingcookie="{inner}" istracking="False" />'
            body["@odata.nextLink"] = f"{self.base_url}{API}/opportunities?{query}&$skiptoken={quote(token, safe='')}"
        return json_response(200, body, {"Preference-Applied": f"odata.maxpagesize={size}"})


def _opportunity(rec: Record, columns: list[str], labels: bool, tables: bool) -> dict[str, Any]:
    """One opportunity row as Dataverse answers it (its id always; annotations when asked)."""
    out: dict[str, Any] = {"@odata.etag": f'W/"{rec.modified_ms}"', "opportunityid": rec.id}
    for name in columns:
        if name == "createdon" or name == "modifiedon":
            ms = rec.created_ms if name == "createdon" else rec.modified_ms
            out[name] = iso_seconds(ms)
            if labels:
                out[f"{name}@{FORMATTED}"] = _date_label(ms)
            continue
        if name == "opportunityid":
            continue
        value = rec.data.get(name)
        out[name] = value
        if value is None:
            continue
        if name == "_customerid_value" and tables:
            out[f"{name}@{LOOKUP_TABLE}"] = rec.data.get(DY_CUSTOMER_TABLE, "account")
        elif name == "_parentaccountid_value" and tables:
            out[f"{name}@{LOOKUP_TABLE}"] = "account"
        elif name == "_transactioncurrencyid_value" and tables:
            out[f"{name}@{LOOKUP_TABLE}"] = "transactioncurrency"
        if labels:
            label = {"statecode": _STATE_LABEL, "statuscode": _STATUS_LABEL, "salesstagecode": _STAGE_LABEL}.get(name)
            if label is not None:
                out[f"{name}@{FORMATTED}"] = label.get(int(value), str(value))
    return out


def _date_label(ms: int) -> str:
    d = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return f"{d.month}/{d.day}/{d.year} {d.strftime('%I:%M %p').lstrip('0')}"
