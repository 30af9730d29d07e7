"""What ``crmseg.reviewing`` computes from a state's columns on its own: the label combinations the
``customer`` expression is checked on (one int64 key per account, or rows when the codes do not
fit in one)."""

from __future__ import annotations

import numpy as np

from crmseg.reviewing.from_state import _combinations


def test_label_combinations_by_key_equal_those_by_row() -> None:
    rng = np.random.default_rng(5)
    sizes = [3, 1, 7, 0]
    codes = [rng.integers(-1, size, 500).astype(np.int32) for size in sizes]  # -1: no label
    rows, inverse = _combinations(codes, sizes)
    assert len(rows) == len({tuple(r) for r in rows})  # distinct
    for account in range(500):
        assert rows[inverse[account]] == [int(c[account]) for c in codes]
    huge = [2**40, 2**40, 7, 1]  # codes that do not fit in one int64 key: compared as rows
    by_rows, by_rows_inverse = _combinations(codes, huge)
    assert sorted(map(tuple, by_rows)) == sorted(map(tuple, rows))
    assert [by_rows[i] for i in by_rows_inverse] == [rows[i] for i in inverse]
    empty, nothing = _combinations([np.zeros(0, np.int32)], [2])
    assert empty == [] and len(nothing) == 0
