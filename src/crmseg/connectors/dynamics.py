"""Dynamics 365 accounts through the Dataverse Web API v9.2 (a thin client over requests).

Why not a client library: Microsoft's ``PowerPlatform-Dataverse-Client`` is beta, pulls in
pandas and has no change tracking; the calls crmseg needs are few. Tokens come from msal
(:mod:`crmseg.connectors.dynamics_auth`), injectable as a :class:`TokenSource`.

- Reads: ``GET /accounts?$select=...`` with ``Prefer: odata.maxpagesize`` (≤ 5,000) and the
  formatted-value annotations, following ``@odata.nextLink`` as given (:func:`paginate`
  refuses a repeated link). Choice columns (by the attribute metadata) are read as their
  labels. Incremental: ``$filter=modifiedon ge <since>`` (whole seconds, so "at or after"), or
  change tracking (:meth:`DynamicsConnector.read_changes`, the :class:`ChangeTracking`
  capability): a full read with ``Prefer: odata.track-changes`` ends with ``@odata.deltaLink``;
  following that link yields the rows changed since and ``$deletedEntity`` rows for the deleted
  ones (:class:`Removed`), then the next link. Whether the table tracks changes comes with the
  schema (``EntityDefinitions``' ``ChangeTrackingEnabled``, in the same call as the columns).
  A delta link Dataverse refuses (``0x80044352`` "Version stamp associated with the client has
  expired. Please perform a full sync.", or any 400/404/410 of a delta call) raises
  :class:`DeltaLinkExpired`. A stored link is followed on the configured environment's host
  only (the bearer token never goes to a host a state file names).
- Writes: one ``$batch`` per chunk of PATCH requests (not a change set: a change set is all
  or nothing, and so is ``UpdateMultiple`` on standard tables), with
  ``Prefer: odata.continue-on-error`` so every record gets its own outcome. A label a choice
  tag column has no option for fails that record before sending (``INVALID_OPTION``).
- Every call goes through the shared :class:`RetryPolicy`: 429 and 5xx with ``Retry-After``,
  a 401 drops the cached token and retries once with a new one. Values and answers as
  Dataverse spells them (errors and their meaning, ``$batch`` answers, columns, tag values):
  :mod:`crmseg.connectors.dynamics_values`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from collections.abc import Mapping as TMapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import requests

from crmseg.config import DynamicsSync, Mapping
from crmseg.connectors.base import Capabilities, Connector, CrmIdentity, DeltaLinkExpired
from crmseg.connectors.dynamics_auth import MsalTokens, TokenSource
from crmseg.connectors.dynamics_deals import DynamicsDeals
from crmseg.connectors.dynamics_provision import provision_steps
from crmseg.connectors.dynamics_values import (
    CHOICE_TYPES,
    DataverseHTTPError,
    classify,
    option_values,
    outcome,
    parse_batch_response,
    schema_field,
    wire_value,
)
from crmseg.connectors.limits import header, parse_http_date
from crmseg.connectors.retry import Op, RetryPolicy, chunks, paginate
from crmseg.errors import ConfigError, FatalError
from crmseg.model import RawRecord, Removed, SchemaField, TagWrite, WriteResult

log = logging.getLogger(__name__)
T = TypeVar("T")

FORMATTED = "OData.Community.Display.V1.FormattedValue"
MAX_PAGE = 5000
MAX_BATCH = 1000
DEFAULT_BATCH = 100


class DynamicsConnector(Connector):
    """The Connector protocol for Dataverse ``account`` rows.

    Claims: incremental reads (``modifiedon``) against the server's clock, change tracking
    (unless the sync sets ``change_tracking = false``), API limits (calls counted; Dataverse
    reports no daily allowance, only the diagnostic
    ``x-ms-ratelimit-burst-remaining-xrm-requests``), a described object schema, and the
    organization's identity (``WhoAmI``); with a ``[deals]`` part in the mapping, deal reads
    (opportunities, :mod:`crmseg.connectors.dynamics_deals`)."""

    crm = "dynamics"
    field_names_case_insensitive = False

    def __init__(
        self,
        cfg: DynamicsSync,
        mapping: Mapping,
        env: TMapping[str, str] = os.environ,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 60.0,
        tokens: TokenSource | None = None,
    ) -> None:
        obj = (mapping.object or "account").lower()
        if obj not in ("account", "accounts"):
            raise ConfigError(
                f"{mapping.path or 'dynamics mapping'}: object {mapping.object!r} is not supported (allowed: 'account')"
            )
        self.cfg, self.mapping = cfg, mapping
        self.object = "account"
        self.modified_field = mapping.modified_field or "modifiedon"
        self.batch_size = max(1, min(cfg.batch_size or DEFAULT_BATCH, MAX_BATCH))
        self.page_size = max(1, min(cfg.page_size, MAX_PAGE))
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.base = f"{cfg.environment_url}/api/data/v{cfg.api_version}"
        self.calls = 0
        self.calls_by_kind: Counter[str] = Counter()
        #: The CRM's clock (``Date`` header of the latest answer): where the next watermark starts.
        self.server_time: datetime | None = None
        #: Dataverse's ``x-ms-ratelimit-burst-remaining-xrm-requests`` as last answered (diagnostics).
        self.burst_remaining: int | None = None
        #: The delta link the latest :meth:`read_changes` ended with (None before one finished).
        self.delta_link: str | None = None
        self._tracked: bool | None = None  # EntityDefinitions' ChangeTrackingEnabled, with the schema
        self.tokens: TokenSource = tokens or MsalTokens(
            tenant_id=cfg.tenant_id,
            authority_url=cfg.authority_url,
            environment_url=cfg.environment_url,
            client_id_env=cfg.client_id_env,
            client_secret_env=cfg.client_secret_env,
            client_certificate_env=cfg.client_certificate_env,
            client_certificate_password_env=cfg.client_certificate_password_env,
            env=env,
            timeout=timeout,
            on_call=lambda: self._count("token"),
            secrets=self.policy.redact.add,
        )
        self._session = requests.Session()
        self._schema: dict[str, SchemaField] | None = None
        self._identity: CrmIdentity | None = None
        self._deals = DynamicsDeals(self, mapping.deals) if mapping.deals is not None else None

    # ------------------------------------------------------------------ public
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            incremental=self,
            change_tracking=self if self.cfg.change_tracking else None,
            api_limits=self,
            object_schema=self,
            identity=self,
            deals=self._deals,
            provision_steps=self,
        )

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """None: Dataverse reports no usage line."""
        return None

    @property
    def api_remaining(self) -> tuple[int, int] | None:
        """None: Dataverse's limits are per 5-minute window (answered with 429), not a daily count."""
        return None

    def crm_identity(self) -> CrmIdentity:
        """The organization the application user belongs to, from ``WhoAmI`` (one call, cached)."""
        if self._identity is None:
            body = self._run("identity", lambda: self._get("identity", f"{self.base}/WhoAmI"))
            org = str(body.get("OrganizationId") or "")
            try:
                uuid.UUID(org)
            except ValueError:
                raise FatalError(f"dynamics WhoAmI: no OrganizationId in the answer (got {org!r})") from None
            self._identity = CrmIdentity("dynamics", org.lower(), self.cfg.environment_url)
        return self._identity

    def read(self, fields: Sequence[str], since: datetime | None = None) -> Iterator[RawRecord]:
        """Every live account, or those modified at or after ``since`` (whole seconds), lazily."""
        columns = self._columns(fields)
        url = f"{self.base}/accounts?$select={','.join(columns)}"
        if since is not None:
            when = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
            url += f"&$filter={quote(f'{self.modified_field} ge {when:%Y-%m-%dT%H:%M:%SZ}', safe='')}"
        yield from self._pages(url, fields, "query")

    def tracks_changes(self) -> bool:
        """Whether the account table has change tracking on (``ChangeTrackingEnabled``, read with
        the schema: no call once the schema is known)."""
        self.schema()
        return bool(self._tracked)

    def read_changes(self, fields: Sequence[str], delta_link: str | None = None) -> Iterator[RawRecord | Removed]:
        """Change tracking: with no ``delta_link`` every row, else the rows changed since it was
        issued and :class:`Removed` for the deleted ones; when the walk is exhausted,
        :attr:`delta_link` holds the link to follow next time (the one followed, if Dataverse
        answered no new one). A refused link raises :class:`DeltaLinkExpired`."""
        self.delta_link = None
        columns = self._columns(fields)
        if delta_link is None:
            first, kind = f"{self.base}/accounts?$select={','.join(columns)}", "query"
        else:
            first, kind = self._own_link(delta_link), "delta"
        found: list[str] = []
        yield from self._pages(first, fields, "query", on_delta_link=found.append, op=kind)
        self.delta_link = found[-1] if found else delta_link

    def rows(self, url: str, kind: str, annotations: str | None = None) -> Iterator[dict[str, Any]]:
        """The rows of a query (any table) as answered, following ``@odata.nextLink``; calls count
        under ``kind``; ``annotations``: the ``odata.include-annotations`` to ask for."""
        prefer = f"odata.maxpagesize={self.page_size}"
        if annotations:
            prefer += f',odata.include-annotations="{annotations}"'

        def fetch(link: str | None) -> tuple[list[dict[str, Any]], str | None]:
            body = self._get(kind, link or url, prefer)
            nxt = body.get("@odata.nextLink")
            return [r for r in body.get("value", []) if isinstance(r, dict)], str(nxt) if nxt else None

        yield from paginate(fetch, lambda f: self._run(kind, f), Op("dynamics", self.object, kind))

    def write(self, writes: Sequence[TagWrite]) -> list[WriteResult]:
        """One ``$batch`` per chunk (continue on error); one result per input, in order."""
        schema = self.schema()
        for w in writes:
            for name in w.fields:
                if name not in schema:
                    raise ConfigError(f"dynamics: column {name} not found on account (check the mapping's tags)")
        out: list[WriteResult] = []
        for chunk in chunks(writes, self.batch_size):
            out.extend(self._write_batch(chunk, schema))
        return out

    def schema(self) -> dict[str, SchemaField]:
        """The account table's attributes, keyed by their Web API property names (lookups as
        ``_<name>_value``), with the choice columns' options, and whether the table tracks
        changes (two calls, cached)."""
        if self._schema is None:
            entity_url = f"{self.base}/EntityDefinitions(LogicalName='account')"
            attrs_url = f"{entity_url}/Attributes"
            entity = self._run(
                "schema",
                lambda: self._get(
                    "schema",
                    f"{entity_url}?$select=LogicalName,ChangeTrackingEnabled&$expand=Attributes($select="
                    "LogicalName,AttributeType,IsValidForUpdate,IsCustomAttribute)",
                ),
            )
            picklists = self._run(
                "schema",
                lambda: self._get(
                    "schema",
                    f"{attrs_url}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName"
                    "&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)",
                ),
            )
            options = {str(p.get("LogicalName")): option_values(p) for p in picklists.get("value", [])}
            self._tracked = entity.get("ChangeTrackingEnabled") is True
            fields = (schema_field(a, options.get(str(a["LogicalName"]))) for a in entity.get("Attributes") or [])
            self._schema = {f.name: f for f in fields}
        return self._schema

    def provision_steps(self, dimensions: TMapping[str, list[str] | None], scores: Sequence[str] = ()) -> list[str]:
        """What to create for the missing tag columns (crmseg creates none; see
        :mod:`crmseg.connectors.dynamics_provision`)."""
        return provision_steps(self.base, self.schema(), self.mapping, dimensions, scores)

    def cached_schema(self) -> dict[str, SchemaField] | None:
        return self._schema

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ calls
    def _count(self, kind: str) -> None:
        self.calls += 1
        self.calls_by_kind[kind] += 1

    def _request(self, kind: str, method: str, url: str, **kwargs: Any) -> requests.Response:
        token = self.tokens.token()
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            **kwargs.pop("headers", {}),
        }
        self._count(kind)
        resp = self._session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        self.server_time = parse_http_date(header(resp.headers, "Date")) or self.server_time
        burst = header(resp.headers, "x-ms-ratelimit-burst-remaining-xrm-requests")
        if burst is not None and burst.strip().isdigit():
            self.burst_remaining = int(burst)
        if resp.status_code >= 400:
            raise DataverseHTTPError(resp.status_code, dict(resp.headers), resp.content)
        return resp

    def _get(self, kind: str, url: str, prefer: str | None = None) -> dict[str, Any]:
        resp = self._request(kind, "GET", url, headers={"Prefer": prefer} if prefer else {})
        body = resp.json() if resp.content else {}
        return body if isinstance(body, dict) else {}

    def _run(self, kind: str, fn: Callable[[], T]) -> T:
        return self.policy.run(fn, Op("dynamics", self.object, kind), classify, self.tokens.invalidate)

    # ------------------------------------------------------------------ reading
    def _columns(self, fields: Sequence[str]) -> list[str]:
        schema = self.schema()
        wanted = [f for f in fields if f not in ("id", "accountid")]
        unknown = [f for f in wanted if f not in schema]
        if unknown:
            raise ConfigError(f"dynamics: column(s) {', '.join(unknown)} not found on account (check the mapping)")
        return list(dict.fromkeys([*wanted, self.modified_field, "accountid"]))

    def _own_link(self, link: str) -> str:
        """A stored delta link on the configured environment's host (DeltaLinkExpired when it is
        no delta link of this API's account table)."""
        parts, base = urlsplit(link), urlsplit(self.base)
        if not parts.path.startswith(f"{base.path}/accounts") or "$deltatoken=" not in parts.query:
            raise DeltaLinkExpired(f"dynamics account delta: the stored link is no delta link of {self.base}/accounts")
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def _pages(
        self,
        first: str,
        fields: Sequence[str],
        kind: str,
        on_delta_link: Callable[[str], None] | None = None,
        op: str | None = None,
    ) -> Iterator[Any]:
        """Rows of every page from ``first`` (calls counted under ``kind``, retried as ``op``);
        with ``on_delta_link``, change tracking asked for and each ``@odata.deltaLink`` passed on."""
        prefer = f'odata.maxpagesize={self.page_size},odata.include-annotations="{FORMATTED}"'
        if on_delta_link is not None:
            prefer += ",odata.track-changes"
        schema = self.schema()
        operation = Op("dynamics", self.object, op or kind)

        def fetch(url: str | None) -> tuple[list[Any], str | None]:
            body = self._get(kind, url or first, prefer)
            if on_delta_link is not None and body.get("@odata.deltaLink"):
                on_delta_link(str(body["@odata.deltaLink"]))
            rows = [self._raw(row, fields, schema) for row in body.get("value", [])]
            nxt = body.get("@odata.nextLink")
            return rows, str(nxt) if nxt else None

        def run(page: Callable[[], Any]) -> Any:
            return self.policy.run(page, operation, classify, self.tokens.invalidate)

        yield from paginate(fetch, run, operation)

    def _raw(
        self, row: dict[str, Any], fields: Sequence[str], schema: TMapping[str, SchemaField]
    ) -> RawRecord | Removed:
        if str(row.get("@odata.context", "")).endswith("/$deletedEntity"):
            return Removed(str(row.get("id")))
        rid = str(row["accountid"])
        out: dict[str, Any] = {}
        for name in fields:
            if name in ("id", "accountid"):
                out[name] = rid
                continue
            value = row.get(name)
            f = schema.get(name)
            if value is not None and f is not None and f.type in CHOICE_TYPES:
                value = row.get(f"{name}@{FORMATTED}", value)  # the label, as the rules expect it
            out[name] = value
        return RawRecord(id=rid, fields=out)

    # ------------------------------------------------------------------ writing
    def _write_batch(self, chunk: Sequence[TagWrite], schema: TMapping[str, SchemaField]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(chunk)
        sent: list[int] = []
        parts: list[str] = []
        boundary = f"batch_{uuid.uuid4()}"
        for i, w in enumerate(chunk):
            try:
                body = {name: wire_value(schema[name], value) for name, value in w.fields.items()}
            except ValueError as exc:
                results[i] = WriteResult(w.id, False, str(exc))
                continue
            sent.append(i)
            parts.append(
                f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                f"PATCH {self.base}/accounts({w.id}) HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n"
                f"{json.dumps(body)}\r\n"
            )
        if sent:
            payload = ("".join(parts) + f"--{boundary}--\r\n").encode("utf-8")

            def call() -> list[tuple[int, str | None, str | None]]:
                resp = self._request(
                    "write",
                    "POST",
                    f"{self.base}/$batch",
                    data=payload,
                    headers={
                        "Content-Type": f"multipart/mixed; boundary={boundary}",
                        "Prefer": "odata.continue-on-error",
                    },
                )
                return parse_batch_response(resp.headers.get("Content-Type", ""), resp.content)

            answers = self._run("write", call)
            for n, i in enumerate(sent):
                status, code, message = answers[n] if n < len(answers) else (0, None, "no answer for this request")
                results[i] = outcome(chunk[i].id, status, code, message, self.policy.redact)
        return [r for r in results if r is not None]
