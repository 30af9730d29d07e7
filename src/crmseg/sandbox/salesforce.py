"""The Salesforce REST subset the crmseg connector uses, over the sandbox store.

Paths (``vNN.N`` is any API version):

- ``GET  /services/data/vNN.N/query?q=SOQL`` (and ``queryAll``), ``GET .../query/<locator>``
  pages of ``batchSize`` (``Sforce-Query-Options``, 200-2000, default 2000) with ``nextRecordsUrl``
  (``/query/...`` for both, as Salesforce answers). ``FROM Account`` or, when deals are seeded,
  ``FROM Opportunity``: ``query`` leaves out records in the recycle bin, ``queryAll`` returns
  them with ``IsDeleted`` true; ``convertCurrency(Amount)`` in multi-currency orgs
  (``options.multi_currency``; fixed rates ``deal_setup.CURRENCY_RATES``, corporate currency USD)
- ``PATCH /services/data/vNN.N/composite/sobjects``: sObject Collections update (≤ 200 records)
- ``GET  /services/data/vNN.N/sobjects`` and ``.../sobjects/Account/describe`` (``Opportunity`` too)
- ``GET|PATCH /services/data/vNN.N/sobjects/Account/<id>``: one record (PATCH answers 204)
- ``GET  /services/data/vNN.N/limits``
- Bulk API 2.0 ingest under ``/services/data/vNN.N/jobs/ingest`` (see ``sf_bulk``)
- ``GET  /services/data/vNN.N/query?q=SELECT Id, ... FROM Organization``: the org's one row
  (``Id`` = the configured ``org_id``; also ``Name``, ``InstanceName``, ``IsSandbox``, ``OrganizationType``)
- ``POST /services/Soap/u/<ver>``, ``POST /services/oauth2/token`` and ``GET /services/oauth2/userinfo``
  (see ``sf_auth``)

Stats name Opportunity calls apart: ``query_opportunity``, ``query_more_opportunity``,
``describe_opportunity`` (a fault on ``query`` still matches them: endpoints match by substring).

Every ``/services/data`` answer carries ``Sforce-Limit-Info: api-usage=USED/MAX``; past
the daily limit calls get 403 ``REQUEST_LIMIT_EXCEEDED``. Errors are vendor-shaped:
``[{"message": ..., "errorCode": ...}]``.
"""

from __future__ import annotations

import functools
import itertools
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmseg.sandbox import sf_auth, sf_writes, soql, soql_eval
from crmseg.sandbox.base import BaseApp, Request, Response, Route, json_response
from crmseg.sandbox.deal_setup import CORPORATE_CURRENCY, CURRENCY_RATES
from crmseg.sandbox.faults import Fault
from crmseg.sandbox.schema import FieldDef, lookup
from crmseg.sandbox.seed import SF_ID, sf_id18
from crmseg.sandbox.sf_bulk import BulkJobs
from crmseg.sandbox.sf_writes import RecordResult, sf_error
from crmseg.sandbox.store import Record, Store
from crmseg.sandbox.values import sf_datetime

_DATA = re.compile(r"^/services/data/v(\d+\.\d)(?:/(.*))?$")
_ORG_QUERY = re.compile(r"\s*SELECT\s+(.+?)\s+FROM\s+Organization(?:\s+LIMIT\s+\d+)?\s*", re.IGNORECASE | re.DOTALL)


def _bound(fn: Callable[..., Response], groups: tuple[Any, ...]) -> Callable[[Request], Response]:
    """A route handler ``fn(request, *groups)`` with the path's captured groups bound."""
    return lambda r: fn(r, *groups)


@dataclass
class Cursor:
    fields: list[FieldDef]
    ids: list[str]
    obj: str
    store: Store
    convert: frozenset[str]


OPPORTUNITY = "Opportunity"


class SalesforceApp(BaseApp):
    """Salesforce REST emulation."""

    crm = "salesforce"
    WRITE_ENDPOINTS = frozenset(
        {"composite_update", "sobject_update", "bulk_create", "bulk_upload", "bulk_state", "bulk_delete"}
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions = sf_auth.Sessions(self.options.credentials.session_id, sf_auth.check_org_id(self.options.org_id))
        self.bulk = BulkJobs(self)
        self.api_used = 0
        self._usage_lock = threading.Lock()
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._cursor_seq = itertools.count(1)
        self.object = self.mapping.object
        self.deal_schema: dict[str, FieldDef] = {}

    def attach_deals(self, store: Store) -> None:
        """Serve ``Opportunity`` from ``store`` (``CurrencyIsoCode`` when the org is multi-currency)."""
        from crmseg.sandbox.schema import opportunity_schema

        super().attach_deals(store)
        self.deal_schema = opportunity_schema(self.options.multi_currency)

    def _is_deals(self, obj: str | None) -> bool:
        return self.deals is not None and obj is not None and obj.lower() == OPPORTUNITY.lower()

    # ------------------------------------------------------------ routing
    def route(self, req: Request) -> Route | None:
        m, path = req.method, req.path.rstrip("/")
        if m == "POST" and re.fullmatch(r"/services/Soap/u/\d+\.\d", path):
            return "login", lambda r: sf_auth.soap_login(self, r)
        if m == "POST" and path == "/services/oauth2/token":
            return "oauth_token", lambda r: sf_auth.oauth_token(self, r)
        if m == "GET" and path == "/services/oauth2/userinfo":
            return "userinfo", lambda r: sf_auth.userinfo(self, r)
        if m == "GET" and path == "/services/data":
            return "versions", self._versions
        match = _DATA.match(path)
        if not match:
            return None
        rest = match.group(2) or ""
        obj = re.escape(self.object)
        table: list[tuple[str, str, str, Any]] = [
            ("GET", r"(query|queryAll)", "query", self._query),
            ("GET", r"(?:query|queryAll)/([^/]+)", "query_more", self._query_more),
            ("PATCH", r"composite/sobjects", "composite_update", lambda r: sf_writes.composite_update(self, r)),
            ("GET", r"sobjects", "describe_global", self._describe_global),
            ("GET", rf"sobjects/(?i:{obj})/describe", "describe", self._describe),
            ("GET", rf"sobjects/(?i:{obj})/([^/]+)", "sobject_get", self._get_record),
            (
                "PATCH",
                rf"sobjects/(?i:{obj})/([^/]+)",
                "sobject_update",
                lambda r, rid: sf_writes.update_record(self, r, rid),
            ),
            ("GET", r"limits", "limits", self._limits),
            ("POST", r"jobs/ingest", "bulk_create", self.bulk.create),
            ("PUT", r"jobs/ingest/([^/]+)/batches", "bulk_upload", self.bulk.upload),
            ("PATCH", r"jobs/ingest/([^/]+)", "bulk_state", self.bulk.set_state),
            ("GET", r"jobs/ingest/([^/]+)", "bulk_status", self.bulk.status),
            ("DELETE", r"jobs/ingest/([^/]+)", "bulk_delete", self.bulk.delete),
            (
                "GET",
                r"jobs/ingest/([^/]+)/(successfulResults|failedResults|unprocessedrecords)",
                "bulk_results",
                self.bulk.results,
            ),
        ]
        if self.deals is not None:
            table.insert(0, ("GET", rf"sobjects/(?i:{OPPORTUNITY})/describe", "describe_opportunity", self._describe))
        for method, pattern, name, fn in table:
            found = re.fullmatch(pattern, rest)
            if method == m and found:
                if name == "query" and self._is_deals(soql.object_of(req.arg("q"))):
                    name = "query_opportunity"
                elif name == "query_more" and self._cursor_obj(found.group(1)) == OPPORTUNITY:
                    name = "query_more_opportunity"
                return name, _bound(fn, found.groups())
        return None

    def _cursor_obj(self, locator: str) -> str | None:
        with self.lock:
            cursor = self._cursors.get(locator.partition("-")[0])
        return cursor.obj if cursor is not None else None

    def not_found(self, req: Request) -> Response:
        return json_response(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])

    def guard(self, req: Request, endpoint: str) -> Response | None:
        if endpoint in ("login", "oauth_token", "versions", "userinfo"):  # userinfo checks its own token
            return None
        if not self.sessions.valid(sf_auth.bearer(req)):
            return json_response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        with self._usage_lock:
            if self.api_used >= self.options.daily_limit:
                return json_response(
                    403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
                )
            self.api_used += 1
        return None

    def decorate(self, resp: Response, endpoint: str) -> None:
        if endpoint not in ("login", "oauth_token", "userinfo"):
            resp.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.options.daily_limit}"

    def fault_response(self, fault: Fault, req: Request, endpoint: str) -> Response:
        headers = {}
        retry = fault.retry_after if fault.retry_after is not None else self.options.default_retry_after
        if fault.kind in ("429", "503"):
            headers["Retry-After"] = str(max(0, int(-(-retry // 1))))
        if fault.kind == "429":
            return json_response(
                429, [{"message": "Too many requests (sandbox fault)", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], headers
            )
        if fault.kind == "503":
            return json_response(
                503,
                [{"message": "Server temporarily unavailable (sandbox fault)", "errorCode": "SERVER_UNAVAILABLE"}],
                headers,
            )
        if fault.kind == "expired_session":
            self.sessions.revoke_all()
            return json_response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
        return json_response(
            500,
            [
                {
                    "message": "An unexpected error occurred. Please include this ErrorId if you "
                    "contact support: 0000000000-00000 (sandbox fault)",
                    "errorCode": "UNKNOWN_EXCEPTION",
                }
            ],
        )

    def write_ms(self) -> int:
        now = self.now_ms()
        return now - now % 1000

    def extra_stats(self) -> dict[str, Any]:
        return {"api_usage": {"used": self.api_used, "max": self.options.daily_limit}, "bulk_jobs": len(self.bulk.jobs)}

    def reset_limits(self) -> None:
        with self._usage_lock:
            self.api_used = 0

    # ------------------------------------------------------------ rendering
    def value(self, rec: Record, fd: FieldDef) -> Any:
        """A field's value as Salesforce returns it."""
        if fd.system == "id":
            return rec.id
        if fd.system == "created":
            return sf_datetime(rec.created_ms)
        if fd.system == "modified":
            return sf_datetime(rec.modified_ms)
        if fd.system == "deleted" or fd.name == "IsDeleted":
            return rec.deleted
        return rec.data.get(fd.name)

    def converted(self, rec: Record, fd: FieldDef) -> Any:
        """``convertCurrency(field)``: the value in the corporate currency (fixed rates)."""
        amount = rec.data.get(fd.name)
        if amount is None:
            return None
        rate = CURRENCY_RATES.get(str(rec.data.get("CurrencyIsoCode") or CORPORATE_CURRENCY), 1.0)
        return round(float(amount) / rate, 2)

    def render(
        self, rec: Record, fields: list[FieldDef], obj: str | None = None, convert: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        obj = obj or self.object
        out: dict[str, Any] = {"attributes": {"type": obj, "url": self.record_url(rec.id, obj)}}
        for fd in fields:
            out[fd.name] = self.converted(rec, fd) if fd.name in convert else self.value(rec, fd)
        return out

    def record_url(self, rid: str, obj: str | None = None) -> str:
        return f"/services/data/v{self.options.api_version}/sobjects/{obj or self.object}/{rid}"

    # ------------------------------------------------------------ query
    def _versions(self, req: Request) -> Response:
        ver = self.options.api_version
        return json_response(200, [{"label": "crmseg sandbox", "url": f"/services/data/v{ver}", "version": ver}])

    def _limits(self, req: Request) -> Response:
        limit = self.options.daily_limit
        return json_response(200, {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - self.api_used)}})

    def _match(self, q: soql.Query, store: Store, with_deleted: bool) -> list[str]:
        conds, params, complete = soql_eval.sql_filter(q.where)
        if not with_deleted:  # query leaves the recycle bin out; queryAll does not
            conds.append("deleted = 0")
        order_sql = soql_eval.sql_order(q.order)
        where = " AND ".join(conds)
        if complete and order_sql:
            ids = store.select_ids(where, params, order_sql)
        else:
            recs = list(store.scan(store.select_ids(where, params, "id")))
            if q.where is not None and not complete:
                recs = [r for r in recs if soql_eval.evaluate(q.where, functools.partial(self.value, r))]
            for fd, desc, nulls_last in reversed(q.order):

                def key(r: Record, fd: FieldDef = fd, nl: bool = nulls_last, d: bool = desc) -> tuple[int, Any]:
                    v = soql_eval.norm(fd, self.value(r, fd))
                    first = 1 if (v is None) == (nl != d) else 0
                    return (first, 0 if v is None else v)

                recs.sort(key=key, reverse=desc)
            ids = [r.id for r in recs]
        ids = ids[q.offset :]
        return ids if q.limit is None else ids[: q.limit]

    def _organization(self, names: list[str]) -> Response:
        """``SELECT ... FROM Organization``: the one row naming the org (its identity)."""
        org = sf_id18(self.options.org_id)
        row = {
            "Id": org,
            "Name": "crmseg sandbox",
            "InstanceName": "SANDBOX1",
            "IsSandbox": True,
            "OrganizationType": "Developer Edition",
        }
        by_lower = {k.lower(): k for k in row}
        unknown = [n for n in names if n.lower() not in by_lower]
        if unknown:
            raise sf_error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity 'Organization'")
        url = f"/services/data/v{self.options.api_version}/sobjects/Organization/{org}"
        record: dict[str, Any] = {"attributes": {"type": "Organization", "url": url}}
        record.update({by_lower[n.lower()]: row[by_lower[n.lower()]] for n in names})
        return json_response(200, {"totalSize": 1, "done": True, "records": [record]})

    def _batch_size(self, req: Request) -> int:
        m = re.search(r"batchSize=(\d+)", req.header("sforce-query-options"))
        return min(2000, max(200, int(m.group(1)))) if m else 2000

    def _query(self, req: Request, kind: str) -> Response:
        text = req.arg("q")
        if text is None:
            raise sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
        org = _ORG_QUERY.fullmatch(text)
        if org:
            return self._organization([f.strip() for f in org.group(1).split(",")])
        on_deals = self._is_deals(soql.object_of(text))
        obj, schema = (OPPORTUNITY, self.deal_schema) if on_deals else (self.object, self.schema)
        store = self.deals if on_deals and self.deals is not None else self.store
        try:
            q = soql.parse(text, schema, obj, self.options.multi_currency)
        except soql.SoqlError as exc:
            raise sf_error(400, exc.code, exc.message) from None
        ids = self._match(q, store, with_deleted=kind == "queryAll")
        if q.fields is None:
            return json_response(200, {"totalSize": len(ids), "done": True, "records": []})
        with self.lock:
            loc = f"01gSb{next(self._cursor_seq):010d}{secrets.token_hex(2).upper()}"
            self._cursors[loc] = Cursor(q.fields, ids, obj, store, q.convert)
            while len(self._cursors) > 200:
                self._cursors.popitem(last=False)
        return self._page(loc, 0, self._batch_size(req))

    def _query_more(self, req: Request, locator: str) -> Response:
        loc, _, pos = locator.partition("-")
        with self.lock:
            cursor = self._cursors.get(loc)
        if cursor is None or not pos.isdigit() or int(pos) > len(cursor.ids):
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(loc, int(pos), self._batch_size(req))

    def _page(self, loc: str, pos: int, size: int) -> Response:
        with self.lock:
            cursor = self._cursors.get(loc)
        if cursor is None:
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        chunk = cursor.ids[pos : pos + size]
        found = cursor.store.get_many(chunk)
        records = [self.render(found[i], cursor.fields, cursor.obj, cursor.convert) for i in chunk if i in found]
        done = pos + size >= len(cursor.ids)
        body: dict[str, Any] = {"totalSize": len(cursor.ids), "done": done, "records": records}
        if not done:
            # "query" for queryAll too: Salesforce's nextRecordsUrl says query either way
            body["nextRecordsUrl"] = f"/services/data/v{self.options.api_version}/query/{loc}-{pos + size}"
        else:
            with self.lock:
                self._cursors.pop(loc, None)
        return json_response(200, body)

    # ------------------------------------------------------------ describe / get
    def _describe(self, req: Request) -> Response:
        on_deals = "/sobjects/opportunity/" in req.path.lower()
        obj, schema = (OPPORTUNITY, self.deal_schema) if on_deals else (self.object, self.schema)
        fields = []
        for fd in schema.values():
            item: dict[str, Any] = {
                "name": fd.name,
                "label": fd.label,
                "type": fd.kind,
                "custom": fd.custom,
                "updateable": fd.updateable,
                "createable": fd.updateable,
                "nillable": fd.kind not in ("id", "boolean"),
                "filterable": True,
                "sortable": fd.kind not in ("multipicklist", "textarea"),
                "length": fd.length
                if fd.kind not in ("int", "double", "currency", "percent", "boolean", "date", "datetime")
                else 0,
                "restrictedPicklist": fd.restricted,
                "calculated": False,
                "externalId": False,
                "picklistValues": [
                    {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                    for v in fd.options or []
                ],
            }
            if fd.kind in ("double", "currency", "percent"):
                item.update(precision=18, scale=2 if fd.kind == "currency" else 0)
            fields.append(item)
        ver = self.options.api_version
        return json_response(
            200,
            {
                "name": obj,
                "label": obj,
                "labelPlural": obj + "s",
                "keyPrefix": "006" if on_deals else "001",
                "custom": False,
                "queryable": True,
                "updateable": True,
                "createable": True,
                "fields": fields,
                "urls": {
                    "sobject": f"/services/data/v{ver}/sobjects/{obj}",
                    "describe": f"/services/data/v{ver}/sobjects/{obj}/describe",
                },
            },
        )

    def _describe_global(self, req: Request) -> Response:
        ver = self.options.api_version
        objects = [(self.object, "001")] + ([(OPPORTUNITY, "006")] if self.deals is not None else [])
        return json_response(
            200,
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {
                        "name": name,
                        "label": name,
                        "keyPrefix": prefix,
                        "custom": False,
                        "queryable": True,
                        "updateable": True,
                        "urls": {"describe": f"/services/data/v{ver}/sobjects/{name}/describe"},
                    }
                    for name, prefix in objects
                ],
            },
        )

    def _get_record(self, req: Request, rid: str) -> Response:
        rec = self.store.get(sf_id18(rid)) if SF_ID.match(rid) else None
        if rec is None:
            raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        wanted = req.arg("fields")
        fields = list(self.schema.values())
        if wanted:
            fields = [fd for fd in (lookup(self.schema, n.strip()) for n in wanted.split(",")) if fd]
        return json_response(200, self.render(rec, fields))

    # ------------------------------------------------------------ writes

    def apply_updates(
        self, items: list[tuple[str, dict[str, Any]]], endpoint: str, path: str, all_or_none: bool = False
    ) -> list[RecordResult]:
        """Validate and apply updates; one result per item, in order (see ``sf_writes``)."""
        return sf_writes.apply_updates(self, items, endpoint, path, all_or_none)
