"""HubSpot companies through hubspot-api-client (CRM v3 objects, search, batch, properties).

``host`` may be plain ``http://127.0.0.1:PORT`` (the client's Configuration takes it as
given). The client's own urllib3 retries are switched off (``Retry(0)``) so the shared
:class:`~crmseg.connectors.retry.RetryPolicy` is the only place that retries; responses are
read raw (``_preload_content=False``) so every call's status and rate-limit headers are
seen in one place (:meth:`HubSpotConnector._call`) and records stay plain dicts.
Tag property provisioning is :mod:`crmseg.connectors.hubspot_provision`; names, values and
answers as HubSpot spells them, :mod:`crmseg.connectors.hubspot_values`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as TMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from hubspot import HubSpot
from hubspot.crm.associations.v4.exceptions import ApiException as AssociationsApiException
from hubspot.crm.companies.exceptions import ApiException as CompaniesApiException
from hubspot.crm.deals.exceptions import ApiException as DealsApiException
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException
from urllib3.util.retry import Retry

from crmseg.config import HubSpotSync, Mapping
from crmseg.connectors.base import Capabilities, Connector, CrmIdentity
from crmseg.connectors.hubspot_deals import HubSpotDeals
from crmseg.connectors.hubspot_provision import provision_properties
from crmseg.connectors.hubspot_values import (
    batch_results,
    check_prop,
    error_body,
    hs_value,
    portal_identity,
    schema_field,
    to_ms,
)
from crmseg.connectors.limits import RateGate, header, hubspot_wait_hint, parse_http_date, parse_retry_after
from crmseg.connectors.retry import CursorWalk, Op, RetryPolicy, chunks, http_error, paginate
from crmseg.errors import ConfigError, CrmsegError, FatalError
from crmseg.model import RawRecord, SchemaField, TagWrite, WriteResult

log = logging.getLogger(__name__)
T = TypeVar("T")

LIST_LIMIT = 100
SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
MAX_BATCH = 100
MAX_ASSOCIATIONS = 1_000  # ids per v4 association batch read
DEFAULT_MODIFIED = "hs_lastmodifieddate"
OBJECT_ID = "hs_object_id"
_API_EXC = (CompaniesApiException, DealsApiException, AssociationsApiException, PropertiesApiException)


@dataclass(frozen=True)
class _ObjectApis:
    """The client APIs of one object type and the call kinds its reads count under."""

    basic: str
    search: str
    list_kind: str
    search_kind: str


_OBJECTS = {
    "companies": _ObjectApis("basic", "search", "list", "search"),
    "deals": _ObjectApis("deals_basic", "deals_search", "deal_list", "deal_search"),
}
#: HubSpot's search rate limit is per portal, whatever the object: every search call waits on one gate.
_GATE_KIND = {"deal_search": "search"}


class HubSpotConnector(Connector):
    """The Connector protocol for HubSpot companies.

    Claims: incremental reads (search API) against the server's clock, tag property
    provisioning, API limits (daily allowance headers), a described object schema, the
    portal's identity (``GET /account-info/v3/details`` → ``portalId``, one call), and, when
    the mapping has a ``[deals]`` part, deal reads (:mod:`crmseg.connectors.hubspot_deals`)."""

    crm = "hubspot"
    field_names_case_insensitive = False

    def __init__(
        self,
        cfg: HubSpotSync,
        mapping: Mapping,
        env: TMapping[str, str] = os.environ,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        search_cap: int = SEARCH_CAP,
        search_limit: int = SEARCH_LIMIT,
        search_interval: float = 0.25,
    ) -> None:
        obj = (mapping.object or "companies").lower()
        if obj not in ("account", "companies", "company"):
            raise ConfigError(
                f"{mapping.path or 'hubspot mapping'}: object {mapping.object!r} is not supported "
                "(allowed: 'companies')"
            )
        self.cfg, self.mapping, self.env = cfg, mapping, env
        self.object = "companies"
        self.modified_field = check_prop(mapping.modified_field or DEFAULT_MODIFIED)
        self.batch_size = max(1, min(cfg.batch_size or MAX_BATCH, MAX_BATCH))
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.search_cap, self.search_limit = search_cap, min(search_limit, SEARCH_LIMIT)
        self.gate = RateGate(sleep=self.policy.pause, min_interval={"search": search_interval})
        self.calls = 0
        self.calls_by_kind: Counter[str] = Counter()
        #: The CRM's clock (``Date`` header of the latest answer): where the next watermark starts.
        self.server_time: datetime | None = None
        self._token = self._read_token()
        self._apis: dict[str, Any] | None = None
        self._schema: dict[str, SchemaField] | None = None
        self._identity: CrmIdentity | None = None
        self._account: dict[str, Any] | None = None
        #: Deal reads, when the mapping has a ``[deals]`` part (connectors/hubspot_deals.py).
        self._deals = HubSpotDeals(self, mapping.deals) if mapping.deals is not None else None

    # ------------------------------------------------------------------ public
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            incremental=self, provision=self, api_limits=self, object_schema=self, identity=self, deals=self._deals
        )

    def crm_identity(self) -> CrmIdentity:
        """The portal the access token belongs to, from the account-info API (one call, cached)."""
        if self._identity is None:
            self._identity = portal_identity(self.account_info())
        return self._identity

    def account_info(self) -> dict[str, Any]:
        """``GET /account-info/v3/details`` (portal id, currencies): one call for the connector's life."""
        if self._account is None:
            self._account = self._run("identity", lambda: self._call("identity", self._account_info))
        return self._account

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """None: HubSpot's headers report what is left (:attr:`api_remaining`), not a usage line."""
        return None

    @property
    def api_remaining(self) -> tuple[int, int] | None:
        """(calls left today, daily allowance) from HubSpot's daily rate-limit headers, or None."""
        gate = self.gate
        if gate.daily_remaining is None:
            return None
        return gate.daily_remaining, gate.daily_max or gate.daily_remaining

    def read(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """All companies (list API), or those modified at/after ``since`` (search API), lazily."""
        props = list(dict.fromkeys([check_prop(f) for f in fields if f != "id"] + [self.modified_field]))
        if since is None:
            found = self.list_objects("companies", props)
        else:
            found = self.search_objects("companies", props, self.modified_field, to_ms(since) or 0)
        for obj in found:
            yield self._raw(obj, fields)

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """Batch update (<=100 a call); one result per input, in order; 207 errors map per id."""
        for w in writes:
            for name in w.fields:
                check_prop(name)
        out: list[WriteResult] = []
        for chunk in chunks(writes, self.batch_size):
            out.extend(self._write_batch(chunk))
        return out

    def schema(self) -> dict[str, SchemaField]:
        """Company properties (cached for the connector's life)."""
        if self._schema is None:
            body = self._run("schema", lambda: self._call("schema", self._api("core").get_all, object_type=self.object))
            self._schema = {p["name"]: schema_field(p) for p in body.get("results", [])}
        return self._schema

    def cached_schema(self) -> dict[str, SchemaField] | None:
        """The property list when :meth:`schema` has fetched it, else None (no call)."""
        return self._schema

    def provision(self, dimensions: TMapping[str, list[str] | None], scores: Sequence[str] = ()) -> list[str]:
        """Create missing tag (and pin) properties in the ``crmseg`` group; add missing options to ours
        (:mod:`crmseg.connectors.hubspot_provision`). Returns the property names created or changed."""
        changed = provision_properties(self, self.mapping, dimensions, scores)
        if changed:
            self._schema = None
        return changed

    def property_call(self, api: str, action: str, **kwargs: Any) -> Any:
        """One ``provision`` call: the method ``action`` of the properties API ``api`` (``core``,
        ``groups``) on the companies, with ``kwargs``; the API client is looked up on each attempt
        (a re-authentication rebuilds it)."""
        return self._run(
            "provision",
            lambda: self._call("provision", getattr(self._api(api), action), object_type=self.object, **kwargs),
        )

    def close(self) -> None:
        for api in (self._apis or {}).values():
            with contextlib.suppress(AttributeError):  # a client without a pool
                api.api_client.rest_client.pool_manager.clear()
        self._apis = None

    # ------------------------------------------------------------------ calls
    def _read_token(self) -> str:
        token = self.env.get(self.cfg.access_token_env)
        if not token:
            raise ConfigError(
                f"{self.cfg.name or 'hubspot'}: environment variable {self.cfg.access_token_env} "
                "(the private-app access token) is not set"
            )
        self.policy.redact.add(token)
        return token

    def _api(self, name: str) -> Any:
        if self._apis is None:
            client = HubSpot(
                access_token=self._token,
                host=self.cfg.host.rstrip("/"),
                retry=Retry(
                    total=0,
                    connect=0,
                    read=0,
                    redirect=0,
                    status=0,
                    other=0,
                    respect_retry_after_header=False,
                    raise_on_status=False,
                ),
            )
            self._apis = {
                "basic": client.crm.companies.basic_api,
                "search": client.crm.companies.search_api,
                "batch": client.crm.companies.batch_api,
                "core": client.crm.properties.core_api,
                "groups": client.crm.properties.groups_api,
                "deals_basic": client.crm.deals.basic_api,
                "deals_search": client.crm.deals.search_api,
                "associations": client.crm.associations.v4.batch_api,
            }
        return self._apis[name]

    def _account_info(self, **kwargs: Any) -> Any:
        """``GET /account-info/v3/details`` through the generated client's transport (the client
        library has no account-info API): same auth, timeout, retries off and error type."""
        api_client = self._api("core").api_client
        return api_client.call_api(
            "/account-info/v3/details",
            "GET",
            header_params={"Accept": "application/json"},
            auth_settings=["oauth2"],
            response_types_map={},
            _return_http_data_only=True,
            **kwargs,
        )

    def _call(self, kind: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """One HTTP call: rate gate, count, rate headers, raw JSON body (errors raise)."""
        self.gate.before_call(_GATE_KIND.get(kind, kind))
        self.calls += 1
        self.calls_by_kind[kind] += 1
        try:
            resp = fn(_preload_content=False, _request_timeout=self.timeout, **kwargs)
        except _API_EXC:
            self.gate.observe(None)  # an error's hint becomes the policy's retry_after instead
            raise
        try:
            self.gate.observe(resp.headers)
            self.server_time = parse_http_date(header(resp.headers, "Date")) or self.server_time
            data = resp.data
        finally:
            resp.release_conn()
        return json.loads(data) if data else {}

    def _run(self, kind: str, fn: Callable[[], T], obj: str | None = None) -> T:
        return self.policy.run(fn, Op("hubspot", obj or self.object, kind), self._classify, self._reauth)

    def _classify(self, exc: BaseException, op: Op) -> CrmsegError | None:
        if not isinstance(exc, _API_EXC):
            return None
        body = error_body(exc.body)
        code = (
            body.get("policyName")
            if body.get("policyName") == "DAILY"
            else (body.get("errorType") or body.get("category"))
        )
        retry_after = parse_retry_after(header(exc.headers, "Retry-After"))
        if retry_after is None and exc.status == 429:
            retry_after = hubspot_wait_hint(exc.headers)
        credential = f"the access token in {self.cfg.access_token_env}"
        return http_error(op, exc.status, code, body.get("message") or exc.reason, retry_after, credential)

    def _reauth(self) -> None:
        """Re-read the token (it may have been rotated) and rebuild the clients."""
        self.close()
        self._token = self._read_token()

    # ------------------------------------------------------------------ reading
    def _raw(self, obj: dict[str, Any], requested: Sequence[str]) -> RawRecord:
        fields = dict(obj.get("properties") or {})
        for name in requested:
            if name not in fields:
                fields[name] = str(obj["id"]) if name == "id" else None
        return RawRecord(id=str(obj["id"]), fields=fields)

    def list_objects(
        self, object_type: str, props: Sequence[str], associations: Sequence[str] = ()
    ) -> Iterator[dict[str, Any]]:
        """Every live object of ``object_type`` (``companies``, ``deals``) as the list API answers
        it, 100 a page, lazily; ``associations``: object types whose links come inline."""
        apis = _OBJECTS[object_type]

        def fetch(after: str | None) -> tuple[list[dict[str, Any]], str | None]:
            args: dict[str, Any] = {"limit": LIST_LIMIT, "properties": list(props)}
            if associations:
                args["associations"] = list(associations)
            if after:
                args["after"] = after
            body = self._call(apis.list_kind, self._api(apis.basic).get_page, **args)
            nxt = ((body.get("paging") or {}).get("next") or {}).get("after")
            return list(body.get("results", [])), nxt

        op = Op("hubspot", object_type, "list")
        yield from paginate(fetch, lambda f: self._run(apis.list_kind, f, object_type), op)

    def search_objects(
        self, object_type: str, props: Sequence[str], modified_field: str, since_ms: int
    ) -> Iterator[dict[str, Any]]:
        """The objects of ``object_type`` modified at or after ``since_ms``, oldest first, each once.

        One query pages through at most ``search_cap`` results (HubSpot's 10,000); the next
        query starts right after the last object read, as (modified time, object id): modified
        after its time, or at its time with a greater ``hs_object_id`` (a second filter group).
        That needs objects sharing a time to come in id order: a search takes one sort, and
        HubSpot (and the sandbox) order ties by object id. So no object is read twice, and any
        number of objects may share one time."""
        apis = _OBJECTS[object_type]
        start: tuple[int, str] | None = None
        while True:
            fetched, after, last = 0, None, start
            walk = CursorWalk[str](Op("hubspot", object_type, "search"))  # one per query: offsets restart
            while True:
                body = self._search_page(apis, object_type, props, modified_field, since_ms, start, after)
                results = body.get("results", [])
                fetched += len(results)
                yield from results
                if results:
                    last = _position(results[-1], modified_field, object_type)
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not after:
                    return
                walk.follow(after)
                if fetched + self.search_limit > self.search_cap:
                    break
            if last is None or last == start:
                raise FatalError(f"hubspot {object_type} search: a full window of results did not move past {start}")
            start = last

    def association_batch(self, from_type: str, to_type: str, ids: Sequence[str]) -> dict[str, Any]:
        """One v4 batch read of the ``from_type`` -> ``to_type`` links of ``ids`` (<= 1,000): the
        answer's body (``results``; ``errors`` for ids without a link, a 207)."""
        if len(ids) > MAX_ASSOCIATIONS:
            raise ValueError(f"at most {MAX_ASSOCIATIONS} ids per association batch read (got {len(ids)})")
        request = {"inputs": [{"id": i} for i in ids]}
        kind = f"{from_type.rstrip('s')}_associations"
        return self._run(
            kind,
            lambda: self._call(
                kind,
                self._api("associations").get_page,
                from_object_type=from_type,
                to_object_type=to_type,
                batch_input_public_fetch_associations_batch_request=request,
            ),
            from_type,
        )

    def _search_page(
        self,
        apis: _ObjectApis,
        object_type: str,
        props: Sequence[str],
        modified_field: str,
        since_ms: int,
        start: tuple[int, str] | None,
        after: str | None,
    ) -> dict[str, Any]:
        if start is None:
            groups = [{"filters": [{"propertyName": modified_field, "operator": "GTE", "value": str(since_ms)}]}]
        else:
            stamp, last_id = str(start[0]), start[1]
            groups = [
                {"filters": [{"propertyName": modified_field, "operator": "GT", "value": stamp}]},
                {
                    "filters": [
                        {"propertyName": modified_field, "operator": "EQ", "value": stamp},
                        {"propertyName": OBJECT_ID, "operator": "GT", "value": last_id},
                    ]
                },
            ]
        req: dict[str, Any] = {
            "filterGroups": groups,
            "sorts": [{"propertyName": modified_field, "direction": "ASCENDING"}],
            "properties": list(props),
            "limit": self.search_limit,
        }
        if after:
            req["after"] = after
        kind = apis.search_kind
        return self._run(
            kind,
            lambda: self._call(kind, self._api(apis.search).do_search, public_object_search_request=req),
            object_type,
        )

    # ------------------------------------------------------------------ writing
    def _write_batch(self, chunk: Sequence[TagWrite]) -> list[WriteResult]:
        inputs = [{"id": w.id, "properties": {k: hs_value(v) for k, v in w.fields.items()}} for w in chunk]
        try:
            body = self._run(
                "write",
                lambda: self._call(
                    "write", self._api("batch").update, batch_input_simple_public_object_batch_input={"inputs": inputs}
                ),
            )
        except FatalError as err:
            if "PROPERTY_DOESNT_EXIST" in str(err):
                raise ConfigError(f"{err} (a mapped tag property is missing; run with provision = true)") from None
            if err.status not in _RECORD_REFUSALS:
                raise
            # HubSpot may refuse a whole batch for one input (400 VALIDATION_ERROR for a value that
            # is not an option, 404 OBJECT_NOT_FOUND for a deleted id) instead of answering 207:
            # halve it until the refused records stand alone, and fail only those.
            if len(chunk) == 1:
                return [WriteResult(chunk[0].id, False, str(err))]
            mid = len(chunk) // 2
            return self._write_batch(chunk[:mid]) + self._write_batch(chunk[mid:])
        return [
            WriteResult(r.id, r.ok, self.policy.redact(r.error)) if r.error else r for r in batch_results(chunk, body)
        ]


#: Whole-batch answers that may be about some of its records: the batch is split to find them.
_RECORD_REFUSALS = frozenset({400, 404, 409, 422})


def _position(obj: TMapping[str, Any], modified_field: str, object_type: str) -> tuple[int, str]:
    """Where a search result sits in the (modified time, object id) order."""
    stamp = to_ms((obj.get("properties") or {}).get(modified_field))
    if stamp is None:
        raise FatalError(f"hubspot {object_type} search: result {obj.get('id')!r} has no {modified_field}")
    return stamp, str(obj["id"])
