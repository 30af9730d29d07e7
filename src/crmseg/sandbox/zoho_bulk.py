"""The Zoho CRM sandbox's Bulk Read API (``/crm/bulk/v8``), as Zoho documents it (crm-oas v8.0
``bulk_read.json``; docs/zoho.md):

- ``POST /crm/bulk/v8/read`` ``{"query": {"module": {"api_name"}, "fields": [...], "page": n |
  "page_token": t}, "file_type": "csv"}`` -> 201 ``{"data": [{"status": "success", "code":
  "ADDED_SUCCESSFULLY", "details": {"id", "operation": "read", "state": "ADDED", ...}}], "info":
  {}}``. Fields are API names of the module (unknown: 400 ``INVALID_DATA``); ``criteria`` and
  ``cvid`` are not emulated (400 ``NOT_SUPPORTED``). A job costs 50 credits (the app's guard).
- ``GET /crm/bulk/v8/read/{id}`` -> ``{"data": [{"id", "operation", "state", "query", "created_by",
  "created_time", "file_type", "result"?}]}``: ``IN PROGRESS`` for ``bulk_polls`` polls, then
  ``COMPLETED`` with ``result`` ``{"page", "per_page", "count", "download_url", "more_records",
  "next_page_token"}``. The records are taken when the job completes: every live record, in no
  documented order (the sandbox: id order), ``zoho_bulk_page`` of them a job (200,000), the next
  ones by the next ``page`` or by ``next_page_token``. Unknown job: 404 ``RESOURCE_NOT_FOUND``.
- ``GET /crm/bulk/v8/read/{id}/result`` (the ``download_url``) -> a zip holding ``{id}.csv``:
  a header row of ``Id`` and the fields asked for, one row per record; empty cells for no value,
  multi-select pick lists joined by ``;``, lookups as the linked record's id, booleans ``true`` /
  ``false``, date-times as the REST API answers them. Before the job completes: 404
  ``RESOURCE_NOT_FOUND`` (the spec's "the result is not yet available"). At most 10
  downloads a minute: past that, 429 ``TOO_MANY_REQUESTS``.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
import threading
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmseg.sandbox.base import Request, Response, json_response
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.store import Record
from crmseg.sandbox.zoho_records import Module, zoho_error
from crmseg.sandbox.zoho_schema import answer_value, zoho_time

BULK_API = "/crm/bulk/v8"
#: Credits a job costs (Zoho's "Bulk Read Initialize"); polls and the download cost one each.
JOB_CREDITS = 50
#: Downloads allowed a minute.
DOWNLOADS_PER_MINUTE = 10
_USER = {"name": "Sandbox Admin", "id": "1"}


@dataclass
class BulkJob:
    """One bulk read job: what it asked for and, once complete, its zipped CSV."""

    id: str
    module: Module
    fields: list[FieldDef]
    query: dict[str, Any]
    page: int
    after: str | None  # the last id of the job before it (a page token), else the page counts
    created_ms: int
    polls: int = 0
    result: dict[str, Any] | None = None
    data: bytes = field(default=b"", repr=False)


class BulkReads:
    """The bulk read jobs of one sandbox (thread-safe)."""

    def __init__(self, offset: Callable[[], str]) -> None:
        self.offset = offset
        self.jobs: dict[str, BulkJob] = {}
        self._ids = itertools.count(5_725_767_000_009_000_001)
        self._downloads: deque[float] = deque()
        self._lock = threading.Lock()

    # ------------------------------------------------------------ create
    def create(self, modules: dict[str, Module], req: Request, now_ms: int) -> Response:
        """``POST /crm/bulk/v8/read``."""
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
            raise zoho_error(400, "REQUEST_BODY_NOT_SUPPORTED", "the request body is not supported")
        query = body["query"]
        module_ref = query.get("module")
        name = module_ref.get("api_name") if isinstance(module_ref, dict) else None
        module = modules.get(str(name))
        if module is None:
            raise zoho_error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"api_name": name})
        for key in ("criteria", "cvid"):
            if query.get(key) is not None:
                raise zoho_error(400, "NOT_SUPPORTED", f"{key}: not emulated by the sandbox", {"api_name": key})
        if body.get("file_type", "csv") != "csv":
            raise zoho_error(400, "INVALID_DATA", "only csv files are exported", {"api_name": "file_type"})
        names = query.get("fields") or [f.name for f in module.schema.values() if f.system != "id"]
        if not isinstance(names, list):
            raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "fields"})
        fields = []
        for fname in names:
            fd = module.schema.get(str(fname))
            if fd is None:
                raise zoho_error(
                    400, "INVALID_DATA", "the field api name given seems to be invalid", {"api_name": fname}
                )
            if fd.system != "id":
                fields.append(fd)
        page, after = 1, None
        token = query.get("page_token")
        if token is not None:
            after = _read_token(str(token))
        else:
            page = query.get("page") or 1
            if not isinstance(page, int) or isinstance(page, bool) or page < 1:
                raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "page"})
        with self._lock:
            job = BulkJob(str(next(self._ids)), module, fields, query, page, after, now_ms)
            self.jobs[job.id] = job
        details = {
            "id": job.id,
            "operation": "read",
            "state": "ADDED",
            "created_by": _USER,
            "created_time": zoho_time(now_ms, self.offset()),
        }
        body = {"status": "success", "code": "ADDED_SUCCESSFULLY", "message": "Added successfully.", "details": details}
        return json_response(201, {"data": [body], "info": {}})

    # ------------------------------------------------------------ status
    def status(self, job_id: str, polls: int, per_job: int) -> Response:
        """``GET /crm/bulk/v8/read/{id}``: in progress for ``polls`` polls, then complete."""
        job = self._job(job_id)
        with self._lock:
            if job.result is None and job.polls < polls:
                job.polls += 1
                state = "IN PROGRESS"
            else:
                if job.result is None:
                    self._complete(job, per_job)
                state = "COMPLETED"
        out: dict[str, Any] = {
            "id": job.id,
            "operation": "read",
            "state": state,
            "query": job.query,
            "created_by": _USER,
            "created_time": zoho_time(job.created_ms, self.offset()),
            "file_type": "csv",
        }
        if job.result is not None:
            out["result"] = job.result
        return json_response(200, {"data": [out]})

    def _complete(self, job: BulkJob, per_job: int) -> None:
        """Take the job's records now (the export happens when the job runs) and zip them."""
        store = job.module.store
        if job.after is not None:
            ids = store.select_ids("deleted = 0 AND id > ?", [job.after], "id", per_job + 1)
        else:
            ids = store.select_ids("deleted = 0", [], "id", per_job + 1, (job.page - 1) * per_job)
        shown = ids[:per_job]
        found = store.get_many(shown)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["Id", *(f.name for f in job.fields)])
        offset = self.offset()
        for rid in shown:
            rec = found[rid]
            writer.writerow([rid, *(csv_cell(fd, rec, offset) for fd in job.fields)])
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"{job.id}.csv", text.getvalue())
        job.data = buf.getvalue()
        more = len(ids) > per_job
        job.result = {
            "page": job.page,
            "per_page": per_job,
            "count": len(shown),
            "download_url": f"{BULK_API}/read/{job.id}/result",
            "more_records": more,
            "next_page_token": _make_token(shown[-1]) if more else None,
        }

    # ------------------------------------------------------------ download
    def download(self, job_id: str, now: float) -> Response:
        """``GET /crm/bulk/v8/read/{id}/result``: the zipped CSV."""
        job = self._job(job_id)
        with self._lock:
            while self._downloads and self._downloads[0] <= now - 60.0:
                self._downloads.popleft()
            if len(self._downloads) >= DOWNLOADS_PER_MINUTE:
                raise zoho_error(429, "TOO_MANY_REQUESTS", "too many requests: 10 downloads a minute")
            self._downloads.append(now)
            if job.result is None:
                raise zoho_error(
                    404, "RESOURCE_NOT_FOUND", "the result of the job is not available yet", {"resource": job_id}
                )
            data = job.data
        headers = {"Content-Disposition": f"attachment; filename={job.id}.zip"}
        return Response(200, data, "application/zip", headers)

    def reset(self) -> None:
        with self._lock:
            self._downloads.clear()

    def _job(self, job_id: str) -> BulkJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise zoho_error(404, "RESOURCE_NOT_FOUND", "the requested resource does not exist", {"resource": job_id})
        return job


def csv_cell(fd: FieldDef, rec: Record, offset: str) -> str:
    """One field of a record as a Bulk Read CSV cell (see the module)."""
    value = answer_value(fd, rec, offset)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, dict):  # a lookup: the linked record's id
        return str(value.get("id") or "")
    return str(value)


def _make_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode("utf-8")).decode("ascii").rstrip("=")


def _read_token(token: str) -> str:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return str(state["after"])
    except (ValueError, KeyError, TypeError):
        raise zoho_error(
            400, "INVALID_DATA", "the page_token given seems to be invalid", {"api_name": "page_token"}
        ) from None
