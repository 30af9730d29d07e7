"""Dataverse Web API (OData v4) conventions the Dynamics sandbox's handlers share: the API root,
an account's URL, Dataverse's error body and the ``Prefer`` header's preferences."""

from __future__ import annotations

import re

from crmseg.sandbox.base import ApiError, Request

API = "/api/data/v9.2"
#: An account's URL (``accounts(<guid>)``), the row's GUID its group.
ACCOUNT_PATH = re.compile(rf"^{re.escape(API)}/accounts\(([0-9a-fA-F-]{{36}})\)$")


def dv_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """An error answered with Dataverse's body shape."""
    return ApiError(status, {"error": {"code": code, "message": message}}, headers)


def preferences(req: Request) -> dict[str, str]:
    """The ``Prefer`` header's preferences (several headers or comma-joined), name -> value."""
    out: dict[str, str] = {}
    for item in req.header("prefer").split(","):
        name, _, value = item.strip().partition("=")
        if name:
            out[name.strip().lower()] = value.strip().strip('"')
    return out
