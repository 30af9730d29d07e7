"""Large tag writes through Salesforce Bulk API 2.0 ingest (simple-salesforce ``bulk2``).

One update job (CSV upload, close, poll) per call, then the job's successful, failed
and unprocessed results are read back and turned into one WriteResult per input, in
input order. Null clears a field (``#N/A``); a column left empty is ignored by
Salesforce on update, so writes touching different fields can share a job.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Sequence

from crmseg.model import TagWrite, WriteResult

if TYPE_CHECKING:
    from crmseg.connectors.salesforce import SalesforceConnector

NULL = "#N/A"


def csv_value(value: Any) -> str:
    """A tag value as a Bulk API 2.0 CSV cell."""
    from crmseg.connectors.salesforce import sf_value

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


def bulk_update(conn: "SalesforceConnector", writes: Sequence[TagWrite]) -> list[WriteResult]:
    """Run one Bulk API 2.0 update for ``writes``; one result per input, in order."""
    rows = bulk_rows(writes)

    def handler() -> Any:
        return getattr(conn._client().bulk2, conn.object)

    jobs = conn._run("bulk", lambda: handler().update(records=rows, wait=conn.bulk_wait))
    status: dict[str, tuple[bool, str | None]] = {}
    for job in jobs:
        job_id = job["job_id"]
        if len(jobs) == 1 and _all_succeeded(job, len(writes)):
            # the one job processed every record without a failure: no result files to download
            return [WriteResult(w.id, True) for w in writes]
        ok = conn._run("bulk", lambda: handler().get_successful_records(job_id))
        bad = conn._run("bulk", lambda: handler().get_failed_records(job_id))
        todo = conn._run("bulk", lambda: handler().get_unprocessed_records(job_id)) if _incomplete(job) else ""
        status.update(parse_results(ok, bad, todo))
    results = []
    for w in writes:
        ok, err = status.get(w.id, (False, "no result returned by the bulk job"))
        results.append(WriteResult(w.id, ok, conn.policy.redact(err) if err else None))
    return results


def _all_succeeded(job: dict[str, Any], n: int) -> bool:
    processed = int(job.get("numberRecordsProcessed", 0) or 0)
    return processed == n and int(job.get("numberRecordsFailed", 0) or 0) == 0


def _incomplete(job: dict[str, Any]) -> bool:
    processed = int(job.get("numberRecordsProcessed", 0) or 0)
    total = int(job.get("numberRecordsTotal", processed) or 0)
    return processed < total


def _rows(text: str | None) -> list[dict[str, str]]:
    if not text or not text.strip():
        return []
    return list(csv.DictReader(io.StringIO(text)))
