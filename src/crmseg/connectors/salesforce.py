"""Salesforce accounts through simple-salesforce (REST query, sObject Collections, Bulk API 2.0).

Auth (:mod:`crmseg.connectors.salesforce_auth`): username + password + security token,
OAuth 2.0 client credentials or JWT bearer, or an existing session id + instance URL;
credentials come only from the environment variables the config names. The login answers a
session id and a base, which the connector hands to ``Salesforce(session_id=...,
instance_url=...)``, pointing that instance's ``base_url`` / ``bulk2_url`` at the configured
base (``instance_url`` may be plain ``http://127.0.0.1:PORT``) — no library code is patched.
Bulk API 2.0 writes are :mod:`crmseg.connectors.salesforce_bulk`; values and answers as
Salesforce spells them, :mod:`crmseg.connectors.salesforce_values`.

Every HTTP call goes through one ``requests.Session`` whose response hook counts calls
(``calls``, ``calls_by_kind``) and tracks ``Sforce-Limit-Info`` (``api_usage``); every
operation runs under the shared :class:`~crmseg.connectors.retry.RetryPolicy`.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from collections.abc import Mapping as TMapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlparse

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError, SalesforceOperationError

from crmseg.config import Mapping, SalesforceSync
from crmseg.connectors.base import Capabilities, Connector, CrmIdentity
from crmseg.connectors.limits import ApiUsage, header, parse_http_date, parse_retry_after
from crmseg.connectors.retry import Op, RetryPolicy, auth_refused, chunks, http_error, paginate
from crmseg.connectors.salesforce_auth import SalesforceAuth, org_from_id_url, org_id15
from crmseg.connectors.salesforce_bulk import BulkJob, bulk_update
from crmseg.connectors.salesforce_deals import SalesforceDeals
from crmseg.connectors.salesforce_values import collection_result, schema_field, sf_error_detail, sf_value
from crmseg.dates import parse_iso
from crmseg.errors import AuthRefusedError, ConfigError, CrmsegError, FatalError
from crmseg.model import RawRecord, SchemaField, TagWrite, WriteResult

log = logging.getLogger(__name__)
T = TypeVar("T")

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(__c|__r)?$")
SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
MAX_RESUMES = 3
MAX_COLLECTION = 200
DEFAULT_MODIFIED = "SystemModstamp"


def check_ident(name: str, what: str = "field") -> str:
    """``name`` if it is a plain Salesforce API name, else ConfigError (no SOQL injection)."""
    if not isinstance(name, str) or not IDENT.fullmatch(name):
        raise ConfigError(
            f"salesforce: {what} name {name!r} is not a valid API name "
            "(letters, digits and underscores, starting with a letter)"
        )
    return name


def soql_datetime(when: datetime) -> str:
    """A SOQL dateTime literal in UTC, floored to the second: ``2026-11-01T00:00:00Z``.

    A naive datetime is taken as UTC. Flooring (with ``>=``) re-reads at most one second, never skips.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sf_datetime(value: Any) -> datetime | None:
    """A Salesforce dateTime (``2026-11-01T00:00:00.000+0000``) as an aware UTC datetime, else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def build_soql(
    obj: str,
    fields: Sequence[str],
    order_field: str,
    since: datetime | None,
    after: tuple[datetime, str] | None = None,
    convert: Collection[str] = (),
) -> str:
    """``SELECT f1, f2 FROM Obj [WHERE Mod >= X] ORDER BY Mod, Id`` from validated names only.

    Fields in ``convert`` are selected as ``convertCurrency(F)`` (the corporate currency in a
    multi-currency org); Salesforce answers them under the field's own name.

    ``>=`` on the floored second, not ``>``: SystemModstamp is compared at whole seconds, so a
    record changed later in the watermark's own second would otherwise never be read again.
    Re-reading the boundary second is harmless (the diff finds nothing to write).
    """
    check_ident(obj, "object")
    names = [f"convertCurrency({f})" if f in convert else f for f in (check_ident(f) for f in fields)]
    check_ident(order_field)
    where = f" WHERE {order_field} >= {soql_datetime(since)}" if since is not None else ""
    if after is not None:  # keyset resume: strictly after the last (stamp, Id) read
        stamp, last_id = soql_datetime(after[0]), after[1]
        if not SF_ID.fullmatch(last_id):
            raise FatalError(f"salesforce {obj} query: cannot resume after id {last_id!r}")
        where = f" WHERE ({order_field} > {stamp} OR ({order_field} = {stamp} AND Id > '{last_id}'))"
    return f"SELECT {', '.join(names)} FROM {obj}{where} ORDER BY {order_field}, Id"


class QueryLocatorLost(FatalError):
    """The query cursor is gone (expired or consumed); ``read`` resumes by keyset."""


class _Session(requests.Session):
    """A requests session with a default timeout for every call the library makes."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


class SalesforceConnector(Connector):
    """The Connector protocol for one Salesforce object (``mapping.object``, default Account).

    Claims: incremental reads on ``SystemModstamp`` (or the mapping's modified field) against
    the server's clock, Bulk API 2.0 writes, API limits, a described object schema, the
    org's identity: from the OAuth token answer's ``id`` URL when the auth flow has one (no
    extra call), else one ``SELECT Id FROM Organization`` query; and, when the mapping has a
    ``[deals]`` part, deal reads (Opportunities, :mod:`crmseg.connectors.salesforce_deals`)."""

    crm = "salesforce"
    field_names_case_insensitive = True

    def __init__(
        self,
        cfg: SalesforceSync,
        mapping: Mapping,
        env: TMapping[str, str] = os.environ,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 60.0,
        bulk_wait: float = 1.0,
    ) -> None:
        self.cfg = cfg
        self.mapping = mapping
        self.object = check_ident(mapping.object or "Account", "object")
        self.modified_field = check_ident(mapping.modified_field or DEFAULT_MODIFIED)
        self.batch_size = max(1, min(cfg.batch_size or MAX_COLLECTION, MAX_COLLECTION))
        self.bulk_threshold = cfg.bulk_threshold
        self.bulk_wait = bulk_wait
        self.policy = policy or RetryPolicy()
        self.calls = 0
        self.calls_by_kind: Counter[str] = Counter()
        self._usage = ApiUsage()
        self._kind = "other"
        self._last_headers: TMapping[str, str] = {}
        #: The CRM's clock (``Date`` header of the latest response): where the next watermark starts.
        self.server_time: datetime | None = None
        self._auth = SalesforceAuth(cfg, env, self.policy.redact.add)
        if cfg.auth == "password":
            log.warning(
                "salesforce sync %r: auth = 'password' uses SOAP login(), which Salesforce is retiring "
                "(unavailable from API 65.0, off in new orgs); switch to auth = 'client_credentials' or "
                "'jwt' (README: Salesforce login)",
                cfg.name or "salesforce",
            )
        self._session = _Session(timeout)
        self._session.hooks["response"].append(self._on_response)
        self._sf: Salesforce | None = None
        self._schema: dict[str, SchemaField] | None = None
        self._described: dict[str, dict[str, Any]] = {}
        #: The org id (15 characters) the latest OAuth token answer named, if any.
        self._token_org: str | None = None
        self._identity: CrmIdentity | None = None
        self._instance_url = ""
        #: Deal reads, when the mapping has a ``[deals]`` part (connectors/salesforce_deals.py).
        self._deals = SalesforceDeals(self, mapping.deals) if mapping.deals is not None else None

    # ------------------------------------------------------------------ public
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            incremental=self, bulk_write=self, api_limits=self, object_schema=self, identity=self, deals=self._deals
        )

    def crm_identity(self) -> CrmIdentity:
        """The org this connector is logged in to (cached; see the class's documentation)."""
        if self._identity is None:
            self._run("auth", self._client)  # a refused login is mapped like any other call's failure
            org = self._token_org
            if org is None:  # session id or SOAP login: no identity URL to read
                res = self._run("identity", lambda: self._client().query("SELECT Id FROM Organization"))
                records = res.get("records") or []
                org = org_id15(records[0].get("Id")) if records else None
                if org is None:
                    raise FatalError("salesforce Organization query: no organization id in the answer")
            self._identity = CrmIdentity("salesforce", org, self._instance_url)
        return self._identity

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, max) from the latest ``Sforce-Limit-Info`` header, or None before any call."""
        return self._usage.as_tuple()

    @property
    def api_remaining(self) -> tuple[int, int] | None:
        """(calls left today, daily allowance) from ``Sforce-Limit-Info``, or None before any call."""
        usage = self._usage.as_tuple()
        return (max(0, usage[1] - usage[0]), usage[1]) if usage else None

    def read(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Yield records lazily, page by page, ordered by modification stamp then Id (:meth:`query_records`)."""
        yield from self.query_records(self.object, fields, self.modified_field, since)

    def query_records(
        self,
        obj: str,
        fields: Sequence[str],
        order_field: str,
        since: datetime | None = None,
        *,
        kind: str = "query",
        convert: Collection[str] = (),
        optional: Collection[str] = (),
    ) -> Iterator[RawRecord]:
        """``obj``'s records (``query``: deleted ones absent), or those whose ``order_field`` is at or
        after ``since``, lazily, page by page, ordered by ``order_field`` then Id.

        Field names resolve case-insensitively against ``obj``'s describe; a missing one is a
        ConfigError unless it is ``optional`` (then left out of the query and None in every
        record). ``convert``: fields selected through ``convertCurrency()``. Calls count under
        ``kind``. If the query locator dies mid-way (expired, or consumed by a call whose answer
        was lost), the query resumes after the last record yielded (keyset on stamp, Id).
        """
        present = self._present(obj, [*fields, "Id", order_field], optional)
        wanted = {f: present[f] for f in fields if f in present} | {"Id": present["Id"]}
        wanted[order_field] = present[order_field]
        names = list(dict.fromkeys(wanted.values()))
        renames = [(req, canon) for req, canon in wanted.items() if req != canon]
        renames += [(f, "") for f in fields if f not in present]  # optional and absent: None
        order = wanted[order_field]
        converted = {wanted[f] for f in convert if f in wanted}
        opts = {"Sforce-Query-Options": f"batchSize={self.cfg.page_size}"}
        last: tuple[datetime, str] | None = None
        last_raw: tuple[Any, str] | None = None  # parsed only when resuming: not per record
        for attempt in range(MAX_RESUMES + 1):
            if last_raw is not None:
                stamp = parse_sf_datetime(last_raw[0])
                last = (stamp, last_raw[1]) if stamp is not None else last
            soql = build_soql(obj, names, order, since, after=last, convert=converted)
            log.debug("salesforce %s query: %s", obj, soql)

            def fetch(cursor: str | None, soql: str = soql) -> tuple[list[RawRecord], str | None]:
                sf = self._client()
                if cursor is None:
                    res = sf.query(soql, headers=opts)
                else:
                    res = _answer(sf.restful(self._relative(cursor), headers=opts), f"salesforce {obj} query")
                recs = [self._raw(r, renames) for r in res.get("records", [])]
                return recs, (None if res.get("done", True) else res.get("nextRecordsUrl"))

            op = Op("salesforce", obj, "query")
            try:
                for rec in paginate(fetch, lambda f: self._run(kind, f, obj), op):
                    yield rec
                    if rec.fields.get(order) is not None:
                        last_raw = (rec.fields.get(order), rec.id)
                return
            except QueryLocatorLost:
                if last_raw is None or attempt == MAX_RESUMES:
                    raise
                log.warning("salesforce %s query: locator lost; resuming after %s", obj, last_raw[1])

    def describe(self, obj: str, kind: str = "describe") -> dict[str, Any]:
        """``obj``'s ``describe`` answer (one call per object for the connector's life, counted under ``kind``)."""
        if obj not in self._described:
            check_ident(obj, "object")
            self._described[obj] = _answer(
                self._run(kind, lambda: self._client().restful(f"sobjects/{obj}/describe"), obj),
                f"salesforce {obj} describe",
            )
        return self._described[obj]

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """One result per input, in order, through sObject Collections (<=200 records a call).

        Bulk API 2.0 is :meth:`write_bulk`; the sync writer chooses it (above ``bulk_threshold``
        pending writes in one run), so the choice is made in that one place."""
        if not writes:
            return []
        for w in writes:
            for name in w.fields:
                check_ident(name)
        out: list[WriteResult] = []
        for chunk in chunks(writes, self.batch_size):
            out.extend(self._write_collection(chunk))
        return out

    def write_bulk(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """One Bulk API 2.0 update job for ``writes`` whatever their number; one result per input, in order."""
        for w in writes:
            for name in w.fields:
                check_ident(name)
        if not writes:
            return []
        job = BulkJob(
            client=getattr(self._client().bulk2, self.object)._client,
            run=self._run,
            policy=self.policy,
            object=self.object,
            first_wait=self.bulk_wait,
        )
        return bulk_update(job, writes)

    def schema(self) -> dict[str, SchemaField]:
        """The object's fields from ``describe`` (cached for the connector's life)."""
        if self._schema is None:
            desc = self.describe(self.object)
            self._schema = {f["name"]: schema_field(f) for f in desc.get("fields", [])}
        return self._schema

    def cached_schema(self) -> dict[str, SchemaField] | None:
        """The ``describe`` result when :meth:`schema` has fetched it, else None (no call)."""
        return self._schema

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ internals
    def _run(self, kind: str, fn: Callable[[], T], obj: str | None = None) -> T:
        def call() -> T:
            self._kind = kind
            return fn()

        return self.policy.run(call, Op("salesforce", obj or self.object, kind), self._classify, self._reauth)

    def _on_response(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        self.calls_by_kind[self._kind] += 1
        self._last_headers = resp.headers
        self._usage.observe(resp.headers)
        self.server_time = parse_http_date(resp.headers.get("Date")) or self.server_time
        if self._kind == "auth" and resp.ok and urlparse(resp.url).path.endswith("/services/oauth2/token"):
            # simple-salesforce keeps only the token and instance of this answer; its ``id`` URL names the org
            try:
                self._token_org = org_from_id_url(resp.json().get("id"))
            except (ValueError, AttributeError):
                self._token_org = None

    def _classify(self, exc: BaseException, op: Op) -> CrmsegError | None:
        if isinstance(exc, SalesforceAuthenticationFailed):
            login = Op("salesforce", self.object, "login")
            if isinstance(exc.code, int) and (exc.code >= 500 or exc.code == 429):
                return http_error(login, exc.code)
            # the login answer's own code (invalid_grant, INVALID_LOGIN) says more than its status
            return auth_refused(login, None, str(exc.code), str(exc.auth_message or ""), self._auth.credential_text())
        if isinstance(exc, SalesforceError):
            code, detail = sf_error_detail(exc.content)
            if code == "INVALID_QUERY_LOCATOR":
                return QueryLocatorLost(f"{op}: HTTP {exc.status} {code}: {detail}")
            retry_after = parse_retry_after(header(self._last_headers, "Retry-After"))
            return http_error(op, exc.status, code, detail, retry_after, self._auth.credential_text())
        if isinstance(exc, SalesforceOperationError):
            return FatalError(f"{op}: {exc}")
        return None

    def _connect(self) -> Salesforce:
        kind, self._kind = self._kind, "auth"
        try:
            sid, base = self._auth.login(self._session)
        finally:
            self._kind = kind
        ver = self.cfg.api_version
        sf = Salesforce(session_id=sid, instance_url=base, version=ver, session=self._session, object_pairs_hook=dict)
        sf.base_url = f"{base}/services/data/v{ver}/"
        sf.bulk2_url = f"{sf.base_url}jobs/"
        self._sf, self._instance_url = sf, base
        return sf

    def _client(self) -> Salesforce:
        return self._sf if self._sf is not None else self._connect()

    def _reauth(self) -> None:
        if self.cfg.auth == "session":
            raise AuthRefusedError(
                f"Salesforce refused the session id in {self.cfg.session_id_env} (401 INVALID_SESSION_ID: "
                f"expired or invalid) at salesforce {self.object}; supply a fresh one"
            )
        self._sf = None
        self._connect()

    def _relative(self, next_url: str) -> str:
        """A ``nextRecordsUrl`` relative to the REST base (keeps http:// bases intact)."""
        prefix = urlparse(self._client().base_url).path
        path = urlparse(next_url).path
        if not path.startswith(prefix):
            raise FatalError(f"salesforce {self.object} query: unexpected nextRecordsUrl outside {prefix}")
        query = urlparse(next_url).query
        return path[len(prefix) :] + (f"?{query}" if query else "")

    def _present(self, obj: str, fields: Sequence[str], optional: Collection[str] = ()) -> dict[str, str]:
        """Requested name -> the API name ``obj``'s describe spells (case-insensitive, like SOQL);
        ConfigError naming the fields it lacks, except ``optional`` ones (left out of the answer)."""
        for f in fields:
            check_ident(f)
        if obj == self.object:
            by_lower = {name.lower(): name for name in self.schema()}
        else:
            by_lower = {str(f["name"]).lower(): str(f["name"]) for f in self.describe(obj).get("fields", [])}
        maybe = {o.lower() for o in optional}
        missing = [f for f in fields if f.lower() not in by_lower and f.lower() not in maybe]
        if missing:
            where = f"{self.mapping.path}: " if self.mapping.path else ""
            raise ConfigError(f"{where}field {', '.join(missing)} not found on {obj}")
        return {f: by_lower[f.lower()] for f in fields if f.lower() in by_lower}

    def _raw(self, rec: dict[str, Any], renames: list[tuple[str, str]]) -> RawRecord:
        fields = {k: v for k, v in rec.items() if k != "attributes"}
        for requested, canonical in renames:
            fields[requested] = fields.get(canonical) if canonical else None
        return RawRecord(id=str(rec.get("Id")), fields=fields)

    def _write_collection(self, chunk: Sequence[TagWrite]) -> list[WriteResult]:
        body = {
            "allOrNone": False,
            "records": [
                {"attributes": {"type": self.object}, "id": w.id, **{k: sf_value(v) for k, v in w.fields.items()}}
                for w in chunk
            ],
        }
        res = self._run("update", lambda: self._client().restful("composite/sobjects", method="PATCH", json=body))
        if not isinstance(res, list) or len(res) != len(chunk):
            raise FatalError(
                f"salesforce {self.object} update: expected {len(chunk)} results, got "
                f"{len(res) if isinstance(res, list) else type(res).__name__}"
            )
        return [collection_result(w.id, r, self.policy.redact) for w, r in zip(chunk, res, strict=True)]


def _answer(res: Any | None, what: str) -> Any:
    """A REST answer that must have a body (``restful`` gives None for an empty 204 answer)."""
    if res is None:
        raise FatalError(f"{what}: empty answer where a JSON body was expected")
    return res
