"""HubSpot tag properties: create the mapping's missing ones (``provision = true``, ``crmseg schema --provision``).

Every property crmseg creates sits in its own property group, ``crmseg`` (created first when
missing). A dimension with ``values`` becomes an enumeration (select) with those options, a
score dimension a number, any other a single-line string; the pin field a checkbox. An
enumeration in the ``crmseg`` group that lacks some of a dimension's values gets them added
(after its own, in order); a property outside the group is never changed.

The calls go through the connector's properties API (:class:`PropertyCalls`), so they count,
wait and retry as its other calls do, under the ``provision`` kind.
"""

from __future__ import annotations

from collections.abc import Mapping as TMapping
from collections.abc import Sequence
from typing import Any, Protocol

from crmseg.config import Mapping
from crmseg.connectors.hubspot_values import check_prop
from crmseg.model import SchemaField

__all__ = ["GROUP", "PropertyCalls", "provision_properties"]

#: The property group every property crmseg creates belongs to.
GROUP = "crmseg"


class PropertyCalls(Protocol):
    """What provisioning needs of the HubSpot connector (it passes itself)."""

    def schema(self) -> dict[str, SchemaField]:
        """The object's properties as the connector last read them."""
        ...

    def property_call(self, api: str, action: str, **kwargs: Any) -> Any:
        """One ``provision`` call: the method ``action`` of the properties API ``api`` (``core``,
        ``groups``) on the connector's object type, with ``kwargs``; the answer's JSON body."""
        ...


def provision_properties(
    source: PropertyCalls, mapping: Mapping, dimensions: TMapping[str, list[str] | None], scores: Sequence[str] = ()
) -> list[str]:
    """Create the mapping's missing tag (and pin) properties; add missing options to ours (see the
    module). Returns the property names created or changed."""
    schema = source.schema()
    changed: list[str] = []
    pin = mapping.pin_field
    wanted = [mapping.tag_field(d) for d in dimensions] + [pin]
    if any(name and name not in schema for name in wanted):
        _ensure_group(source)
    if pin and pin not in schema:
        check_prop(pin)
        source.property_call("core", "create", property_create=_pin_body(pin))
        changed.append(pin)
    for dim, values in dimensions.items():
        name = mapping.tag_field(dim)
        if not name:
            continue
        check_prop(name)
        have = schema.get(name)
        if have is None:
            source.property_call("core", "create", property_create=_property_body(name, dim, values, dim in scores))
            changed.append(name)
        elif values and have.options is not None and have.extra.get("group") == GROUP:
            missing = [v for v in values if v not in have.options]
            if missing:
                opts = [
                    {"label": v, "value": v, "displayOrder": i, "hidden": False}
                    for i, v in enumerate(list(have.options) + missing)
                ]
                source.property_call("core", "update", property_name=name, property_update={"options": opts})
                changed.append(name)
    return changed


def _ensure_group(source: PropertyCalls) -> None:
    groups = source.property_call("groups", "get_all")
    if any(g.get("name") == GROUP for g in groups.get("results", [])):
        return
    source.property_call(
        "groups",
        "create",
        property_group_create={"name": GROUP, "label": "crmseg segments", "displayOrder": -1},
    )


def _property_body(name: str, dim: str, values: list[str] | None, score: bool) -> dict[str, Any]:
    base = {
        "name": name,
        "label": dim.replace("_", " ").title(),
        "groupName": GROUP,
        "description": f"crmseg dimension {dim}",
    }
    if values:
        opts = [{"label": v, "value": v, "displayOrder": i, "hidden": False} for i, v in enumerate(values)]
        return {**base, "type": "enumeration", "fieldType": "select", "options": opts}
    if score:
        return {**base, "type": "number", "fieldType": "number"}
    return {**base, "type": "string", "fieldType": "text"}


def _pin_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": "crmseg pinned",
        "groupName": GROUP,
        "type": "bool",
        "fieldType": "booleancheckbox",
        "description": "when true, crmseg never changes this company's tags",
        "options": [
            {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
            {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
        ],
    }
