"""Count snapshots in the SQL store (a mixin of :class:`crmseg.state.sql.SqlStore`): label counts of
the present accounts' recorded tags per run and dimension, which drift compares.
"""

from __future__ import annotations

from collections.abc import Sequence

from crmseg.model import NONE_LABEL
from crmseg.state.sqlbase import SqlBase


class SnapshotRows(SqlBase):
    """Per-run label counts (see the module's docstring)."""

    # ------------------------------------------------------------ snapshots
    def write_snapshot(self, sync: str, run: int, dimensions: Sequence[str]) -> dict[str, dict[str, int]]:
        """Label counts of the recorded tags of the present accounts, per dimension, stored for ``run``."""
        out: dict[str, dict[str, int]] = {}
        with self._tx() as cur:
            total = int(
                self._exec(cur, "SELECT COUNT(*) FROM accounts WHERE sync = ? AND present = 1", (sync,)).fetchone()[0]
            )
            for dim in dimensions:
                rows = self._exec(
                    cur,
                    "SELECT t.value, COUNT(*) FROM tags t JOIN accounts a ON a.sync = t.sync AND "
                    "a.account = t.account WHERE t.sync = ? AND t.dimension = ? AND a.present = 1 "
                    "GROUP BY t.value",
                    (sync, dim),
                ).fetchall()
                counts: dict[str, int] = {}
                for value, n in rows:
                    label = NONE_LABEL if value is None else str(value)
                    counts[label] = counts.get(label, 0) + int(n)
                untagged = total - sum(counts.values())
                if untagged > 0:
                    counts[NONE_LABEL] = counts.get(NONE_LABEL, 0) + untagged
                out[dim] = counts
                self._many(
                    cur,
                    "INSERT INTO snapshots (sync, run, dimension, label, n) VALUES (?, ?, ?, ?, ?)",
                    ((sync, run, dim, label, n) for label, n in counts.items()),
                )
        return out

    def snapshots(self, sync: str, run_ids: Sequence[int]) -> dict[int, dict[str, dict[str, int]]]:
        out: dict[int, dict[str, dict[str, int]]] = {}
        if not run_ids:
            return out
        marks = ", ".join("?" * len(run_ids))
        for run, dim, label, n in self._query(
            f"SELECT run, dimension, label, n FROM snapshots WHERE sync = ? AND run IN "
            f"({marks}) ORDER BY run, dimension, label",
            (sync, *run_ids),
        ):
            out.setdefault(int(run), {}).setdefault(dim, {})[label] = int(n)
        return out
