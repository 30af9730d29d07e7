"""Bulk API 2.0 ingest jobs (operation ``update`` only), as simple-salesforce's ``bulk2`` drives them.

``POST jobs/ingest`` creates an Open job; ``PUT jobs/ingest/<id>/batches`` uploads CSV
(201); ``PATCH jobs/ingest/<id>`` with ``{"state": "UploadComplete"}`` processes it (rows
apply through the same validation as sObject Collections: an empty cell leaves a field
unchanged, ``#N/A`` clears it); ``GET jobs/ingest/<id>`` answers ``InProgress`` for
``bulk_polls`` polls, then ``JobComplete`` with ``numberRecordsProcessed`` /
``numberRecordsFailed``; ``GET .../successfulResults`` and ``failedResults`` return CSV with
``sf__Id`` and ``sf__Created`` / ``sf__Error`` columns before the uploaded ones.
"""

from __future__ import annotations

import csv
import io
import itertools
import threading
from typing import TYPE_CHECKING, Any

from crmseg.sandbox.base import ApiError, Request, Response, json_response
from crmseg.sandbox.schema import lookup
from crmseg.sandbox.seed import sf_id
from crmseg.sandbox.values import sf_datetime

if TYPE_CHECKING:
    from crmseg.sandbox.salesforce import SalesforceApp


def _err(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, [{"errorCode": code, "message": message}])


class BulkJobs:
    """The ingest jobs of one sandbox."""

    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.jobs: dict[str, dict[str, Any]] = {}
        self._data: dict[str, list[str]] = {}
        self._results: dict[str, tuple[str, str, str]] = {}
        self._polls: dict[str, int] = {}
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def _job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise _err(404, "NOT_FOUND", f"Job with id {job_id} does not exist")
        return job

    def create(self, req: Request) -> Response:
        """``POST jobs/ingest``."""
        try:
            body = req.json() or {}
        except ValueError:
            raise _err(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None
        if str(body.get("object", "")).lower() != self.app.object.lower():
            raise _err(400, "NOT_FOUND", f"sObject type '{body.get('object')}' is not supported.")
        if body.get("operation") != "update":
            raise _err(
                400, "FEATURENOTENABLED", f"the sandbox supports operation 'update' only, not {body.get('operation')!r}"
            )
        if body.get("contentType", "CSV") != "CSV" or body.get("columnDelimiter", "COMMA") != "COMMA":
            raise _err(400, "INVALIDJOB", "only contentType CSV with columnDelimiter COMMA is supported")
        ver = self.app.options.api_version
        job_id = sf_id(next(self._seq), prefix="750")
        now = sf_datetime(self.app.now_ms())
        job = {
            "id": job_id,
            "operation": "update",
            "object": self.app.object,
            "createdById": "005Sb0000000001",
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(ver),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{ver}/jobs/ingest/{job_id}/batches",
            "lineEnding": body.get("lineEnding", "LF"),
            "columnDelimiter": "COMMA",
        }
        with self._lock:
            self.jobs[job_id] = job
            self._data[job_id] = []
        return json_response(200, job)

    def upload(self, req: Request, job_id: str) -> Response:
        """``PUT jobs/ingest/<id>/batches`` (text/csv)."""
        job = self._job(job_id)
        if job["state"] != "Open":
            raise _err(409, "INVALIDJOBSTATE", f"Job is not in Open state (state: {job['state']})")
        self._data[job_id].append(req.body.decode("utf-8-sig"))
        return Response(201)

    def set_state(self, req: Request, job_id: str) -> Response:
        """``PATCH jobs/ingest/<id>``: UploadComplete processes the job; Aborted stops it."""
        job = self._job(job_id)
        try:
            state = (req.json() or {}).get("state")
        except ValueError:
            raise _err(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None
        if state == "Aborted" and job["state"] in ("Open", "UploadComplete", "InProgress"):
            job["state"] = "Aborted"
        elif state == "UploadComplete" and job["state"] == "Open":
            self._process(job)
        else:
            raise _err(400, "INVALIDJOBSTATE", f"cannot change state from {job['state']} to {state}")
        return json_response(200, self._public(job, polled=False))

    def _process(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        text = "".join(self._data.pop(job_id, []))
        rows = list(csv.reader(io.StringIO(text)))
        header = rows[0] if rows else []
        unknown = [h for h in header if h.lower() != "id" and lookup(self.app.schema, h) is None]
        id_col = next((i for i, h in enumerate(header) if h.lower() == "id"), None)
        if not header or id_col is None or unknown:
            job.update(
                state="Failed",
                numberRecordsProcessed=0,
                numberRecordsFailed=0,
                errorMessage=f"InvalidBatch : Field name not found : {unknown[0]}"
                if unknown
                else "InvalidBatch : Id column is required for update",
            )
            self._results[job_id] = ("", "", "")
            return
        body = [r for r in rows[1:] if any(c.strip() for c in r)]
        items = []
        for row in body:
            row = row + [""] * (len(header) - len(row))
            # a short row was padded above; cells past the header (a longer row) are ignored
            fields = {
                h: (None if v == "#N/A" else v)
                for i, (h, v) in enumerate(zip(header, row, strict=False))
                if i != id_col and v != ""
            }
            items.append((row[id_col], fields))
        results = self.app.apply_updates(items, "bulk_upload", f"/jobs/ingest/{job_id}")
        ok_out, bad_out = io.StringIO(), io.StringIO()
        ok_w = csv.writer(ok_out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        bad_w = csv.writer(bad_out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        ok_w.writerow(["sf__Id", "sf__Created", *header])
        bad_w.writerow(["sf__Id", "sf__Error", *header])
        for res, row in zip(results, body, strict=True):  # apply_updates: one result per item, in order
            if res.ok:
                ok_w.writerow([res.id, "false", *row])
            else:
                code, msg, bad_fields = res.errors[0]
                bad_w.writerow(
                    ["" if code == "MALFORMED_ID" else res.id, f"{code}:{msg}:{','.join(bad_fields)} --", *row]
                )
        failed = sum(1 for r in results if not r.ok)
        job.update(
            state="JobComplete",
            numberRecordsProcessed=len(results),
            numberRecordsFailed=failed,
            retries=0,
            totalProcessingTime=len(results),
            apiActiveProcessingTime=len(results),
            apexProcessingTime=0,
            systemModstamp=sf_datetime(self.app.now_ms()),
        )
        self._results[job_id] = (ok_out.getvalue(), bad_out.getvalue(), ",".join(header) + "\n")
        self._polls[job_id] = self.app.options.bulk_polls

    def _public(self, job: dict[str, Any], polled: bool) -> dict[str, Any]:
        view = dict(job)
        if job["state"] == "JobComplete" and self._polls.get(job["id"], 0) > 0:
            view["state"] = "InProgress" if polled else "UploadComplete"
            if polled:
                self._polls[job["id"]] -= 1
        return view

    def status(self, req: Request, job_id: str) -> Response:
        """``GET jobs/ingest/<id>``."""
        return json_response(200, self._public(self._job(job_id), polled=True))

    def delete(self, req: Request, job_id: str) -> Response:
        """``DELETE jobs/ingest/<id>``."""
        self._job(job_id)
        with self._lock:
            self.jobs.pop(job_id, None)
            self._results.pop(job_id, None)
        return Response(204)

    def results(self, req: Request, job_id: str, kind: str) -> Response:
        """``GET .../successfulResults|failedResults|unprocessedrecords`` as CSV."""
        job = self._job(job_id)
        if job["state"] not in ("JobComplete", "Failed", "Aborted"):
            raise _err(400, "INVALIDJOBSTATE", "Job is not complete")
        ok, bad, unprocessed = self._results.get(job_id, ("", "", ""))
        text = {"successfulResults": ok, "failedResults": bad, "unprocessedrecords": unprocessed}[kind]
        return Response(200, text.encode("utf-8"), content_type="text/csv")
