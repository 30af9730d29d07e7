"""Zoho CRM accounts through the REST API v8 (a thin client over requests).

Why not Zoho's SDK (``zohocrmsdk8_0``): it keeps a global initializer and a token file holding
secrets, calls ``/users`` by default and needs more scopes than crmseg reads with; the calls
crmseg makes are few. Tokens: :mod:`crmseg.connectors.zoho_auth` (``Authorization:
Zoho-oauthtoken``).

- Reads: ``GET /crm/v8/Accounts?fields=...`` (at most 50 fields) sorted by ``Modified_Time``
  ascending, ``per_page`` ≤ 200; ``page`` (at most 10, as documented) while it stays within the
  first 2,000 records, then the answer's ``next_page_token``. A ``page_token`` walk reaches
  100,000 records: past that the read goes on with ``If-Modified-Since`` at the last
  modification time read (the records of that second already given are left out). Incremental:
  ``If-Modified-Since`` one second before ``since`` (Zoho keeps whole seconds and gives the
  records modified *after* the header), so the records modified at or after ``since`` come back;
  nothing modified answers 304. Lookups (``Owner``) are read as the linked record's id.
  :meth:`ZohoConnector.read_deleted` lists the recycle bin (``/Accounts/deleted?type=all``),
  which an incremental sync reads after the changes (the ``deletions`` capability).
- Bulk Read (:meth:`ZohoConnector.read_bulk`, the ``bulk_read`` capability: the sync takes it
  for a full read of at least ``bulk_read_threshold`` accounts): jobs of up to 200,000 records,
  each a zipped CSV read into the same records as a page walk's (:mod:`crmseg.connectors.zoho_bulk`).
- Writes: ``PUT /crm/v8/Accounts`` with at most 100 records and ``"trigger": []`` (the sync's
  ``triggers`` otherwise); each record's answer in input order. A label a pick-list tag field
  lacks fails that record before sending, as Zoho would (``INVALID_DATA``, kept apart as
  permanent by the sync).
- API credits: a call costs one credit, an update one per 10 records, a page of deleted records
  two (see docs/zoho.md);
  :attr:`ZohoConnector.api_remaining` is ``X-API-CREDITS-REMAINING`` when the latest answer
  carried it (Zoho sends it past half of the day's credits), else the configured
  ``api_credits`` less the credits this connector spent (at least half of them: the header's
  absence says less than half are used).
- Every call goes through the shared :class:`RetryPolicy`: a 401 ``INVALID_TOKEN`` renews the
  token once; 429 ``TOO_MANY_REQUESTS`` (no ``Retry-After`` documented) backs off exponentially,
  unless the org's credits are spent (the header says 0): then the run stops. Values and
  answers as Zoho spells them (errors and their meaning, lookups, fields, tag values):
  :mod:`crmseg.connectors.zoho_values`.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as TMapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import requests

from crmseg.config import Mapping, ZohoSync, check_endpoint
from crmseg.connectors.base import Capabilities, Connector, CrmIdentity
from crmseg.connectors.limits import header, parse_http_date
from crmseg.connectors.retry import CursorWalk, Op, RetryPolicy, chunks
from crmseg.connectors.zoho_auth import TokenCache, ZohoTokens
from crmseg.connectors.zoho_bulk import BulkCalls, bulk_read
from crmseg.connectors.zoho_deals import ZohoDeals
from crmseg.connectors.zoho_values import (
    ZohoHTTPError,
    as_dict,
    classify,
    lookup_id,
    outcome,
    schema_field,
    wire_value,
)
from crmseg.dates import stamp_or_none
from crmseg.errors import ConfigError, CrmsegError, FatalError
from crmseg.model import RawRecord, Removed, SchemaField, TagWrite, WriteResult

log = logging.getLogger(__name__)
T = TypeVar("T")

API = "/crm/v8"
MAX_PAGE = 200
MAX_BATCH = 100
MAX_FIELDS = 50
#: Records ``page`` reaches; past them only ``page_token`` goes on.
PAGE_LIMIT = 2_000
#: The highest ``page`` Zoho documents ("page (1-10)", getRecords in crm-oas v8.0): a smaller
#: ``per_page`` goes on by ``page_token`` from there too.
MAX_DISCRETE_PAGE = 10
#: Records one ``page_token`` walk reaches.
TOKEN_LIMIT = 100_000
#: Records one API credit updates, and the credits a page of deleted records' ids costs (Zoho's
#: credit table; docs/zoho.md).
RECORDS_PER_CREDIT = 10
DELETED_CREDITS = 2


class ZohoConnector(Connector):
    """The Connector protocol for one Zoho CRM org's Accounts.

    Claims: incremental reads (``Modified_Time``) against the server's clock, the list of deleted
    records, Bulk Read, API limits (credits, see the module), a described module
    (``settings/fields``) and the org's identity (``GET /org``)."""

    crm = "zoho"
    field_names_case_insensitive = False

    def __init__(
        self,
        cfg: ZohoSync,
        mapping: Mapping,
        env: TMapping[str, str] = os.environ,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 60.0,
        token_cache: TokenCache | None = None,
        page_limit: int = PAGE_LIMIT,
        token_limit: int = TOKEN_LIMIT,
        bulk_wait: float = 1.0,
    ) -> None:
        if (mapping.object or "Accounts").lower() != "accounts":
            raise ConfigError(
                f"{mapping.path or 'zoho mapping'}: object {mapping.object!r} is not supported (allowed: 'Accounts')"
            )
        self.cfg, self.mapping = cfg, mapping
        self.object = "Accounts"
        self.modified_field = mapping.modified_field or "Modified_Time"
        self.batch_size = max(1, min(cfg.batch_size or MAX_BATCH, MAX_BATCH))
        self.page_size = max(1, min(cfg.page_size, MAX_PAGE))
        self.page_limit, self.token_limit = page_limit, token_limit
        #: Seconds before a Bulk Read job's first status poll (then doubling, up to BULK_POLL_MAX).
        self.bulk_wait = bulk_wait
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.calls = 0
        self.calls_by_kind: Counter[str] = Counter()
        #: The CRM's clock (``Date`` header of the latest answer): where the next watermark starts.
        self.server_time: datetime | None = None
        #: Credits this connector's calls cost so far (by Zoho's documented prices, see the module).
        self.credits_spent = 0
        #: ``X-API-CREDITS-REMAINING`` of the latest CRM answer (None: it did not carry one).
        self.credits_left: int | None = None
        self.tokens = ZohoTokens(
            accounts_url=cfg.accounts_url,
            client_id_env=cfg.client_id_env,
            client_secret_env=cfg.client_secret_env,
            refresh_token_env=cfg.refresh_token_env,
            env=env,
            timeout=timeout,
            on_call=lambda: self._count("token"),
            secrets=self.policy.redact.add,
            cache=token_cache,
        )
        self._sent_token: str | None = None
        self._session = requests.Session()
        self._schema: dict[str, SchemaField] | None = None
        self._identity: CrmIdentity | None = None
        self._org: dict[str, Any] | None = None
        self._deals = ZohoDeals(self, mapping.deals) if mapping.deals is not None else None

    # ------------------------------------------------------------------ public
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            incremental=self,
            deletions=self,
            bulk_read=self,
            api_limits=self,
            object_schema=self,
            identity=self,
            deals=self._deals,
        )

    @property
    def bulk_read_threshold(self) -> int:
        """Accounts from which a full read goes through Bulk Read (the sync's ``bulk_read_threshold``)."""
        return self.cfg.bulk_read_threshold

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """None: Zoho reports what is left (past half of the day's credits), not a usage line."""
        return None

    @property
    def api_remaining(self) -> tuple[int, int] | None:
        """(credits left, the day's allowance): see the module; None before the first CRM answer."""
        allowance = self.cfg.api_credits
        if self.credits_left is not None:
            return self.credits_left, allowance
        if self.server_time is None:
            return None
        return max(allowance - self.credits_spent, math.ceil(allowance / 2)), allowance

    @property
    def base(self) -> str:
        """``{api_domain}/crm/v8``: the configured domain, else the one named with the token."""
        return f"{self.domain}{API}"

    @property
    def domain(self) -> str:
        """The API domain: the configured one, else the one named with the token."""
        domain = self.cfg.api_domain
        if domain is None:
            self.tokens.token()
            named = self.tokens.api_domain
            if not named:
                raise FatalError("zoho: the accounts server named no api_domain; set api_domain in the sync's config")
            try:
                domain = check_endpoint(named).rstrip("/")
            except ValueError as exc:
                raise FatalError(f"zoho: the accounts server named the API domain {named!r}: {exc}") from None
        return domain

    def org(self) -> dict[str, Any]:
        """The org as ``GET /org`` describes it (one call, cached; its identity and currencies)."""
        if self._org is None:
            body = self._run("identity", lambda: self._get("identity", f"{self.base}/org"))
            orgs = body.get("org")
            self._org = orgs[0] if isinstance(orgs, list) and orgs and isinstance(orgs[0], dict) else {}
        return self._org

    def crm_identity(self) -> CrmIdentity:
        """The org, from ``GET /org`` (one call, cached)."""
        if self._identity is None:
            org = self.org()
            oid = str(org.get("id") or "")
            if not oid.isdigit():
                raise FatalError(f"zoho GET /org: no org id in the answer (got {oid!r})")
            where = self.base.removesuffix(API) + (f" ({org['domain_name']})" if org.get("domain_name") else "")
            self._identity = CrmIdentity("zoho", oid, where)
        return self._identity

    def read(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Every live account, or those modified at or after ``since`` (whole seconds), lazily."""
        columns = self._columns(fields)
        for row in self.records(self.object, columns, since, "query"):
            yield self._raw(row, fields)

    def records(
        self, module: str, columns: Sequence[str], since: datetime | None, kind: str
    ) -> Iterator[dict[str, Any]]:
        """The rows of ``module`` holding ``columns`` (which must include ``Modified_Time``), in
        modification order, as answered; ``since``: only those modified at or after it. Calls
        count under ``kind``. See the module for the paging."""
        params = {
            "fields": ",".join(columns),
            "per_page": str(self.page_size),
            "sort_by": "Modified_Time",
            "sort_order": "asc",
        }
        after = _second_before(since) if since is not None else None
        given: set[str] = set()  # the ids of the latest second read, when a walk restarts in it
        op = Op("zoho", module, kind)
        restarted_at: datetime | None = None
        last_time: datetime | None = None  # the latest modification time read (the order of the walk)
        while True:
            walked = 0
            walk: CursorWalk[str] = CursorWalk(op)
            page, token = 1, None
            while True:
                rows, info = self._run(kind, functools.partial(self._list, module, params, page, token, after, kind))
                for row in rows:
                    rid = str(row.get("id"))
                    stamp = stamp_or_none(row.get("Modified_Time"))
                    if stamp is not None and (last_time is None or stamp > last_time):
                        last_time, given = stamp, set()
                    if rid in given:
                        continue  # read before this walk restarted in the same second
                    given.add(rid)
                    yield row
                walked += len(rows)
                if not info.get("more_records"):
                    return
                if token is None and page < MAX_DISCRETE_PAGE and (page + 1) * self.page_size <= self.page_limit:
                    page += 1
                    continue
                nxt = info.get("next_page_token")
                if not nxt:
                    raise FatalError(f"{op}: more records, but the answer gave no next_page_token")
                if walked >= self.token_limit:
                    break  # page tokens reach no further: go on from the latest modification time read
                token = walk.follow(str(nxt))
            if last_time is None or last_time == restarted_at:
                raise FatalError(
                    f"{op}: more than {walked:,} records share one Modified_Time (or have none); a page token walk "
                    "cannot read past them"
                )
            restarted_at, after = last_time, last_time - timedelta(seconds=1)
            log.info("%s: %d records read by page token; going on from %s", op, walked, last_time.isoformat())

    def read_deleted(self, since: datetime | None = None) -> Iterator[Removed]:
        """The accounts deleted (recycle bin and for good), or those deleted at or after ``since``
        (``If-Modified-Since`` as for :meth:`read`; nothing deleted answers 304). Each page costs
        ``DELETED_CREDITS``."""
        after = _second_before(since) if since is not None else None
        page = 1
        while True:
            params = {"type": "all", "page": str(page), "per_page": str(MAX_PAGE)}
            url = f"{self.base}/{self.object}/deleted"
            call = functools.partial(self._page, url, params, after, "deleted", DELETED_CREDITS)
            rows, info = self._run("deleted", call)
            for row in rows:
                yield Removed(str(row.get("id")), stamp_or_none(row.get("deleted_time")))
            if not info.get("more_records"):
                return
            page += 1

    def read_bulk(self, fields: Sequence[str]) -> Iterator[RawRecord]:
        """Every live account through Bulk Read jobs (:mod:`crmseg.connectors.zoho_bulk`), in no
        order; the same records and values as a full :meth:`read`."""
        columns = self._columns(fields)
        for row in bulk_read(self._bulk_calls(), self.object, columns, self.schema()):
            yield self._raw(row, fields)

    def _bulk_calls(self) -> BulkCalls:
        """What a Bulk Read's jobs need of this connector (built per read: ``bulk_wait`` is read then)."""
        return BulkCalls(
            send=self._request,
            get=self._get,
            run=self._run,
            domain=lambda: self.domain,
            pause=self.policy.pause,
            first_wait=self.bulk_wait,
        )

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """One ``PUT`` per chunk of at most 100; one result per input, in order."""
        schema = self.schema()
        for w in writes:
            for name in w.fields:
                if name not in schema:
                    raise ConfigError(f"zoho: field {name} not found on {self.object} (check the mapping's tags)")
        out: list[WriteResult] = []
        for chunk in chunks(writes, self.batch_size):
            out.extend(self._write_batch(chunk, schema))
        return out

    def schema(self) -> dict[str, SchemaField]:
        """The module's fields (one call, cached)."""
        if self._schema is None:
            self._schema = self.fields_of(self.object, "schema")
        return self._schema

    def fields_of(self, module: str, kind: str) -> dict[str, SchemaField]:
        """``GET /settings/fields?module=...`` as SchemaFields (``id`` added when not listed)."""
        body = self._run(kind, lambda: self._get(kind, f"{self.base}/settings/fields", {"module": module}))
        out = {str(f["api_name"]): schema_field(f) for f in body.get("fields") or [] if isinstance(f, dict)}
        out.setdefault("id", SchemaField("id", "bigint", False, None, {"kind": "id"}))
        return out

    def cached_schema(self) -> dict[str, SchemaField] | None:
        return self._schema

    def close(self) -> None:
        self._session.close()
        self.tokens.close()

    # ------------------------------------------------------------------ calls
    def _count(self, kind: str) -> None:
        self.calls += 1
        self.calls_by_kind[kind] += 1

    def _request(self, kind: str, method: str, url: str, credits: int = 1, **kwargs: Any) -> requests.Response:
        url_now = url
        token = self.tokens.token()
        self._sent_token = token
        headers = {
            "Authorization": f"Zoho-oauthtoken {token}",
            "Accept": "application/json",
            **kwargs.pop("headers", {}),
        }
        self._count(kind)
        resp = self._session.request(method, url_now, headers=headers, timeout=self.timeout, **kwargs)
        self.server_time = parse_http_date(header(resp.headers, "Date")) or self.server_time
        left = header(resp.headers, "X-API-CREDITS-REMAINING")
        self.credits_left = int(left) if left is not None and left.strip().isdigit() else None
        if resp.status_code not in (401, 429):  # a refused call costs nothing
            self.credits_spent += credits
        return resp

    def _get(self, kind: str, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        resp = self._request(kind, "GET", url, params=params)
        if resp.status_code >= 400:
            raise ZohoHTTPError(resp.status_code, dict(resp.headers), resp.content)
        body = resp.json() if resp.content else {}
        return body if isinstance(body, dict) else {}

    def _page(
        self, url: str, params: dict[str, str], after: datetime | None, kind: str, credits: int = 1
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """One page: (rows, info); 204 (nothing at all) and 304 (nothing modified) give none."""
        headers = {"If-Modified-Since": after.isoformat(timespec="seconds")} if after is not None else {}
        resp = self._request(kind, "GET", url, credits, params=params, headers=headers)
        if resp.status_code in (204, 304):
            return [], {"more_records": False}
        if resp.status_code >= 400:
            raise ZohoHTTPError(resp.status_code, dict(resp.headers), resp.content)
        body = as_dict(resp.json())
        rows = [r for r in body.get("data") or [] if isinstance(r, dict)]
        return rows, as_dict(body.get("info"))

    def _list(
        self, module: str, params: dict[str, str], page: int, token: str | None, after: datetime | None, kind: str
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        args = {**params, **({"page_token": token} if token else {"page": str(page)})}
        return self._page(f"{self.base}/{module}", args, after, kind)

    def _run(self, kind: str, fn: Callable[[], T]) -> T:
        op = Op("zoho", self.object, kind)
        return self.policy.run(fn, op, self._classify, lambda: self.tokens.invalidate(self._sent_token))

    def _classify(self, exc: BaseException, op: Op) -> CrmsegError | None:
        return classify(exc, op, self.tokens.credential)

    # ------------------------------------------------------------------ reading
    def _columns(self, fields: Sequence[str]) -> list[str]:
        schema = self.schema()
        wanted = [f for f in fields if f != "id"]
        unknown = [f for f in wanted if f not in schema]
        if unknown:
            raise ConfigError(f"zoho: field(s) {', '.join(unknown)} not found on {self.object} (check the mapping)")
        columns = list(dict.fromkeys([*wanted, self.modified_field, "Modified_Time"]))
        if len(columns) > MAX_FIELDS:
            raise ConfigError(
                f"zoho: a read names {len(columns)} fields of {self.object}; Zoho answers at most {MAX_FIELDS} a call "
                "(map fewer fields)"
            )
        return columns

    def _raw(self, row: dict[str, Any], fields: Sequence[str]) -> RawRecord:
        rid = str(row["id"])
        out: dict[str, Any] = {}
        for name in fields:
            value = rid if name == "id" else row.get(name)
            out[name] = lookup_id(value)
        return RawRecord(id=rid, fields=out)

    # ------------------------------------------------------------------ writing
    def _write_batch(self, chunk: Sequence[TagWrite], schema: TMapping[str, SchemaField]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(chunk)
        sent: list[int] = []
        data: list[dict[str, Any]] = []
        for i, w in enumerate(chunk):
            try:
                item = {"id": w.id, **{name: wire_value(schema[name], value) for name, value in w.fields.items()}}
            except ValueError as exc:
                results[i] = WriteResult(w.id, False, str(exc))
                continue
            sent.append(i)
            data.append(item)
        if sent:
            payload = json.dumps({"data": data, "trigger": list(self.cfg.triggers)})
            cost = math.ceil(len(data) / RECORDS_PER_CREDIT)

            def call() -> list[Any]:
                resp = self._request(
                    "write",
                    "PUT",
                    f"{self.base}/{self.object}",
                    credits=cost,
                    data=payload,
                    headers={"Content-Type": "application/json"},
                )
                body: Any = resp.json() if resp.content else None
                answers = body.get("data") if isinstance(body, dict) else None
                if resp.status_code in (200, 207, 400) and isinstance(answers, list) and len(answers) == len(data):
                    return answers
                raise ZohoHTTPError(resp.status_code, dict(resp.headers), resp.content)

            answers = self._run("write", call)
            for n, i in enumerate(sent):
                results[i] = outcome(chunk[i].id, answers[n], self.policy.redact)
        return [r for r in results if r is not None]


def _second_before(since: datetime) -> datetime:
    """``since`` as a whole second, less one: what ``If-Modified-Since`` sends for "at or after"."""
    when = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    return when.replace(microsecond=0) - timedelta(seconds=1)
