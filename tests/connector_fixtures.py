"""Shared helpers for the connector tests: configs, a no-wait retry policy, Salesforce
response bodies shaped as Salesforce documents them, and the contract suite's harnesses
(:class:`ContractHarness`: one per kind of fake a connector runs against)."""

from __future__ import annotations

import csv
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crmseg.config import DynamicsSync, HubSpotSync, Mapping, SalesforceSync, ZohoSync
from crmseg.connectors.base import Connector
from crmseg.connectors.retry import RetryPolicy
from crmseg.deals.mapped import DealNormalizer
from crmseg.deals.model import Deal

BASE = "http://127.0.0.1:8999"
VER = "59.0"
REST = f"{BASE}/services/data/v{VER}"
SESSION_ID = "00DSECRETSESSION!AQcAQH0dMHZfz972Szmpkb58urFRkgeBGsxL"
SF_ENV = {"SF_USERNAME": "ops@example.com", "SF_PASSWORD": "pw-SECRET-123", "SF_SECURITY_TOKEN": "tokSECRET456"}
HS_TOKEN = "pat-na1-SECRET-0000-1111-2222"


class FakeSleep:
    """Records requested sleeps instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


# Fault tests give the client a real timeout only where a fault holds its answer: a normal
# answer on a loaded 2-core CI worker can take well over 0.25 s (a 100-record write did), and a
# spurious timeout is one retry more than the test counts. The held answer outlasts the client
# timeout by a wide margin so that it, and only it, times out.
FAULT_CLIENT_TIMEOUT_S = 1.0
TIMEOUT_FAULT: dict[str, Any] = {"kind": "timeout", "delay": 3.0}
#: One of each kind of call fault a connector must retry through (a held answer among them).
FAULTS: list[dict[str, Any]] = [
    {"kind": "429", "retry_after": 2},
    {"kind": "500"},
    {"kind": "503", "retry_after": 1},
    TIMEOUT_FAULT,
    {"kind": "expired_session"},
]


def fault_timeout(fault: dict[str, Any]) -> dict[str, Any]:
    """Connector keyword arguments for a test that injects ``fault``: a short timeout only for a held answer."""
    return {"timeout": FAULT_CLIENT_TIMEOUT_S} if fault["kind"] == "timeout" else {}


def no_wait_policy(max_tries: int = 4, **kw: Any) -> RetryPolicy:
    """A RetryPolicy whose sleep only records (``policy.sleep.calls``)."""
    return RetryPolicy(
        max_tries=max_tries, base_delay=0.5, max_delay=8.0, sleep=FakeSleep(), rng=random.Random(7), **kw
    )


def sf_cfg(**kw: Any) -> SalesforceSync:
    base = {"connector": "salesforce", "instance_url": BASE, "name": "sf", "api_version": VER}
    base.update(kw)
    return SalesforceSync(**base)


def hs_cfg(host: str, **kw: Any) -> HubSpotSync:
    return HubSpotSync(connector="hubspot", host=host, name="hs", **kw)


def sf_mapping(**kw: Any) -> Mapping:
    data: dict[str, Any] = {
        "object": "Account",
        "id_field": "Id",
        "modified_field": "SystemModstamp",
        "path": "connectors/salesforce.toml",
        "fields": {
            "name": {"source": "Name"},
            "industry": {"source": "Industry"},
            "employees": {"source": "NumberOfEmployees", "type": "int"},
            "tech_stack": {"source": "Tech_Stack__c", "type": "list"},
        },
        "tags": {"segment": "Segment__c", "icp_score": "ICP_Score__c"},
    }
    data.update(kw)
    return Mapping(**data)


# ----------------------------------------------------------------- Salesforce bodies
def soap_login_ok(session_id: str = SESSION_ID, server: str = BASE) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>
<metadataServerUrl>{server}/services/Soap/m/{VER}/00D000000000001</metadataServerUrl>
<passwordExpired>false</passwordExpired><sandbox>true</sandbox>
<serverUrl>{server}/services/Soap/u/{VER}/00D000000000001</serverUrl>
<sessionId>{session_id}</sessionId><userId>005000000000001AAA</userId>
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""


def sf_record(i: int, **fields: Any) -> dict[str, Any]:
    rid = f"001{i:015d}"
    rec = {
        "attributes": {"type": "Account", "url": f"/services/data/v{VER}/sobjects/Account/{rid}"},
        "Id": rid,
        "Name": f"Acme {i}",
        "Industry": "Software",
        "NumberOfEmployees": 100 + i,
        "Tech_Stack__c": "Salesforce;Slack",
        "SystemModstamp": f"2026-11-01T00:00:{i % 60:02d}.000+0000",
    }
    rec.update(fields)
    return rec


def sf_page(records: list[dict[str, Any]], total: int, next_locator: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"totalSize": total, "done": next_locator is None, "records": records}
    if next_locator:
        page["nextRecordsUrl"] = f"/services/data/v{VER}/query/{next_locator}"
    return page


def sf_error(code: str, message: str) -> list[dict[str, Any]]:
    return [{"message": message, "errorCode": code}]


def sf_describe() -> dict[str, Any]:
    def f(name: str, ftype: str, updateable: bool = True, values: list[str] | None = None) -> dict[str, Any]:
        return {
            "name": name,
            "type": ftype,
            "label": name,
            "updateable": updateable,
            "restrictedPicklist": False,
            "picklistValues": [{"value": v, "label": v, "active": True, "defaultValue": False} for v in values or []],
        }

    return {
        "name": "Account",
        "label": "Account",
        "fields": [
            f("Id", "id", False),
            f("Name", "string"),
            f("Industry", "picklist", values=["Software", "Retail"]),
            f("NumberOfEmployees", "int"),
            f("Tech_Stack__c", "multipicklist", values=["Salesforce", "Slack"]),
            f("SystemModstamp", "datetime", False),
            f("CreatedDate", "datetime", False),
            f("Segment__c", "picklist", values=["Enterprise", "Mid-Market", "SMB"]),
            f("ICP_Score__c", "double"),
            f("Locked__c", "string", False),
        ],
    }


def limit_headers(used: int = 15, total: int = 100000) -> dict[str, str]:
    return {"Sforce-Limit-Info": f"api-usage={used}/{total}"}


# ----------------------------------------------------------------- sandbox harness
RULES = {
    "segment.toml": 'dimension = "segment"\nvalues = ["Enterprise", "Mid-Market", "SMB"]\ndefault = "SMB"\n'
    '[[rule]]\nname = "big"\nwhen = "employees >= 1000"\nvalue = "Enterprise"\n',
    "icp_score.toml": 'dimension = "icp_score"\nkind = "score"\n'
    '[[rule]]\nname = "fit"\nwhen = "employees >= 100"\npoints = 10\n',
}
DIMENSIONS: dict[str, list[str] | None] = {"segment": ["Enterprise", "Mid-Market", "SMB"], "icp_score": None}
SCORES = {"icp_score"}


def write_rules(folder) -> str:
    """The contract suite's two dimensions (a label with values, a score) as rule files."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in RULES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return str(folder)


class ContractHarness(ABC):
    """A connector's fake source, seeded with accounts, and the hooks the contract suite
    (``tests/connector_contract.py``) drives it through. One subclass per kind of fake."""

    #: Records seeded in the fake.
    accounts: int
    #: Source field names a read asks for (the mapping's fields).
    read_fields: list[str]
    #: The mapping the connector is opened with.
    mapping: Mapping
    #: Tag fields of the suite's label and score dimensions.
    tag: str | None
    score_tag: str | None

    @abstractmethod
    def connector(self, **kw: Any) -> Connector:
        """A new connector against the fake (``kw`` goes to its constructor / factory)."""

    @abstractmethod
    def ids(self) -> list[str]:
        """Every seeded record's id."""

    @abstractmethod
    def touch(self, ids: Sequence[str]) -> None:
        """Modify ``ids`` now, so an incremental read from before this call returns exactly them."""

    @abstractmethod
    def record(self, rid: str) -> dict[str, Any]:
        """The record's fields as the fake holds them now."""

    def identity_key(self) -> str:
        """``CrmIdentity.key`` of the fake (connectors claiming ``identity``)."""
        raise NotImplementedError(f"{type(self).__name__} has no identity")

    def delete(self, ids: Sequence[str]) -> None:
        """Delete ``ids`` now (connectors claiming ``change_tracking``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete records")

    def expire_delta_links(self) -> None:
        """Make the CRM refuse every delta link handed out so far as expired (``change_tracking``)."""
        raise NotImplementedError(f"{type(self).__name__} hands out no delta links")

    def add_bad_row(self) -> None:
        """Add one malformed record (connectors claiming ``skipped_rows``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot add a malformed record")

    @abstractmethod
    def close(self) -> None:
        """Stop the fake."""


class Harness(ContractHarness):
    """A sandbox CRM plus a way to open the matching connector, hiding vendor differences.

    Besides the contract hooks, the sandbox injects call faults (``sb.inject``) and counts
    calls per endpoint (``server_calls``)."""

    def __init__(self, crm: str, rules_dir: str, accounts: int = 450, **sandbox_kw: Any) -> None:
        from crmseg.sandbox import SandboxServer
        from crmseg.sandbox.defaults import default_mapping

        self.crm = crm
        self.mapping = default_mapping(crm)
        kw = {"rate_limit": 1_000_000, "search_rate_limit": 1_000_000}
        if crm == "dynamics":
            kw["service_limit"] = 1_000_000
        if crm == "zoho":
            from crmseg.connectors.zoho_auth import TokenCache

            kw["zoho_tokens_per_window"] = 1_000  # the contract opens many connectors in a few seconds
            self.token_cache = TokenCache()  # as the connectors of one process share theirs
        kw.update(sandbox_kw)
        self.sb = SandboxServer(crm, accounts=accounts, mapping=self.mapping, rules_dir=rules_dir, **kw).start()
        self.accounts = accounts
        #: Records per read page / per write call, as the connector uses them.
        self.page = 200 if crm in ("salesforce", "zoho") else 100  # Dynamics: page_size=100 (it allows 5,000)
        self.batch = 200 if crm == "salesforce" else 100
        self.tag = self.mapping.tag_field("segment")
        self.score_tag = self.mapping.tag_field("icp_score")
        self.read_fields = [self.mapping.source_of(f) for f in self.mapping.fields]
        self.read_endpoints = {
            "salesforce": ("query", "query_more"),
            "hubspot": ("list", "search"),
            "dynamics": ("accounts_query", "accounts_next", "accounts_delta"),
            "zoho": ("records_page", "records_token"),
        }[crm]
        self.write_endpoint = {
            "salesforce": "composite_update",
            "hubspot": "batch_update",
            "dynamics": "batch",
            "zoho": "update",
        }[crm]
        self.more_endpoint = {
            "salesforce": "query_more",
            "hubspot": "list",
            "dynamics": "accounts_next",
            "zoho": "records_page",
        }[crm]

    def connector(self, env: dict[str, str] | None = None, mapping: Mapping | None = None, **kw: Any) -> Any:
        from crmseg.connectors.factory import open_connector

        kw.setdefault("policy", no_wait_policy())
        if self.crm == "salesforce":
            cfg = SalesforceSync(
                connector="salesforce", instance_url=self.sb.url, name="sf", page_size=self.page, **kw.pop("cfg", {})
            )
        elif self.crm == "dynamics":
            o = self.sb.options
            cfg = DynamicsSync(
                **{
                    "connector": "dynamics",
                    "environment_url": self.sb.url,
                    "tenant_id": o.tenant_id,
                    "authority_url": self.sb.url,
                    "page_size": self.page,
                    "name": "d365",
                    **kw.pop("cfg", {}),
                }
            )
        elif self.crm == "zoho":
            kw.setdefault("token_cache", self.token_cache)
            cfg = ZohoSync(
                **{
                    "connector": "zoho",
                    "accounts_url": self.sb.url,
                    "page_size": self.page,
                    "api_credits": self.sb.options.daily_limit,
                    "name": "zoho",
                    **kw.pop("cfg", {}),
                }
            )
        else:
            cfg = HubSpotSync(connector="hubspot", host=self.sb.url, name="hs", **kw.pop("cfg", {}))
        return open_connector(cfg, mapping or self.mapping, env if env is not None else self.sb.env(), **kw)

    def ids(self) -> list[str]:
        return self.sb.ids()

    def identity_key(self) -> str:
        o = self.sb.options
        return {
            "salesforce": f"salesforce:{o.org_id}",
            "hubspot": f"hubspot:{o.portal_id}",
            "dynamics": f"dynamics:{o.organization_id}",
            "zoho": f"zoho:{o.zoho_org_id}",
        }[self.crm]

    def touch(self, ids: Sequence[str]) -> None:
        self.sb.edit(touch=ids)

    def delete(self, ids: Sequence[str]) -> None:
        with self.sb.app.lock:
            self.sb.store.set_deleted(list(ids), True, self.sb.app.write_ms())

    def expire_delta_links(self) -> None:
        self.sb.configure(delta_token_days=0)  # a token older than now (by a millisecond) is expired

    def record(self, rid: str) -> dict[str, Any]:
        """The record's fields, choice columns (Dynamics stores their integers) as labels."""
        rec = self.sb.record(rid)
        assert rec is not None, rid
        if self.crm == "dynamics":
            from crmseg.sandbox.dynamics_schema import option_label

            for name, fd in self.sb.schema.items():
                if fd.kind == "Picklist" and rec.get(name) is not None:
                    rec[name] = option_label(fd, rec[name])
        return rec

    def server_calls(self, *endpoints: str) -> int:
        by = self.sb.stats()["calls"]["by_endpoint"]
        return sum(by.get(e, 0) for e in endpoints) if endpoints else sum(by.values())

    def close(self) -> None:
        self.sb.stop()


class FileHarness(ContractHarness):
    """A CSV or JSONL file of accounts (the file connector's fake is the file itself)."""

    OLD = "2020-01-01T00:00:00Z"
    COLUMNS = ("id", "name", "industry", "employees", "updated_at", "crmseg_segment", "crmseg_icp_score")

    def __init__(self, kind: str, folder: Path, accounts: int = 450) -> None:
        self.kind, self.accounts = kind, accounts
        self.path = folder / f"accounts.{kind}"
        self.mapping = Mapping(
            id_field="id",
            modified_field="updated_at",
            fields={
                "name": {"source": "name"},
                "industry": {"source": "industry"},
                "employees": {"source": "employees", "type": "int"},
            },
            tags={"segment": "crmseg_segment", "icp_score": "crmseg_icp_score"},
        )
        self.read_fields = [self.mapping.source_of(f) for f in self.mapping.fields]
        self.tag, self.score_tag = "crmseg_segment", "crmseg_icp_score"
        self.rows = [
            {
                "id": f"acc-{i:05d}",
                "name": f"Acme {i}",
                "industry": "Software" if i % 2 else "Retail",
                "employees": str(10 * i),
                "updated_at": self.OLD,
                "crmseg_segment": "SMB",
                "crmseg_icp_score": "",
            }
            for i in range(accounts)
        ]
        self.bad_lines: list[str] = []
        self._save()

    def _save(self) -> None:
        with self.path.open("w", encoding="utf-8", newline="") as fh:
            if self.kind == "csv":
                out = csv.DictWriter(fh, fieldnames=self.COLUMNS, lineterminator="\n")
                out.writeheader()
                out.writerows(self.rows)
            else:
                fh.writelines(json.dumps(row) + "\n" for row in self.rows)
            fh.writelines(line + "\n" for line in self.bad_lines)

    def connector(self, **kw: Any) -> Connector:
        from crmseg.connectors.files import FileConnector

        return FileConnector(self.path, self.kind, mapping=self.mapping, **kw)

    def ids(self) -> list[str]:
        return [row["id"] for row in self.rows]

    def identity_key(self) -> str:
        return f"file:{self.path.resolve()}"

    def touch(self, ids: Sequence[str]) -> None:
        now = datetime.now(UTC).isoformat()
        wanted = set(ids)
        for row in self.rows:
            if row["id"] in wanted:
                row["updated_at"] = now
        self._save()

    def record(self, rid: str) -> dict[str, Any]:
        return next(row for row in self.rows if row["id"] == rid)

    def close(self) -> None:
        """Nothing runs: the file stays in the test's folder."""

    def add_bad_row(self) -> None:
        self.bad_lines.append("broken,row" if self.kind == "csv" else "{not json")
        self._save()


def deal_harness(crm: str, rules_dir: str, deals: int, page: int | None = None, **kw: Any) -> Iterator[Harness]:
    """A sandbox harness of 80 accounts and ``deals`` deals (for a module fixture to ``yield
    from``); ``page``: the deal read's page size the floor is counted in, when not the accounts'."""
    h = Harness(crm, rules_dir, accounts=80, deals=deals, **kw)
    if page is not None:
        h.page = page
    try:
        yield h
    finally:
        h.close()


def read_deals(h: Harness, since: datetime | None = None, **kw: Any) -> tuple[Any, DealNormalizer, list[Deal]]:
    """A new connector, and the deals it reads (each converted with the shipped mapping)."""
    conn = h.connector(**kw)
    reads = conn.capabilities.deals
    assert reads is not None
    norm = DealNormalizer(h.mapping.deals, multi_currency=reads.multi_currency)
    return conn, norm, [norm.deal(r) for r in reads.read_deals(norm.read_fields(), since=since)]


def touched_since(h: Harness, ids: Sequence[str]) -> datetime:
    """Touch the deals ``ids`` now; a time just before, from which an incremental read returns them."""
    since = datetime.now(UTC)
    time.sleep(0.002)  # the touch lands in a later millisecond than ``since``
    h.sb.edit_deals(touch=ids)
    return since


def same_deal(got: Deal, want: Deal) -> None:
    """The same deal; amounts to the cent (converted amounts are rounded by the CRM)."""
    assert got.amount == pytest.approx(want.amount, abs=0.01), (got, want)
    assert replace(got, amount=None) == replace(want, amount=None)


def same_deals(got: dict[str, Deal], want: dict[str, Deal]) -> None:
    """The same deals by id, each as :func:`same_deal` has it."""
    assert sorted(got) == sorted(want)
    for rid, deal in got.items():
        same_deal(deal, want[rid])
