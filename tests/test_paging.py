"""A CRM that hands back a page cursor it already gave in the same read stops the read with
RepeatedCursorError (naming the CRM, object and cursor) instead of looping forever."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import responses

from crmseg.config import Mapping
from crmseg.connectors.hubspot import HubSpotConnector
from crmseg.connectors.retry import Op, RepeatedCursorError, paginate
from crmseg.connectors.salesforce import SalesforceConnector
from crmseg.errors import CrmsegError, FatalError
from tests.connector_fixtures import (
    BASE,
    REST,
    SF_ENV,
    VER,
    hs_cfg,
    no_wait_policy,
    sf_cfg,
    sf_describe,
    sf_mapping,
    sf_page,
    sf_record,
    soap_login_ok,
)

OP = Op("acme", "Thing", "list")


def _direct(fetch):
    return fetch()


def test_paginate_refuses_a_cursor_it_has_followed():
    pages = {None: ([1], "a"), "a": ([2], "b"), "b": ([3], "a")}  # b points back to a
    fetched: list[object] = []

    def fetch(cursor):
        fetched.append(cursor)
        return pages[cursor]

    got: list[int] = []
    with pytest.raises(RepeatedCursorError) as err:
        got.extend(paginate(fetch, _direct, OP))
    assert got == [1, 2, 3] and fetched == [None, "a", "b"]  # the repeated page is never fetched
    assert "acme Thing list" in str(err.value) and "'a'" in str(err.value)
    assert isinstance(err.value, FatalError) and isinstance(err.value, CrmsegError)
    assert err.value.cursor == "a" and err.value.op == OP


def test_paginate_refuses_the_first_cursor_coming_back():
    with pytest.raises(RepeatedCursorError, match="'start'"):
        list(paginate(lambda cursor: ([cursor], "start"), _direct, OP, first="start"))


def test_distinct_cursors_page_to_the_end():
    pages = {None: ([1], 1), 1: ([2], 2), 2: ([3], None)}
    assert list(paginate(lambda c: pages[c], _direct, OP)) == [1, 2, 3]


# ------------------------------------------------------------------ Salesforce (requests: responses)
def test_salesforce_query_stops_on_a_repeated_next_records_url():
    locator = "01gD0000002HU6KIAW-2000"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, f"{BASE}/services/Soap/u/{VER}", body=soap_login_ok(), content_type="text/xml")
        rsps.add(responses.GET, f"{REST}/sobjects/Account/describe", json=sf_describe())
        rsps.add(responses.GET, f"{REST}/query/", json=sf_page([sf_record(1)], 9, locator))
        rsps.add(responses.GET, f"{REST}/query/{locator}", json=sf_page([sf_record(2)], 9, locator))
        conn = SalesforceConnector(sf_cfg(), sf_mapping(), SF_ENV, policy=no_wait_policy())
        ids: list[str] = []
        with pytest.raises(RepeatedCursorError) as err:
            ids.extend(r.id for r in conn.read(["Name"]))
    assert len(ids) == 2  # both pages' records, then the refusal: no third fetch
    assert str(err.value).startswith("salesforce Account query: ")
    assert f"/services/data/v{VER}/query/{locator}" in str(err.value)
    assert conn.calls_by_kind["query"] == 2


# ------------------------------------------------------------------ HubSpot (urllib3: a local server)
class _LoopingHubSpot(BaseHTTPRequestHandler):
    """Companies list and search whose every page names the same next cursor."""

    protocol_version = "HTTP/1.1"
    calls: ClassVar[list[str]] = []

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _page(self, n: int, after: str) -> dict:
        stamp = "2026-11-01T00:00:00Z"
        results = [{"id": str(n), "properties": {"name": f"c{n}", "hs_lastmodifieddate": stamp}}]
        return {"results": results, "paging": {"next": {"after": after}}}

    def do_GET(self) -> None:
        type(self).calls.append("list")
        self._answer(self._page(len(self.calls), "NEXT-abc"))

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append("search")
        self._answer(self._page(len(self.calls), "100"))

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def looping_hubspot() -> Iterator[HubSpotConnector]:
    _LoopingHubSpot.calls = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _LoopingHubSpot)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    conn = HubSpotConnector(
        hs_cfg(f"http://127.0.0.1:{srv.server_port}"),
        Mapping(object="companies"),
        {"HUBSPOT_ACCESS_TOKEN": "pat-x"},
        policy=no_wait_policy(),
        search_interval=0,
    )
    try:
        yield conn
    finally:
        conn.close()
        srv.shutdown()
        srv.server_close()


def test_hubspot_list_stops_on_a_repeated_after_cursor(looping_hubspot):
    with pytest.raises(RepeatedCursorError, match=r"^hubspot companies list: .*'NEXT-abc'"):
        list(looping_hubspot.read(["name"]))
    assert _LoopingHubSpot.calls == ["list", "list"]


def test_hubspot_search_stops_on_a_repeated_after_cursor(looping_hubspot):
    with pytest.raises(RepeatedCursorError, match=r"^hubspot companies search: .*'100'"):
        list(looping_hubspot.read(["name"], since=datetime(2026, 1, 1, tzinfo=UTC)))
    assert _LoopingHubSpot.calls == ["search", "search"]
