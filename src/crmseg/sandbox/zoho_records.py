"""The Zoho CRM sandbox's records API for one module: list, deleted records, update.

- ``GET /crm/v8/{module}?fields=a,b`` (``fields`` mandatory, at most 50), ``per_page`` ≤ 200,
  ``sort_by`` (``id``, ``Created_Time``, ``Modified_Time``; default ``id``), ``sort_order``
  (default ``desc``), ``page`` while ``page × per_page`` stays within the first 2,000 records
  (``DISCRETE_PAGINATION_LIMIT_EXCEEDED`` past them), else ``page_token`` from the previous
  answer's ``info.next_page_token`` (not with ``page``: ``AMBIGUITY_DURING_PROCESSING``), bound
  to the request's other parameters (``TOKEN_BOUND_DATA_MISMATCH``), valid 24 hours
  (``EXPIRED_VALUE``), reaching 100,000 records (``PAGINATION_LIMIT_EXCEEDED``).
  ``If-Modified-Since`` (ISO 8601 with offset) keeps the records modified after it (whole
  seconds); none: 304. No records at all: 204.
- ``GET /crm/v8/{module}/deleted?type=all|recycle|permanent&page&per_page``: the recycle bin
  (``deleted_time`` is the deletion), newest first, ``If-Modified-Since`` as above.
- ``PUT /crm/v8/{module}`` ``{"data": [{"id", field: value}], "trigger": [...]}``: at most 100
  records, each answered in input order (``SUCCESS`` or an error code with ``details``); 200 when
  all succeed, 207 when some do, 400 when none. ``trigger`` names the automation the update may
  fire (left out: all of it; ``[]``: none); the app counts what would have fired.

Page tokens are the sandbox's own opaque text: the sort key and id of the last record given,
the count given so far, and a digest of the parameters they are bound to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmseg.sandbox.base import ApiError, Request, Response, json_response
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.store import Record, Store
from crmseg.sandbox.values import FieldError, parse_datetime
from crmseg.sandbox.zoho_schema import ZohoDataError, answer_value, store_value, zoho_time

MAX_FIELDS = 50
MAX_PER_PAGE = 200
MAX_UPDATE = 100
TOKEN_HOURS = 24
#: Every automation ``trigger`` may name (fired when ``trigger`` is left out).
TRIGGERS = ("approval", "workflow", "blueprint", "pathfinder", "orchestration")
_SORT_COLUMNS = {"id": "id", "Created_Time": "created_ms", "Modified_Time": "modified_ms"}


def zoho_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> ApiError:
    """An error answered with Zoho's body shape."""
    return ApiError(status, {"code": code, "details": details or {}, "message": message, "status": "error"})


@dataclass
class Module:
    """One module the sandbox serves: its records, its fields, the name of its display field."""

    api_name: str
    store: Store
    schema: dict[str, FieldDef]
    display_field: str


@dataclass(frozen=True)
class Limits:
    """Paging limits and the org's time zone, read from the options at each call."""

    page_limit: int
    token_limit: int
    offset: str
    now_ms: int


# ------------------------------------------------------------------ list
def list_records(module: Module, req: Request, limits: Limits) -> Response:
    """``GET /crm/v8/{module}`` (see the module docstring)."""
    fields = _fields(module, req)
    per_page = _int_arg(req, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    sort_by = req.arg("sort_by") or "id"
    if sort_by not in _SORT_COLUMNS:
        raise zoho_error(
            400,
            "INVALID_DATA",
            "invalid data",
            {"param_name": "sort_by", "supported_values": list(_SORT_COLUMNS)},
        )
    order = req.arg("sort_order") or "desc"
    if order not in ("asc", "desc"):
        raise zoho_error(400, "INVALID_DATA", "invalid data", {"param_name": "sort_order"})
    token = req.arg("page_token")
    if token is not None and req.arg("page") is not None:
        raise zoho_error(
            400,
            "AMBIGUITY_DURING_PROCESSING",
            "ambiguity while processing the request",
            {"ambiguity_due_to": [{"param_name": "page"}, {"param_name": "page_token"}]},
        )
    since = _since(req)
    where, params = "deleted = 0", list[Any]()
    if since is not None:
        where, params = f"{where} AND modified_ms >= ?", [since]
    column = _SORT_COLUMNS[sort_by]
    sql_order = f"{column} {order.upper()}, id {order.upper()}" if column != "id" else f"id {order.upper()}"
    binding = _binding(module, req)
    if token is not None:
        state = _read_token(token, binding, limits)
        where, params = _after(where, params, column, order, state["k"])
        before = int(state["n"])
        page = before // per_page + 1
        ids = module.store.select_ids(where, params, sql_order, per_page + 1)
    else:
        page = _int_arg(req, "page", 1, 1, None)
        if page * per_page > limits.page_limit:
            raise zoho_error(
                400,
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                f"You can only get the first {limits.page_limit} records without using page_token param",
                {"limit": limits.page_limit},
            )
        before = (page - 1) * per_page
        ids = module.store.select_ids(where, params, sql_order, per_page + 1, before)
    shown = ids[:per_page]
    if not shown:
        return Response(304 if since is not None and before == 0 else 204)
    found = module.store.get_many(shown)
    data = [_record(found[i], fields, limits.offset) for i in shown if i in found]
    more = len(ids) > per_page
    next_token = None
    if more:
        last = found[shown[-1]]
        key = [_sort_value(last, column), last.id]
        next_token = _make_token(key, before + len(shown), binding, limits.now_ms + TOKEN_HOURS * 3_600_000)
    info = {
        "call": False,
        "per_page": per_page,
        "count": len(data),
        "page": page,
        "sort_by": sort_by,
        "sort_order": order,
        "more_records": more,
        "email": False,
        "next_page_token": next_token,
        "previous_page_token": None,
        "page_token_expiry": zoho_time(limits.now_ms + TOKEN_HOURS * 3_600_000, limits.offset) if more else None,
    }
    return json_response(200, {"data": data, "info": info})


def _fields(module: Module, req: Request) -> list[FieldDef]:
    raw = req.arg("fields")
    if not raw:
        raise zoho_error(400, "REQUIRED_PARAM_MISSING", "required param is missing", {"param_name": "fields"})
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > MAX_FIELDS:
        raise zoho_error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_FIELDS, "param_name": "fields"})
    out = []
    for name in names:
        fd = module.schema.get(name)
        if fd is None:
            raise zoho_error(
                400,
                "INVALID_DATA",
                "the field api name given seems to be invalid",
                {"param_name": "fields", "api_name": name},
            )
        out.append(fd)
    return out


def _int_arg(req: Request, name: str, default: int, low: int, high: int | None) -> int:
    raw = req.arg(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise zoho_error(400, "INVALID_DATA", "invalid data", {"param_name": name})
    return value


def _since(req: Request) -> int | None:
    """``If-Modified-Since`` as the first whole second that counts as modified after it (ms)."""
    raw = req.header("if-modified-since")
    if not raw:
        return None
    when = parse_datetime(raw)
    if when is None:
        raise zoho_error(400, "INVALID_DATA", "invalid data", {"param_name": "If-Modified-Since"})
    return (int(when.timestamp()) + 1) * 1000  # stored times are whole seconds: "after" is the next second on


def _record(rec: Record, fields: list[FieldDef], offset: str) -> dict[str, Any]:
    out: dict[str, Any] = {fd.name: answer_value(fd, rec, offset) for fd in fields}
    out["id"] = rec.id
    return out


def _sort_value(rec: Record, column: str) -> Any:
    return {"created_ms": rec.created_ms, "modified_ms": rec.modified_ms}.get(column, rec.id)


def _after(where: str, params: list[Any], column: str, order: str, key: list[Any]) -> tuple[str, list[Any]]:
    """Keyset continuation: the records after ``key`` (sort value, id) in the walk's order."""
    op = ">" if order == "asc" else "<"
    value, rid = key
    if column == "id":
        return f"{where} AND id {op} ?", [*params, rid]
    return f"{where} AND ({column} {op} ? OR ({column} = ? AND id {op} ?))", [*params, value, value, rid]


def _binding(module: Module, req: Request) -> str:
    """The digest a page token is bound to: the module, every parameter but the paging ones, the header."""
    parts = sorted((k, v[-1]) for k, v in req.query.items() if k not in ("page", "page_token"))
    text = json.dumps([module.api_name, parts, req.header("if-modified-since")])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _make_token(key: list[Any], given: int, binding: str, expiry_ms: int) -> str:
    raw = json.dumps({"k": key, "n": given, "b": binding, "e": expiry_ms}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii").rstrip("=")


def _read_token(token: str, binding: str, limits: Limits) -> dict[str, Any]:
    mismatch = zoho_error(
        400,
        "TOKEN_BOUND_DATA_MISMATCH",
        "The page_token given seems to be invalid or input param is added or altered or deleted",
        {"param_name": "page_token"},
    )
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise mismatch from None
    if not isinstance(state, dict) or state.get("b") != binding:
        raise mismatch
    if int(state.get("e", 0)) <= limits.now_ms:
        raise zoho_error(
            400,
            "EXPIRED_VALUE",
            "Page token expired",
            {"api_name": "page_token", "json_path": "$.query.page_token"},
        )
    if int(state.get("n", 0)) >= limits.token_limit:
        raise zoho_error(
            400,
            "PAGINATION_LIMIT_EXCEEDED",
            f"You can only get upto {limits.token_limit} records using page_token param",
            {"param_name": "page_token"},
        )
    return state


# ------------------------------------------------------------------ deleted
def deleted_records(module: Module, req: Request, limits: Limits) -> Response:
    """``GET /crm/v8/{module}/deleted`` (see the module docstring)."""
    kind = req.arg("type") or "all"
    if kind not in ("all", "recycle", "permanent"):
        raise zoho_error(400, "INVALID_DATA", "invalid data", {"param_name": "type"})
    per_page = _int_arg(req, "per_page", MAX_PER_PAGE, 1, MAX_PER_PAGE)
    page = _int_arg(req, "page", 1, 1, None)
    since = _since(req)
    where, params = "deleted = 1", list[Any]()
    if since is not None:
        where, params = f"{where} AND modified_ms >= ?", [since]
    if kind == "permanent":  # the sandbox empties no recycle bin: nothing is deleted permanently
        ids: list[str] = []
    else:
        ids = module.store.select_ids(where, params, "modified_ms DESC, id DESC", per_page + 1, (page - 1) * per_page)
    shown = ids[:per_page]
    if not shown:
        return Response(304 if since is not None and page == 1 else 204)
    found = module.store.get_many(shown)
    data = []
    for rid in shown:
        rec = found[rid]
        owner = rec.data.get("Owner") if isinstance(rec.data.get("Owner"), dict) else None
        user = {"name": owner["name"], "id": owner["id"]} if owner else {"name": "Sandbox Admin", "id": "1"}
        data.append(
            {
                "deleted_by": user,
                "id": rid,
                "display_name": rec.data.get(module.display_field),
                "type": "recycle",
                "created_by": user,
                "deleted_time": zoho_time(rec.modified_ms, limits.offset),
            }
        )
    info = {"per_page": per_page, "count": len(data), "page": page, "more_records": len(ids) > per_page}
    return json_response(200, {"data": data, "info": info})


# ------------------------------------------------------------------ update
@dataclass
class UpdateOutcome:
    """What one PUT did: per-record answers, records and values written, automation fired."""

    answers: list[dict[str, Any]]
    written: int
    failed: int
    values: int
    names: list[str]
    fired: dict[str, int]


def update_records(
    module: Module,
    req: Request,
    limits: Limits,
    write_ms: int,
    record_fault: Callable[[str], tuple[str, str] | None],
) -> tuple[Response, UpdateOutcome]:
    """``PUT /crm/v8/{module}``; ``record_fault(id)`` -> (code, message) of an injected failure."""
    body = _update_body(req)
    items: list[Any] = body["data"]
    triggers = body.get("trigger")
    fired = list(TRIGGERS) if triggers is None else [t for t in triggers if t in TRIGGERS]
    existing = module.store.get_many([str(i.get("id")) for i in items if isinstance(i, dict) and i.get("id")])
    answers: list[dict[str, Any] | None] = [None] * len(items)
    changes: list[tuple[int, str, dict[str, Any]]] = []
    for i, item in enumerate(items):
        checked = _check_item(module, item, i, existing, record_fault)
        if isinstance(checked, dict):
            answers[i] = checked
        else:
            changes.append((i, *checked))
    done = module.store.update_many([(rid, values) for _, rid, values in changes], write_ms) if changes else []
    for (i, rid, _), rec in zip(changes, done, strict=True):
        assert rec is not None  # checked to exist, under the app's lock
        answers[i] = {
            "code": "SUCCESS",
            "details": {
                "Modified_Time": zoho_time(rec.modified_ms, limits.offset),
                "Modified_By": {"name": "crmseg", "id": "1"},
                "Created_Time": zoho_time(rec.created_ms, limits.offset),
                "id": rid,
                "Created_By": {"name": "crmseg", "id": "1"},
                "$approval_state": "approved",
            },
            "message": "record updated",
            "status": "success",
        }
    out = [a for a in answers if a is not None]
    ok = len(changes)
    status = 200 if ok == len(out) else 207 if ok else 400
    outcome = UpdateOutcome(
        answers=out,
        written=ok,
        failed=len(out) - ok,
        values=sum(len(v) for _, _, v in changes),
        names=[n for _, _, v in changes for n in v],
        fired=dict.fromkeys(fired, ok) if ok else {},
    )
    return json_response(status, {"data": out}), outcome


def update_cost(req: Request, records_per_credit: int) -> int:
    """The credits a PUT costs: one per ``records_per_credit`` records sent (at least one)."""
    try:
        body = req.json()
        n = len(body["data"]) if isinstance(body, dict) and isinstance(body.get("data"), list) else 1
    except (ValueError, UnicodeDecodeError):
        n = 1
    return max(1, math.ceil(n / max(1, records_per_credit)))


def _update_body(req: Request) -> dict[str, Any]:
    try:
        body = req.json()
    except (ValueError, UnicodeDecodeError):
        raise zoho_error(400, "INVALID_DATA", "body", {"param_name": "data"}) from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise zoho_error(400, "INVALID_DATA", "body", {"param_name": "data"})
    if not body["data"]:
        raise zoho_error(400, "REQUIRED_PARAM_MISSING", "required param is missing", {"param_name": "data"})
    if len(body["data"]) > MAX_UPDATE:
        raise zoho_error(400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_UPDATE, "api_name": "data"})
    trigger = body.get("trigger")
    if trigger is not None and (not isinstance(trigger, list) or not all(isinstance(t, str) for t in trigger)):
        raise zoho_error(400, "INVALID_DATA", "invalid data", {"api_name": "trigger", "json_path": "$.trigger"})
    return body


def _item_error(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:
    return {"code": code, "details": details, "message": message, "status": "error"}


def _check_item(
    module: Module,
    item: Any,
    i: int,
    existing: dict[str, Record],
    record_fault: Callable[[str], tuple[str, str] | None],
) -> dict[str, Any] | tuple[str, dict[str, Any]]:
    """(id, stored values) of one record of a PUT, or its error answer."""
    if not isinstance(item, dict) or not item.get("id"):
        return _item_error(
            "MANDATORY_NOT_FOUND", "required field not found", {"api_name": "id", "json_path": f"$.data[{i}].id"}
        )
    rid = str(item["id"])
    rec = existing.get(rid)
    if rec is None or rec.deleted:
        return _item_error(
            "INVALID_DATA", "the id given seems to be invalid", {"api_name": "id", "json_path": f"$.data[{i}].id"}
        )
    values: dict[str, Any] = {}
    for name, value in item.items():
        if name == "id" or name.startswith("$"):
            continue
        path = f"$.data[{i}].{name}"
        fd = module.schema.get(name)
        if fd is None:
            return _item_error(
                "INVALID_DATA", "the field api name given seems to be invalid", {"api_name": name, "json_path": path}
            )
        if not fd.updateable or fd.system is not None:
            return _item_error("INVALID_DATA", "the field is read only", {"api_name": name, "json_path": path})
        try:
            values[name] = store_value(fd, value)
        except ZohoDataError as exc:
            return _item_error("INVALID_DATA", exc.message, {**exc.details, "json_path": path})
        except FieldError as exc:
            return _item_error("INVALID_DATA", exc.message, {"api_name": name, "json_path": path})
    fault = record_fault(rid)
    if fault is not None:
        code, message = fault
        return _item_error(
            code, message, {"api_name": "id", "json_path": f"$.data[{i}].id", "action": "record_locking"}
        )
    return rid, values
