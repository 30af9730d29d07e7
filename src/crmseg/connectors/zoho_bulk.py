"""Zoho CRM Bulk Read: a job's calls, and what its answers and its zipped CSV mean.

A job (``POST /crm/bulk/v8/read``) exports up to 200,000 records of a module as a CSV in a zip;
its status (``GET /crm/bulk/v8/read/{id}``) says ``ADDED``, ``IN PROGRESS``, ``COMPLETED`` (with
``result``: ``download_url``, ``more_records``, ``next_page_token``) or ``FAILURE``. The CSV has a
header of ``Id`` and the fields asked for, every value as text; :func:`csv_records` gives each row
back the shape the REST API answers (numbers, booleans, multi-select pick lists as lists, a lookup
as the linked record's id, no value as None), so a bulk read's records equal a page walk's.

:func:`bulk_read` runs the jobs of one read: create (``BULK_READ_CREDITS``), status polls from the
connector's ``bulk_wait`` seconds on, doubling up to ``BULK_POLL_MAX`` (a job failing, or taking
``BULK_TIMEOUT``, ends the read), then the result's ``download_url`` — followed on the API domain
only — streamed into a temporary file; past a job's records the next job asks for the result's
``next_page_token`` (else the next ``page``). Every call is the connector's (:class:`BulkCalls`):
authorized, counted under ``bulk_read`` with its credits, and run under its retry policy.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

import requests

from crmseg.connectors.zoho_values import ZohoHTTPError, as_dict
from crmseg.errors import FatalError
from crmseg.model import SchemaField

__all__ = [
    "COMPLETED",
    "FAILED",
    "BulkCalls",
    "api_value",
    "bulk_read",
    "bulk_wait",
    "create_job",
    "csv_records",
    "download",
    "job_id",
    "job_status",
]

BULK_API = "/crm/bulk/v8"
#: Credits a Bulk Read job costs (Zoho's "Bulk Read Initialize"); its polls and download one each.
BULK_READ_CREDITS = 50
#: Longest wait between two polls of a Bulk Read job, and how long a job may take.
BULK_POLL_MAX = 30.0
BULK_TIMEOUT = 3600.0

COMPLETED = "COMPLETED"
FAILED = "FAILURE"
_INTEGERS = frozenset({"integer"})  # bigint (ids, lookups) stays text, as the REST API answers it
_NUMBERS = frozenset({"double", "currency", "percent", "decimal"})


def job_id(body: Any, what: str) -> str:
    """The job id a create answer gives (``data[0].details.id``); FatalError naming ``what`` without one."""
    data = body.get("data") if isinstance(body, dict) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    details = first.get("details")
    jid = details.get("id") if isinstance(details, dict) else None
    if not jid:
        raise FatalError(f"{what}: the answer named no job id ({str(body)[:200]})")
    return str(jid)


def job_status(body: Any, what: str) -> tuple[str, dict[str, Any]]:
    """(state, result) of a status answer (``data[0]``); result is ``{}`` until the job completes."""
    data = body.get("data") if isinstance(body, dict) else None
    job = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None
    if job is None or not job.get("state"):
        raise FatalError(f"{what}: the status answer named no state ({str(body)[:200]})")
    result = job.get("result")
    return str(job["state"]), result if isinstance(result, dict) else {}


def api_value(field: SchemaField | None, text: str) -> Any:
    """A CSV cell as the REST API answers the field: by its ``data_type`` (text that does not
    convert stays text, for the normalizer to count as invalid)."""
    kind = field.type if field is not None else "text"
    if kind == "multiselectpicklist":
        return [v for v in text.split(";") if v] if text else []
    if text == "":
        return None
    try:
        if kind in _INTEGERS:
            return int(text)
        if kind in _NUMBERS:
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


def csv_records(zipped: IO[bytes], schema: Mapping[str, SchemaField], what: str) -> Iterator[dict[str, Any]]:
    """Each row of the CSV in the zip as ``{"id", field: value}`` (values by :func:`api_value`)."""
    with zipfile.ZipFile(zipped) as zf:
        names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
        if len(names) != 1:
            raise FatalError(f"{what}: the result zip holds {len(names)} CSV files, not one")
        with zf.open(names[0]) as raw:
            reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig", newline=""))
            header = next(reader, None)
            if header is None:
                return
            id_at = next((i for i, h in enumerate(header) if h.lower() == "id"), None)
            if id_at is None:
                raise FatalError(f"{what}: the result CSV has no Id column (header: {', '.join(header)[:200]})")
            fields = [(i, name, schema.get(name)) for i, name in enumerate(header) if i != id_at]
            for row in reader:
                if not row:
                    continue
                out: dict[str, Any] = {"id": row[id_at]}
                for i, name, field in fields:
                    out[name] = api_value(field, row[i] if i < len(row) else "")
                yield out


class Send(Protocol):
    """The connector's HTTP call: authorized, counted under ``kind`` and ``credits``."""

    def __call__(self, kind: str, method: str, url: str, credits: int = 1, **kwargs: Any) -> requests.Response: ...


@dataclass(frozen=True)
class BulkCalls:
    """What a Bulk Read needs of its connector: its call (``send``), its JSON ``GET`` (an error
    status raises), its way of running a call under the retry policy, its API domain (read when
    a call needs it: it may come with the token), the pause between polls and the first poll's wait."""

    send: Send
    get: Callable[[str, str], dict[str, Any]]
    run: Callable[[str, Callable[[], Any]], Any]
    domain: Callable[[], str]
    pause: Callable[[float], None]
    first_wait: float


def bulk_read(
    calls: BulkCalls, module: str, columns: Sequence[str], schema: Mapping[str, SchemaField]
) -> Iterator[dict[str, Any]]:
    """Every live record of ``module`` with ``columns``, through as many jobs as it takes (see the
    module), in no order; each row as :func:`csv_records` gives it."""
    query: dict[str, Any] = {"module": {"api_name": module}, "fields": list(columns), "page": 1}
    while True:
        what = f"zoho {module} bulk read (page {query.get('page', 'by token')})"
        body = calls.run("bulk_read", functools.partial(create_job, calls, query))
        job = job_id(body, what)
        result = bulk_wait(calls, job, f"{what} job {job}")
        with tempfile.TemporaryFile() as zipped:
            calls.run("bulk_read", functools.partial(download, calls, result, zipped, f"{what} job {job}"))
            yield from csv_records(zipped, schema, f"{what} job {job}")
        if not result.get("more_records"):
            return
        token = result.get("next_page_token")
        page = int(result.get("page") or query.get("page") or 1)
        query = {k: v for k, v in query.items() if k not in ("page", "page_token")}
        query.update({"page_token": str(token)} if token else {"page": page + 1})


def create_job(calls: BulkCalls, query: dict[str, Any]) -> dict[str, Any]:
    """A Bulk Read job created for ``query`` (``BULK_READ_CREDITS``): Zoho's answer."""
    headers = {"Content-Type": "application/json"}
    data = json.dumps({"query": query, "file_type": "csv"})
    url = f"{calls.domain()}{BULK_API}/read"
    resp = calls.send("bulk_read", "POST", url, BULK_READ_CREDITS, data=data, headers=headers)
    if resp.status_code >= 400:
        raise ZohoHTTPError(resp.status_code, dict(resp.headers), resp.content)
    return as_dict(resp.json() if resp.content else {})


def bulk_wait(calls: BulkCalls, job: str, what: str) -> dict[str, Any]:
    """Poll ``job`` until it completes (its ``result``); FatalError when it fails or takes too long."""
    delay, waited = calls.first_wait, 0.0
    url = f"{calls.domain()}{BULK_API}/read/{job}"
    while True:
        calls.pause(delay)
        waited += delay
        state, result = job_status(calls.run("bulk_read", lambda: calls.get("bulk_read", url)), what)
        if state == COMPLETED:
            return result
        if state == FAILED:
            raise FatalError(f"{what}: the job failed in Zoho; the next run tries again")
        if waited >= BULK_TIMEOUT:
            raise FatalError(f"{what}: still {state} after {BULK_TIMEOUT:.0f} s")
        delay = min(max(delay, 0.5) * 2, BULK_POLL_MAX)


def download(calls: BulkCalls, result: Mapping[str, Any], into: IO[bytes], what: str) -> None:
    """The job's zipped CSV (``download_url``, on the API domain only) into the file ``into``."""
    link = str(result.get("download_url") or "")
    domain = calls.domain()
    url = f"{domain}{link}" if link.startswith("/") else link
    if not url.startswith(f"{domain}/"):
        raise FatalError(f"{what}: the download_url {link[:200]!r} is not on the API domain {domain}")
    into.seek(0)
    into.truncate()
    with calls.send("bulk_read", "GET", url, headers={"Accept": "application/zip"}, stream=True) as resp:
        if resp.status_code >= 400:
            raise ZohoHTTPError(resp.status_code, dict(resp.headers), resp.content)
        for block in resp.iter_content(1 << 16):
            into.write(block)
    into.seek(0)
