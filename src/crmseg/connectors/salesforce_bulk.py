"""Large tag writes through Salesforce Bulk API 2.0 ingest (simple-salesforce ``bulk2``).

One update job (CSV upload, close, poll) per call, then the job's successful, failed
and unprocessed results are read back and turned into one WriteResult per input, in
input order. Null clears a field (``#N/A``); a column left empty is ignored by
Salesforce on update, so writes touching different fields can share a job.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from simple_salesforce.bulk2 import JobState, Operation, ResultsType

from crmseg.connectors.retry import RetryPolicy
from crmseg.connectors.salesforce_values import sf_value
from crmseg.errors import FatalError
from crmseg.model import TagWrite, WriteResult

NULL = "#N/A"


@dataclass(frozen=True)
class BulkJob:
    """What one update job needs from its connector: the object's Bulk 2.0 ingest client and
    the connector's way of running a call (retries, API counting), policy and first poll wait."""

    client: Any  # simple-salesforce's bulk2 client for the object
    run: Callable[[str, Callable[[], Any]], Any]
    policy: RetryPolicy
    object: str
    first_wait: float


def csv_value(value: Any) -> str:
    """A tag value as a Bulk API 2.0 CSV cell."""
    if value is None:
        return NULL
    value = sf_value(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def bulk_rows(writes: Sequence[TagWrite]) -> list[dict[str, str]]:
    """CSV rows for an update job: ``Id`` plus each write's fields."""
    return [{"Id": w.id, **{k: csv_value(v) for k, v in w.fields.items()}} for w in writes]


def parse_results(successful: str, failed: str, unprocessed: str) -> dict[str, tuple[bool, str | None]]:
    """Record id -> (ok, error) from the three result CSVs of an ingest job."""
    out: dict[str, tuple[bool, str | None]] = {}
    for row in _rows(successful):
        rid = row.get("sf__Id") or row.get("Id")
        if rid:
            out[rid] = (True, None)
    for row in _rows(failed):
        rid = row.get("Id") or row.get("sf__Id")
        if rid:
            out[rid] = (False, row.get("sf__Error") or "failed in bulk job")
    for row in _rows(unprocessed):
        rid = row.get("Id")
        if rid and rid not in out:
            out[rid] = (False, "not processed by the bulk job")
    return out


def bulk_update(job: BulkJob, writes: Sequence[TagWrite]) -> list[WriteResult]:
    """Run one Bulk API 2.0 update job for ``writes``; one result per input, in order.

    The job is driven step by step through simple-salesforce's Bulk 2.0 client (create,
    upload, close, poll), each step under the shared retry policy, and the last poll's counts
    are used: the library's one-call ``update`` reads the finished job once more. Result
    files are downloaded only when some record failed or was not processed.
    """
    client, run = job.client, job.run
    job_id = run("bulk", lambda: client.create_job(Operation.update)["id"])
    run("bulk", lambda: client.upload_job_data(job_id, _csv_text(bulk_rows(writes))))
    run("bulk", lambda: client.close_job(job_id))
    info = _wait(job, job_id)
    if _all_succeeded(info, len(writes)):
        return [WriteResult(w.id, True) for w in writes]
    ok = run("bulk", lambda: client.get_ingest_results(job_id, ResultsType.successful))
    bad = run("bulk", lambda: client.get_ingest_results(job_id, ResultsType.failed))
    todo = (
        run("bulk", lambda: client.get_ingest_results(job_id, ResultsType.unprocessed))
        if _incomplete(info, len(writes))
        else ""
    )
    status = parse_results(ok, bad, todo)
    results = []
    for w in writes:
        rok, err = status.get(w.id, (False, "no result returned by the bulk job"))
        results.append(WriteResult(w.id, rok, job.policy.redact(err) if err else None))
    return results


def _wait(job: BulkJob, job_id: str, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Poll the job until it is complete (its info), failed or aborted (FatalError)."""
    delay, waited = job.first_wait, 0.0
    while True:
        job.policy.pause(delay)
        waited += delay
        info: dict[str, Any] = job.run("bulk", lambda: job.client.get_job(job_id, False))
        state = info.get("state")
        if state == JobState.job_complete:
            return info
        if state in (JobState.failed, JobState.aborted):
            raise FatalError(
                f"salesforce {job.object} bulk update job {job_id}: {state}: "
                f"{job.policy.redact(str(info.get('errorMessage') or ''))}"
            )
        if waited >= timeout_s:
            raise FatalError(f"salesforce {job.object} bulk update job {job_id}: still {state} after {timeout_s:.0f} s")
        delay = min(delay * 2, 10.0)


def _csv_text(rows: list[dict[str, str]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _all_succeeded(job: dict[str, Any], n: int) -> bool:
    processed = int(job.get("numberRecordsProcessed", 0) or 0)
    return processed == n and int(job.get("numberRecordsFailed", 0) or 0) == 0


def _incomplete(job: dict[str, Any], n: int) -> bool:
    return int(job.get("numberRecordsProcessed", 0) or 0) < n


def _rows(text: str | None) -> list[dict[str, str]]:
    if not text or not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))
