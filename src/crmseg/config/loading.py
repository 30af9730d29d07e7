"""Reading a TOML file into a validated model: the strict model base, durations, and error
messages that name the file and the key and list the allowed values."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from crmseg.errors import ConfigError


class StrictModel(BaseModel):
    """A config table: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: Keys the loader fills in (a sync's name, the file's path): never offered as allowed keys.
    loader_keys: ClassVar[frozenset[str]] = frozenset()


def parse_interval(text: str) -> float | None:
    """'90s', '15m', '2h', '1d' -> seconds, or None when malformed."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", text)
    if not m:
        return None
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def interval_seconds(text: str) -> float:
    """A duration the model's validator accepted, in seconds."""
    seconds = parse_interval(text)
    if seconds is None:  # only a model built without validation gets here
        raise ConfigError(f"duration {text!r} must look like 30s, 15m, 2h or 1d")
    return seconds


def read_toml(p: Path) -> dict[str, Any]:
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def validate_toml(model: type[BaseModel], data: dict[str, Any], p: Path) -> Any:
    """``model`` from ``data``, or ConfigError: one line per problem, in the file's own key names."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines: list[str] = []
        listed: set[str] = set()
        for err in exc.errors():
            raw = [x for x in err["loc"] if not str(x).startswith("function-after")]
            keys = _user_loc(model, raw)
            loc = ".".join(str(x) for x in keys)
            msg = str(err["msg"]).removeprefix("Value error, ")
            ctx = err.get("ctx") or {}
            if err["type"] == "literal_error" and "expected" in ctx:
                msg = f"{msg} (allowed: {ctx['expected']})"
            bound = _BOUNDS.get(err["type"])
            if bound is not None:
                limit = next(iter(ctx.values()), "?")
                msg = f"must be {bound} {limit} (got {err.get('input')!r})"
            elif err["type"] in _KINDS:
                msg = f"must be {_KINDS[err['type']]} (got {err.get('input')!r})"
            if err["type"] == "union_tag_invalid":
                msg = "unknown connector (allowed: 'csv', 'jsonl', 'salesforce', 'hubspot', 'dynamics', 'zoho')"
            if err["type"] == "extra_forbidden":
                table = ".".join(str(x) for x in keys[:-1])
                msg = _unknown_key(str(keys[-1]), _allowed_keys(model, raw[:-1]), table in listed)
                if "(allowed:" in msg:
                    listed.add(table)
            lines.append(f"{p}: {loc}: {msg}")
        raise ConfigError("\n".join(lines)) from None


_BOUNDS = {
    "greater_than": "greater than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}
_KINDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a quoted text",
}


def _sync_model(model: type[BaseModel], tag: Any) -> type[BaseModel] | None:
    """The model of a ``[syncs.NAME]`` table whose ``connector`` is ``tag``: a member of the
    discriminated union ``model.syncs`` holds (None when ``model`` has no syncs or no such member)."""
    from typing import Annotated, get_args, get_origin

    field = model.model_fields.get("syncs")
    args = get_args(field.annotation) if field is not None else ()
    if len(args) != 2:
        return None
    union = get_args(args[1])[0] if get_origin(args[1]) is Annotated else args[1]
    for member in get_args(union):
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            continue
        connector = member.model_fields.get("connector")
        if connector is not None and tag in get_args(connector.annotation):
            return member
    return None


def _user_loc(model: type[BaseModel], loc: list[Any]) -> list[Any]:
    """pydantic's location in the file's own keys: a sync's connector tag left out."""
    if len(loc) >= 3 and loc[0] == "syncs" and _sync_model(model, loc[2]) is not None:
        return loc[:2] + loc[3:]
    return loc


def _allowed_keys(model: type[BaseModel], loc: list[Any]) -> list[str]:
    """The keys the table at ``loc`` (pydantic's location) may hold."""
    from typing import get_args, get_origin

    cur: Any = model
    sync_model = _sync_model(model, loc[2]) if len(loc) >= 3 and loc[0] == "syncs" else None
    if sync_model is not None:
        cur, loc = sync_model, loc[3:]
    for part in loc:
        cur = _optional_table(cur)
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            field = cur.model_fields.get(str(part))
            cur = field.annotation if field is not None else None
        elif get_origin(cur) is dict:
            cur = get_args(cur)[1]
        else:
            return []
    cur = _optional_table(cur)
    if isinstance(cur, type) and issubclass(cur, BaseModel):
        internal = cur.loader_keys if issubclass(cur, StrictModel) else frozenset()
        return [k for k in cur.model_fields if k not in internal]
    return []


def _optional_table(annotation: Any) -> Any:
    """The model of an optional table (``AlertsConfig | None`` for ``[alerts]``, a mapping's
    ``[deals]``), else ``annotation``."""
    from typing import get_args

    args = get_args(annotation)
    models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if len(models) == 1 and type(None) in args else annotation


def _unknown_key(key: str, allowed: list[str], listed: bool) -> str:
    """``unknown key — did you mean 'x'?``, else the allowed keys (once per table)."""
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key — did you mean {close[0]!r}?"
    if listed or not allowed:
        return "unknown key"
    return f"unknown key (allowed: {', '.join(allowed)})"
