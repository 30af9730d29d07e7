"""What to create in Dataverse for a mapping's missing tag columns (``crmseg schema --provision``).

crmseg does not create Dataverse columns itself: a custom column's name carries a publisher's
customization prefix (the shipped mapping uses ``new_``, the default publisher every
environment has; an organization with its own publisher renames the columns), and column
changes usually travel in a solution an admin owns. So ``--provision`` prints the Web API
requests that create them, as Microsoft documents them ("Create and update column definitions
using the Web API"): one ``POST .../EntityDefinitions(LogicalName='account')/Attributes`` per
missing column, ``InsertOptionValue`` for a rule label an existing choice column lacks, then
``PublishXml``. Column kinds follow the rules: a dimension with ``values`` becomes a choice
(options valued from 100,000,000, the default publisher's option prefix), a score dimension a
floating-point number, any other a single line of text; the pin column a yes/no.
"""

from __future__ import annotations

import json
from collections.abc import Mapping as TMapping
from collections.abc import Sequence
from typing import Any

from crmseg.config import Mapping
from crmseg.model import SchemaField

__all__ = ["OPTION_BASE", "attribute_body", "provision_steps"]

#: The option values of the default publisher (``new_``): 100,000,000 and up.
OPTION_BASE = 100_000_000
LANGUAGE = 1033  # the labels' language (English); the environment's base language may differ
_CHOICE_TYPES = frozenset({"Picklist", "State", "Status"})


def _label(text: str) -> dict[str, Any]:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [
            {"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text, "LanguageCode": LANGUAGE}
        ],
    }


def attribute_body(name: str, kind: str, display: str, values: Sequence[str] = ()) -> dict[str, Any]:
    """The ``AttributeMetadata`` creating column ``name`` (its SchemaName; the logical name is its
    lower case): ``kind`` is ``choice`` (options ``values``), ``number``, ``text`` or ``yesno``."""
    body: dict[str, Any] = {
        "SchemaName": name,
        "DisplayName": _label(display),
        "Description": _label(f"Written by crmseg ({display})"),
        "RequiredLevel": {"Value": "None", "CanBeChanged": True},
    }
    if kind == "choice":
        body |= {
            "@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            "AttributeType": "Picklist",
            "AttributeTypeName": {"Value": "PicklistType"},
            "OptionSet": {
                "@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata",
                "IsGlobal": False,
                "OptionSetType": "Picklist",
                "Options": [{"Value": OPTION_BASE + i, "Label": _label(v)} for i, v in enumerate(values)],
            },
        }
    elif kind == "number":
        body |= {
            "@odata.type": "Microsoft.Dynamics.CRM.DoubleAttributeMetadata",
            "AttributeType": "Double",
            "AttributeTypeName": {"Value": "DoubleType"},
            "MinValue": -100_000_000_000.0,
            "MaxValue": 100_000_000_000.0,
            "Precision": 2,
        }
    elif kind == "yesno":
        body |= {
            "@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
            "AttributeType": "Boolean",
            "AttributeTypeName": {"Value": "BooleanType"},
            "DefaultValue": False,
            "OptionSet": {
                "@odata.type": "Microsoft.Dynamics.CRM.BooleanOptionSetMetadata",
                "TrueOption": {"Value": 1, "Label": _label("Yes")},
                "FalseOption": {"Value": 0, "Label": _label("No")},
                "OptionSetType": "Boolean",
            },
        }
    else:
        body |= {
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            "AttributeType": "String",
            "AttributeTypeName": {"Value": "StringType"},
            "FormatName": {"Value": "Text"},
            "MaxLength": 100,
        }
    return body


def provision_steps(
    base: str,
    schema: TMapping[str, SchemaField],
    mapping: Mapping,
    dimensions: TMapping[str, list[str] | None],
    scores: Sequence[str] = (),
) -> list[str]:
    """The numbered steps (each a request with its JSON body) that give ``account`` the mapping's
    missing tag and pin columns and the options a choice tag column lacks; [] when none is missing."""
    attributes = f"{base}/EntityDefinitions(LogicalName='account')/Attributes"
    requests: list[tuple[str, str, dict[str, Any]]] = []
    pin = mapping.pin_field
    if pin and pin not in schema:
        requests.append((f"create the yes/no column {pin} (the pin)", f"POST {attributes}", _yesno(pin)))
    for dim, values in dimensions.items():
        name = mapping.tag_field(dim)
        if not name:
            continue
        have = schema.get(name)
        if have is None:
            kind = "number" if dim in scores else "choice" if values else "text"
            what = {"number": "floating-point number", "choice": "choice", "text": "single line of text"}[kind]
            body = attribute_body(name, kind, f"crmseg {dim}", values or ())
            requests.append((f"create the {what} column {name} ({dim})", f"POST {attributes}", body))
        elif values and have.type in _CHOICE_TYPES:
            taken: dict[str, int] = have.extra.get("option_values") or {}
            nxt = max([OPTION_BASE - 1, *taken.values()]) + 1
            for v in values:
                if v in taken:
                    continue
                body = {
                    "EntityLogicalName": "account",
                    "AttributeLogicalName": name,
                    "Value": nxt,
                    "Label": _label(v),
                }
                requests.append((f"add the option {v!r} to {name}", f"POST {base}/InsertOptionValue", body))
                nxt += 1
    if not requests:
        return []
    publish = {"ParameterXml": "<importexportxml><entities><entity>account</entity></entities></importexportxml>"}
    requests.append(("publish the account table's customizations", f"POST {base}/PublishXml", publish))
    out = [INTRO]
    for n, (what, line, body) in enumerate(requests, start=1):
        out.append(f"{n}. {what}\n   {line}\n{_indent(json.dumps(body, indent=2, ensure_ascii=False))}")
    return out


INTRO = (
    "Dataverse columns to create (crmseg does not create them: the names carry your publisher's "
    "prefix, new_ in the shipped mapping). Send these as a user with the System Customizer role, "
    "optionally with the header 'MSCRM.SolutionUniqueName: <your solution>' to add them to a solution; "
    "or create the same columns in make.powerapps.com (Tables > Account > Columns):"
)


def _yesno(name: str) -> dict[str, Any]:
    return attribute_body(name, "yesno", "crmseg pin (never write this account)")


def _indent(text: str) -> str:
    return "\n".join(f"   {line}" for line in text.splitlines())
