"""HubSpot reads in the HubSpot sandbox: listing and getting companies and deals, deals' company
associations (v4) and the deal pipeline. Searches are :mod:`crmseg.sandbox.hs_search`'s.

- ``GET  /crm/v3/objects/companies?limit=≤100&properties=a,b&after=CURSOR``, ``GET .../{id}``
- ``GET  /crm/v3/objects/deals?limit=≤100&after=&properties=&associations=companies``: the
  companies inline, ``{"associations": {"companies": {"results": [{"id", "type"}]}}}`` with
  ``deal_to_company`` (primary) and ``deal_to_company_unlabeled`` entries (a primary company
  appears under both); archived deals only with ``archived=true``; ``GET .../deals/{id}`` alike
- ``POST /crm/v4/associations/deals/companies/batch/read``: ≤ 1,000 ``inputs``; each result
  ``{"from": {"id"}, "to": [{"toObjectId", "associationTypes": [{"category", "typeId", "label"}]}]}``
  (primary type id 5 besides unlabeled 341); deals without companies answer 207 with ``errors``
- ``GET  /crm/v3/pipelines/deals``: the default pipeline, stages with ``metadata.isClosed`` /
  ``metadata.probability`` (strings, as HubSpot sends them)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmseg.sandbox.base import Request, Response, json_response
from crmseg.sandbox.deal_setup import HS_COMPANIES_KEY, HS_PIPELINE, HS_PRIMARY_TYPE, HS_STAGES, HS_UNLABELED_TYPE
from crmseg.sandbox.hs_objects import HsType, HubSpotObjects
from crmseg.sandbox.hs_properties import hs_error

MAX_ASSOCIATION_BATCH = 1000
_STAMP = "2026-01-01T00:00:00Z"  # creation/update time of the built-in pipeline and stages


class HubSpotReads(HubSpotObjects):
    """The HubSpot app's reads: list and get (companies, deals), deal associations, pipelines."""

    # ------------------------------------------------------------ objects
    def _list(self, req: Request, obj: HsType) -> Response:
        try:
            limit = int(req.arg("limit") or 10)
        except ValueError:
            raise hs_error(400, "VALIDATION_ERROR", "limit must be an integer") from None
        if not 1 <= limit <= 100:
            raise hs_error(400, "VALIDATION_ERROR", f"limit must be between 1 and 100 (got {limit})")
        after = req.arg("after") or ""
        if after and not after.isdigit():
            raise hs_error(400, "VALIDATION_ERROR", f"Invalid paging cursor after={after!r}")
        names = self.requested(req.query.get("properties"), obj)
        archived = (req.arg("archived") or "").lower() == "true"
        inline = obj is self.deal_type and "companies" in self.requested(req.query.get("associations"), obj)
        where = "deleted = 1" if archived else "deleted = 0"
        params: list[Any] = []
        if after:
            where, params = f"{where} AND CAST(id AS INTEGER) >= ?", [int(after)]
        ids = obj.store.select_ids(where, params, "CAST(id AS INTEGER)", limit + 1)
        found = obj.store.get_many(ids[:limit])
        results = [self.render(found[i], names, obj) for i in ids[:limit] if i in found]
        if inline:
            results = [self.with_companies(out, found[out["id"]]) for out in results]
        body: dict[str, Any] = {"results": results}
        if len(ids) > limit:
            nxt = str(int(ids[limit - 1]) + 1)
            link = f"{self.base_url}/crm/v3/objects/{obj.name}?limit={limit}&after={nxt}&properties={','.join(names)}"
            body["paging"] = {"next": {"after": nxt, "link": link}}
        return json_response(200, body)

    def _get(self, req: Request, rid: str, obj: HsType | None = None) -> Response:
        obj = obj or self.companies
        rec = obj.store.get(rid)
        if rec is None or rec.deleted:
            raise hs_error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
        out = self.render(rec, self.requested(req.query.get("properties"), obj), obj)
        if obj is self.deal_type and "companies" in self.requested(req.query.get("associations"), obj):
            out = self.with_companies(out, rec)
        return json_response(200, out)

    # ------------------------------------------------------------ deals
    def _deal_companies(self, req: Request, deals: HsType) -> Response:
        """``POST /crm/v4/associations/deals/companies/batch/read``."""
        started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        try:
            body = req.json()
        except ValueError:
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON") from None
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and i.get("id") not in (None, "") for i in inputs
        ):
            raise hs_error(400, "VALIDATION_ERROR", "Invalid input JSON: 'inputs' must be a list of {\"id\": ...}")
        if len(inputs) > MAX_ASSOCIATION_BATCH:
            raise hs_error(
                400,
                "VALIDATION_ERROR",
                f"Batch input too large: {len(inputs)} inputs; the maximum is {MAX_ASSOCIATION_BATCH}",
            )
        ids = list(dict.fromkeys(str(i["id"]) for i in inputs))
        found = deals.store.get_many(ids)
        results, missing = [], []
        for rid in ids:
            rec = found.get(rid)
            companies = rec.data.get(HS_COMPANIES_KEY) if rec is not None and not rec.deleted else None
            if not companies:
                missing.append(rid)
                continue
            to = []
            for cid, primary in companies:
                types = [{"category": "HUBSPOT_DEFINED", "typeId": HS_UNLABELED_TYPE, "label": None}]
                if primary:
                    types.insert(0, {"category": "HUBSPOT_DEFINED", "typeId": HS_PRIMARY_TYPE, "label": "Primary"})
                to.append({"toObjectId": int(cid), "associationTypes": types})
            results.append({"from": {"id": rid}, "to": to})
        done = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": done}
        if not missing:
            return json_response(200, out)
        out["numErrors"] = len(missing)
        out["errors"] = [
            {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                "message": f"No company is associated with deal {rid}.",
                "context": {"fromObjectId": [rid]},
                "links": {},
                "errors": [],
            }
            for rid in missing
        ]
        return json_response(207, out)

    def _pipelines(self, req: Request) -> Response:
        """``GET /crm/v3/pipelines/deals``: the default pipeline and its stages."""
        stages = [
            {
                "id": sid,
                "label": label,
                "displayOrder": i,
                "metadata": {"isClosed": "true" if closed else "false", "probability": str(prob)},
                "createdAt": _STAMP,
                "updatedAt": _STAMP,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for i, (sid, label, prob, closed) in enumerate(HS_STAGES)
        ]
        pipeline = {
            "id": HS_PIPELINE[0],
            "label": HS_PIPELINE[1],
            "displayOrder": 0,
            "stages": stages,
            "createdAt": _STAMP,
            "updatedAt": _STAMP,
            "archived": False,
        }
        return json_response(200, {"results": [pipeline]})
