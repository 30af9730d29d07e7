"""The segment-drift alert of a sync run: the PSI of each dimension's label counts against the
previous completed run's snapshot, when the sync sets ``drift_alert_psi``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from crmseg.drift.measures import flag, snapshot_psi
from crmseg.rules.model import Dimension
from crmseg.state.store import StateStore


def drift_alert(
    store: StateStore,
    sync: str,
    run: int,
    snapshot: Mapping[str, Mapping[str, int]],
    dimensions: Sequence[Dimension],
    limit: float | None,
) -> str | None:
    """A warning when a dimension's PSI between ``snapshot`` (run ``run``'s label counts) and the
    previous completed run's reaches ``limit`` (``drift_alert_psi``); None otherwise."""
    if not limit:
        return None
    prev = next(
        (r for r in reversed(store.runs(sync)) if r.id != run and r.status in ("succeeded", "partial")),
        None,
    )
    if prev is None:
        return None
    before = store.snapshots(sync, [prev.id]).get(prev.id, {})
    scores = [d.name for d in dimensions if d.kind == "score"]
    values = snapshot_psi(before, snapshot, scores)
    hits = [f"{dim} PSI {v:.3f} ({flag(v)})" for dim, v in sorted(values.items()) if v >= limit]
    if not hits:
        return None
    return f"{'; '.join(hits)} against run {prev.id} (drift_alert_psi = {limit})"
