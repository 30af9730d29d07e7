"""``POST /crm/v3/objects/{companies,deals}/search`` for the HubSpot sandbox.

filterGroups are ORed, the filters of a group ANDed (≤ 5 groups, ≤ 6 filters each,
≤ 18 in all); operators EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN HAS_PROPERTY
NOT_HAS_PROPERTY CONTAINS_TOKEN NOT_CONTAINS_TOKEN; one sort (``{"propertyName",
"direction"}`` or ``"name"`` / ``"-name"``); ``limit`` ≤ 200; ``after`` is an offset and
one query returns at most ``options.search_cap`` results (HubSpot: ``MAX_RESULTS``, 10,000):
``after`` ≥ the cap answers 400. Filters and
sorts on ``hs_lastmodifieddate`` / ``createdate`` / ``hs_object_id`` run in SQL (several
groups of them too, e.g. ``modified > t OR (modified = t AND id > last)``, the way past the cap
without re-reading). Archived records are never found; results carry no associations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmseg.sandbox.base import Request, Response, SandboxOptions, json_response
from crmseg.sandbox.hs_objects import HsType, HubSpotObjects
from crmseg.sandbox.hs_properties import hs_error
from crmseg.sandbox.schema import FieldDef
from crmseg.sandbox.store import Record
from crmseg.sandbox.values import ms_of

MAX_RESULTS: int = SandboxOptions.search_cap  # HubSpot's 10,000 (tests lower it per sandbox, not here)
MAX_LIMIT = 200
OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}
_SQL_OPS = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}
_COLUMNS = {"id": "CAST(id AS INTEGER)", "created": "created_ms", "modified": "modified_ms"}


def _bad(message: str) -> Exception:
    return hs_error(400, "VALIDATION_ERROR", message)


def _norm(fd: FieldDef, value: Any) -> Any:
    """A comparable form: numbers and times as floats, text lower-cased."""
    if value is None or value == "":
        return None
    if fd.kind in ("datetime", "date"):
        ms = ms_of(value)
        return float(ms) if ms is not None else None
    if fd.kind in ("int", "double", "currency", "id"):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    return str(value).lower()


def _test(fd: FieldDef, f: dict[str, Any], have: Any) -> bool:
    op = f["operator"]
    if op == "HAS_PROPERTY":
        return have is not None
    if op == "NOT_HAS_PROPERTY":
        return have is None
    if op in ("IN", "NOT_IN"):
        inside = have is not None and have in {_norm(fd, v) for v in f.get("values") or []}
        return inside if op == "IN" else not inside
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(f.get("value", "")).lower().strip("*")
        found = have is not None and any(
            token == t or (token and token in t) for t in str(have).replace(";", " ").split()
        )
        return found if op == "CONTAINS_TOKEN" else not found
    want = _norm(fd, f.get("value"))
    if op == "EQ":
        return have == want
    if op == "NEQ":
        return have != want
    if have is None or want is None:
        return False
    try:
        if op == "BETWEEN":
            high = _norm(fd, f.get("highValue"))
            return high is not None and want <= have <= high
        return {"LT": have < want, "LTE": have <= want, "GT": have > want, "GTE": have >= want}[op]
    except TypeError:
        return False


def _check(obj: HsType, body: dict[str, Any]) -> tuple[list[list[dict[str, Any]]], tuple[FieldDef, bool] | None]:
    schema = obj.schema
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > 5:
        raise _bad("filterGroups must be a list of at most 5 groups")
    out: list[list[dict[str, Any]]] = []
    total = 0
    for g in groups:
        filters = g.get("filters") if isinstance(g, dict) else None
        if not isinstance(filters, list) or len(filters) > 6:
            raise _bad("each filterGroup needs a 'filters' list of at most 6 filters")
        total += len(filters)
        for f in filters:
            if not isinstance(f, dict) or f.get("operator") not in OPERATORS:
                raise _bad(
                    f"Invalid filter operator {f.get('operator') if isinstance(f, dict) else f!r}; "
                    f"allowed: {', '.join(sorted(OPERATORS))}"
                )
            if f.get("propertyName") not in schema:
                raise _bad(f"Property {f.get('propertyName')!r} does not exist on {obj.label}")
        out.append(filters)
    if total > 18:
        raise _bad(f"Too many filters: {total}; at most 18 filters are allowed across filterGroups")
    sorts = body.get("sorts") or []
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise _bad("At most one sort is supported")
    sort = None
    if sorts:
        s = sorts[0]
        if isinstance(s, str):
            name, desc = s.lstrip("-"), s.startswith("-")
        elif isinstance(s, dict):
            name, desc = str(s.get("propertyName")), str(s.get("direction", "ASCENDING")).upper() == "DESCENDING"
        else:
            raise _bad("Invalid sort")
        if name not in schema:
            raise _bad(f"Property {name!r} does not exist on {obj.label}")
        sort = (schema[name], desc)
    return out, sort


def _sql(obj: HsType, groups: list[list[dict[str, Any]]]) -> tuple[str, list[Any]]:
    """SQL for groups made only of comparisons on system properties (with the archive left out),
    else just the archive condition (the filters then run in Python)."""
    live = "deleted = 0"
    if not groups:
        return live, []
    parts: list[str] = []
    params: list[Any] = []
    for group in groups:
        conds = []
        for f in group:
            fd = obj.schema[f["propertyName"]]
            val = _norm(fd, f.get("value"))
            if fd.system not in _COLUMNS or f["operator"] not in _SQL_OPS or val is None:
                return live, []
            conds.append(f"{_COLUMNS[fd.system]} {_SQL_OPS[f['operator']]} ?")
            params.append(val)
        parts.append("(" + " AND ".join(conds) + ")")
    return f"{live} AND ({' OR '.join(parts)})", params


def _complete(obj: HsType, groups: list[list[dict[str, Any]]]) -> bool:
    """Whether ``_sql`` decides the filters alone."""
    return all(
        obj.schema[f["propertyName"]].system in _COLUMNS
        and f["operator"] in _SQL_OPS
        and _norm(obj.schema[f["propertyName"]], f.get("value")) is not None
        for g in groups
        for f in g
    )


def _matches(
    app: HubSpotObjects, obj: HsType, groups: list[list[dict[str, Any]]], query: str
) -> Callable[[Record], bool]:
    schema = obj.schema

    def ok(rec: Record) -> bool:
        if query:
            hay = " ".join(str(app.value(rec, schema[n]) or "") for n in obj.text_props if n in schema)
            if query.lower() not in hay.lower():
                return False
        if not groups:
            return True
        return any(
            all(
                _test(
                    schema[f["propertyName"]],
                    f,
                    _norm(schema[f["propertyName"]], app.value(rec, schema[f["propertyName"]])),
                )
                for f in g
            )
            for g in groups
        )

    return ok


def run_search(app: HubSpotObjects, req: Request, obj: HsType) -> Response:
    """Answer one search request on ``obj``'s records."""
    try:
        body = req.json() or {}
    except ValueError:
        raise _bad("Invalid input JSON") from None
    if not isinstance(body, dict):
        raise _bad("Invalid input JSON")
    try:
        limit = int(body.get("limit") or 10)
        after = int(body.get("after") or 0)
    except (TypeError, ValueError):
        raise _bad("limit and after must be integers") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad(f"limit must be between 1 and {MAX_LIMIT} (got {limit})")
    cap = app.options.search_cap
    if after >= cap:
        raise _bad(
            f"after={after}: a search returns at most {cap} results; narrow the filters "
            "(e.g. hs_lastmodifieddate GTE the last value seen) to page further"
        )
    groups, sort = _check(obj, body)
    query = str(body.get("query") or "").strip()
    names = app.requested(body.get("properties"), obj)
    where, params = _sql(obj, groups)
    order = "CAST(id AS INTEGER)"
    if sort is not None and sort[0].system in _COLUMNS:
        order = f"{_COLUMNS[sort[0].system]} {'DESC' if sort[1] else 'ASC'}, CAST(id AS INTEGER)"
    store = obj.store
    if not query and _complete(obj, groups) and (sort is None or sort[0].system in _COLUMNS):
        ids = store.select_ids(where, params, order)
    else:
        keep = _matches(app, obj, groups, query)
        recs = [r for r in store.scan(store.select_ids(where, params, "CAST(id AS INTEGER)")) if keep(r)]
        if sort is not None:
            fd, desc = sort
            keyed = [(_norm(fd, app.value(r, fd)), r) for r in recs]
            valued = sorted((k for k in keyed if k[0] is not None), key=lambda k: k[0], reverse=desc)
            recs = [r for _, r in valued] + [r for v, r in keyed if v is None]
        ids = [r.id for r in recs]
    page = ids[after : min(after + limit, cap)]
    found = store.get_many(page)
    out: dict[str, Any] = {
        "total": len(ids),
        "results": [app.render(found[i], names, obj) for i in page if i in found],
    }
    nxt = after + len(page)
    if nxt < len(ids) and page:
        out["paging"] = {"next": {"after": str(nxt), "link": f"{app.base_url}/crm/v3/objects/{obj.name}/search"}}
    return json_response(200, out)
