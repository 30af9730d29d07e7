"""Salesforce accounts through simple-salesforce (REST query, sObject Collections, Bulk API 2.0).

Auth: username + password + security token, OAuth 2.0 JWT bearer (consumer key + private
key file) or an existing session id + instance URL; credentials come only from the
environment variables the config names. ``instance_url`` may be plain
``http://127.0.0.1:PORT``: we log in against it ourselves (SOAP login via the library's
``scratch_url``, or its ``token_login`` for JWT), then hand the session to
``Salesforce(session_id=..., instance_url=...)`` and point that instance's ``base_url`` /
``bulk2_url`` at the configured base — no library code is patched.

Every HTTP call goes through one ``requests.Session`` whose response hook counts calls
(``calls``, ``calls_by_kind``) and tracks ``Sforce-Limit-Info`` (``api_usage``); every
operation runs under the shared :class:`~crmseg.connectors.retry.RetryPolicy`.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from collections.abc import Mapping as TMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import jwt
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError, SalesforceOperationError
from simple_salesforce.login import SalesforceLogin, token_login

from crmseg.config import Mapping, SalesforceSync
from crmseg.connectors.base import Capabilities, Connector, CrmIdentity
from crmseg.connectors.limits import ApiUsage, header, parse_http_date, parse_retry_after
from crmseg.connectors.retry import Op, RetryPolicy, auth_refused, chunks, http_error, paginate
from crmseg.connectors.salesforce_bulk import BulkJob, bulk_update
from crmseg.connectors.salesforce_deals import SalesforceDeals
from crmseg.connectors.salesforce_values import sf_value
from crmseg.dates import parse_iso
from crmseg.errors import AuthRefusedError, ConfigError, CrmsegError, FatalError
from crmseg.model import RawRecord, SchemaField, TagWrite, WriteResult

log = logging.getLogger(__name__)
T = TypeVar("T")

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(__c|__r)?$")
SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
ORG_ID = re.compile(r"^00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")
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


def org_from_id_url(url: Any) -> str | None:
    """The org id (15 characters) in an OAuth identity URL ``https://login.salesforce.com/id/<org>/<user>``."""
    if not isinstance(url, str):
        return None
    parts = urlparse(url).path.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "id" and ORG_ID.fullmatch(parts[1]):
        return parts[1][:15]
    return None


def org_id15(value: Any) -> str | None:
    """An org id (15 or 18 characters, as SOQL or the identity URL spell it) in its 15-character form."""
    return value[:15] if isinstance(value, str) and ORG_ID.fullmatch(value) else None


def sf_error_detail(content: Any) -> tuple[str | None, str | None]:
    """(errorCode, message) from a Salesforce error body (a JSON list, a dict or text)."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        content = content[0]
    if isinstance(content, dict):
        return content.get("errorCode") or content.get("error"), content.get("message") or content.get(
            "error_description"
        )
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return None, str(content) if content else None


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
        self._creds = self._credentials(env)
        if cfg.auth == "password":
            log.warning(
                "salesforce sync %r: auth = 'password' uses SOAP login(), which Salesforce is retiring "
                "(unavailable from API 65.0, off in new orgs); switch to auth = 'client_credentials' or "
                "'jwt' (README: Salesforce login)",
                cfg.name or "salesforce",
            )
        self.policy.redact.add(*self._creds.values())
        if "password" in self._creds:  # SOAP login sends password + security token as one word
            self.policy.redact.add(self._creds["password"] + self._creds["token"])
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
            self._schema = {f["name"]: _schema_field(f) for f in desc.get("fields", [])}
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
            return auth_refused(login, None, str(exc.code), str(exc.auth_message or ""), self._credential_text())
        if isinstance(exc, SalesforceError):
            code, detail = sf_error_detail(exc.content)
            if code == "INVALID_QUERY_LOCATOR":
                return QueryLocatorLost(f"{op}: HTTP {exc.status} {code}: {detail}")
            retry_after = parse_retry_after(header(self._last_headers, "Retry-After"))
            return http_error(op, exc.status, code, detail, retry_after, self._credential_text())
        if isinstance(exc, SalesforceOperationError):
            return FatalError(f"{op}: {exc}")
        return None

    def _credential_text(self) -> str:
        """Where this sync's credentials come from, for a refusal's message: the environment
        variables the config names for its auth flow (their values are never shown)."""
        names = list(self._credential_vars.values())
        if self.cfg.auth == "session":
            return f"the session id in {names[0]}"
        return f"the {self.cfg.auth} login with the credentials in {', '.join(names[:-1])} and {names[-1]}"

    def _credentials(self, env: TMapping[str, str]) -> dict[str, str]:
        cfg = self.cfg
        need = {
            "password": {"username": cfg.username_env, "password": cfg.password_env, "token": cfg.security_token_env},
            "jwt": {
                "username": cfg.username_env,
                "consumer_key": cfg.consumer_key_env,
                "key_file": cfg.private_key_file_env,
            },
            "client_credentials": {"consumer_key": cfg.consumer_key_env, "consumer_secret": cfg.consumer_secret_env},
            "session": {"session_id": cfg.session_id_env},
        }[cfg.auth]
        self._credential_vars = need
        missing = [var for var in need.values() if not env.get(var)]
        if missing:
            raise ConfigError(
                f"{cfg.name or 'salesforce'}: auth = {cfg.auth!r} needs environment variable(s) {', '.join(missing)}"
            )
        if cfg.auth == "session" and not cfg.instance_url:
            raise ConfigError(f"{cfg.name or 'salesforce'}: auth = 'session' needs instance_url")
        creds = {key: env[var] for key, var in need.items()}
        if cfg.auth == "jwt":
            _check_private_key(Path(creds["key_file"]), cfg.private_key_file_env, cfg.name or "salesforce")
        return creds

    def _base(self) -> str | None:
        if not self.cfg.instance_url:
            return None
        u = urlparse(self.cfg.instance_url)
        return f"{u.scheme or 'https'}://{u.netloc or u.path}".rstrip("/")

    def _login(self) -> tuple[str, str]:
        """(session id, REST base URL) for the configured auth flow."""
        cfg, c, base = self.cfg, self._creds, self._base()
        self._kind = "auth"
        if cfg.auth == "session":
            assert base is not None  # _credentials refused auth = 'session' without instance_url
            return c["session_id"], base
        if cfg.auth == "client_credentials":
            token_url = f"{base or f'https://{cfg.domain}.salesforce.com'}/services/oauth2/token"
            basic = base64.b64encode(f"{c['consumer_key']}:{c['consumer_secret']}".encode()).decode()
            sid, host = token_login(
                token_url,
                {"grant_type": "client_credentials"},
                cfg.domain,
                c["consumer_key"],
                {"Authorization": f"Basic {basic}"},
                None,
                self._session,
            )
        elif cfg.auth == "password":
            # scratch_url only when set: older simple-salesforce releases have no such SalesforceLogin parameter
            extra: dict[str, Any] = {"scratch_url": base} if base else {}
            sid, host = SalesforceLogin(
                username=c["username"],
                password=c["password"],
                security_token=c["token"],
                sf_version=cfg.api_version,
                session=self._session,
                domain=cfg.domain,
                **extra,
            )
        elif base:
            sid, host = token_login(
                f"{base}/services/oauth2/token",
                self._jwt_grant(),
                cfg.domain,
                c["consumer_key"],
                None,
                None,
                self._session,
            )
        else:
            sid, host = SalesforceLogin(
                username=c["username"],
                consumer_key=c["consumer_key"],
                privatekey_file=c["key_file"],
                domain=cfg.domain,
                session=self._session,
            )
        self.policy.redact.add(sid)
        return sid, base or f"https://{host}"

    def _jwt_grant(self) -> dict[str, str]:
        c = self._creds
        exp = int(datetime.now(UTC).timestamp()) + 180
        claims = {
            "iss": c["consumer_key"],
            "sub": c["username"],
            "aud": f"https://{self.cfg.domain}.salesforce.com",
            "exp": exp,
        }
        assertion = jwt.encode(claims, Path(c["key_file"]).read_bytes(), algorithm="RS256")
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}

    def _connect(self) -> Salesforce:
        kind = self._kind
        try:
            sid, base = self._login()
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
        return [_collection_result(w.id, r, self.policy.redact) for w, r in zip(chunk, res, strict=True)]


def _answer(res: Any | None, what: str) -> Any:
    """A REST answer that must have a body (``restful`` gives None for an empty 204 answer)."""
    if res is None:
        raise FatalError(f"{what}: empty answer where a JSON body was expected")
    return res


def _collection_result(record_id: str, res: dict[str, Any], redact: Callable[[str], str]) -> WriteResult:
    if res.get("success"):
        return WriteResult(record_id, True)
    errs = res.get("errors") or []
    text = (
        "; ".join(
            f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}"
            + (f" (fields: {', '.join(e['fields'])})" if e.get("fields") else "")
            for e in errs
        )
        or "failed without an error message"
    )
    return WriteResult(record_id, False, redact(text))


def _schema_field(f: dict[str, Any]) -> SchemaField:
    ftype = str(f.get("type", "string"))
    options = None
    if ftype in ("picklist", "multipicklist"):
        options = [p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)]
    return SchemaField(
        name=f["name"],
        type=ftype,
        updateable=bool(f.get("updateable", False)),
        options=options,
        extra={"label": f.get("label"), "restricted": bool(f.get("restrictedPicklist", False))},
    )


def _check_private_key(path: Path, env_var: str, name: str) -> None:
    """The JWT private key must exist and be an RSA key in PEM form (ConfigError naming the variable)."""
    where = f"{name}: the private key file named by {env_var} ({path})"
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{where} not found") from None
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read: {exc.strerror}") from None
    try:
        jwt.encode({"check": 1}, pem, algorithm="RS256")
    except Exception:
        raise ConfigError(f"{where} is not an RSA private key in PEM form (-----BEGIN PRIVATE KEY----- ...)") from None
