"""Deterministic fault injection.

A plan is ``{"seed": 1, "faults": [FAULT, ...]}``; each FAULT is::

    {"kind": "429" | "500" | "503" | "timeout" | "record_failure" | "expired_session",
     "endpoint": "query",        # optional: substring of the endpoint name or the request path
     "count": 1,                 # times it fires (default 1; len(ids) for record_failure with ids; -1 = forever)
     "every": 1,                 # fire on every k-th matching call (record, for record_failure)
     "after": 0,                 # let this many matching calls pass first
     "probability": 1.0,         # fire with this probability (seeded RNG: deterministic)
     "ids": ["001..."],          # record_failure: only these record ids
     "retry_after": 1,           # 429/503: Retry-After header seconds
     "delay": 5.0,               # timeout: seconds to hold the response (default: server timeout_delay)
     "error": "UNABLE_TO_LOCK_ROW", "message": "..."}   # record_failure: error code/category and text

Faults are tried in order; a call gets at most one call-level fault. A ``timeout``
fault processes the request normally and then holds the response, so a client that
gives up may not know that its write was applied.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

CALL_KINDS = ("429", "500", "503", "timeout", "expired_session")
KINDS = (*CALL_KINDS, "record_failure")


@dataclass(slots=True)
class Fault:
    """One injected fault and its counters."""

    kind: str
    endpoint: str | None = None
    count: int = 1
    every: int = 1
    after: int = 0
    probability: float = 1.0
    ids: frozenset[str] | None = None
    retry_after: float | None = None
    delay: float | None = None
    error: str | None = None
    message: str | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, endpoint: str, path: str) -> bool:
        return self.endpoint is None or self.endpoint in endpoint or self.endpoint in path

    def exhausted(self) -> bool:
        return self.count >= 0 and self.fired >= self.count

    def describe(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in ("kind", "endpoint", "count", "every", "seen", "fired")}
        if self.ids is not None:
            out["ids"] = sorted(self.ids)
        return out


def parse_fault(spec: dict[str, Any]) -> Fault:
    """Validate one fault spec; raises ValueError naming the bad key."""
    if not isinstance(spec, dict):
        raise ValueError("each fault must be an object")
    unknown = set(spec) - {
        "kind",
        "endpoint",
        "count",
        "every",
        "after",
        "probability",
        "ids",
        "retry_after",
        "delay",
        "error",
        "message",
    }
    if unknown:
        raise ValueError(f"unknown fault key(s): {', '.join(sorted(unknown))}")
    kind = str(spec.get("kind"))
    if kind not in KINDS:
        raise ValueError(f"fault kind {kind!r} not allowed; allowed: {', '.join(KINDS)}")
    ids = spec.get("ids")
    if ids is not None and (not isinstance(ids, list) or kind != "record_failure"):
        raise ValueError("'ids' must be a list and only applies to record_failure")
    default_count = len(ids) if ids else 1
    every = int(spec.get("every") or 1)
    if every < 1:
        raise ValueError("'every' must be >= 1")
    return Fault(
        kind=kind,
        endpoint=spec.get("endpoint"),
        count=int(spec.get("count", default_count)),
        every=every,
        after=int(spec.get("after") or 0),
        probability=float(spec.get("probability", 1.0)),
        ids=frozenset(str(i) for i in ids) if ids is not None else None,
        retry_after=None if spec.get("retry_after") is None else float(spec["retry_after"]),
        delay=None if spec.get("delay") is None else float(spec["delay"]),
        error=spec.get("error"),
        message=spec.get("message"),
    )


@dataclass
class FaultPlan:
    """The active faults and a seeded RNG; thread-safe."""

    faults: list[Fault] = field(default_factory=list)
    seed: int = 0
    fired: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)

    def load(self, plan: dict[str, Any]) -> list[Fault]:
        """Add the faults of ``plan`` (keeps existing ones); a new seed resets the RNG."""
        specs = plan.get("faults")
        if specs is None and "kind" in plan:
            specs = [plan]
        if not isinstance(specs, list):
            raise ValueError("expected {'faults': [...]}")
        parsed = [parse_fault(s) for s in specs]
        with self._lock:
            if "seed" in plan:
                self.seed = int(plan["seed"])
                self._rng = random.Random(self.seed)
            self.faults.extend(parsed)
        return parsed

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self.faults.clear()

    def _tick(self, f: Fault) -> bool:
        f.seen += 1
        if f.seen <= f.after or (f.seen - f.after) % f.every != 0:
            return False
        if f.probability < 1.0 and self._rng.random() >= f.probability:
            return False
        f.fired += 1
        self.fired[f.kind] = self.fired.get(f.kind, 0) + 1
        return True

    def call_fault(self, endpoint: str, path: str) -> Fault | None:
        """The call-level fault (429/500/503/timeout/expired_session) this call gets, if any."""
        with self._lock:
            for f in self.faults:
                if f.kind in CALL_KINDS and not f.exhausted() and f.matches(endpoint, path) and self._tick(f):
                    return f
        return None

    def record_fault(self, endpoint: str, path: str, record_id: str) -> Fault | None:
        """The record_failure fault this record of a write gets, if any."""
        with self._lock:
            for f in self.faults:
                if f.kind != "record_failure" or f.exhausted() or not f.matches(endpoint, path):
                    continue
                if f.ids is not None and record_id not in f.ids:
                    continue
                if self._tick(f):
                    return f
        return None

    def snapshot(self) -> dict[str, Any]:
        """Active faults and fire counts (for the stats endpoint)."""
        with self._lock:
            return {"active": [f.describe() for f in self.faults if not f.exhausted()], "fired": dict(self.fired)}

    def reset_counts(self) -> None:
        """Forget how often faults fired (stats reset)."""
        with self._lock:
            self.fired.clear()
