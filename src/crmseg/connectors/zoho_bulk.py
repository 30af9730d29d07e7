"""Zoho CRM Bulk Read: what a job's answers and its zipped CSV mean (no I/O of its own).

A job (``POST /crm/bulk/v8/read``) exports up to 200,000 records of a module as a CSV in a zip;
its status (``GET /crm/bulk/v8/read/{id}``) says ``ADDED``, ``IN PROGRESS``, ``COMPLETED`` (with
``result``: ``download_url``, ``more_records``, ``next_page_token``) or ``FAILURE``. The CSV has a
header of ``Id`` and the fields asked for, every value as text; :func:`csv_records` gives each row
back the shape the REST API answers (numbers, booleans, multi-select pick lists as lists, a lookup
as the linked record's id, no value as None), so a bulk read's records equal a page walk's.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Mapping
from typing import IO, Any

from crmseg.errors import FatalError
from crmseg.model import SchemaField

__all__ = ["COMPLETED", "FAILED", "api_value", "csv_records", "job_id", "job_status"]

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
