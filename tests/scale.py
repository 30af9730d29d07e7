"""How big the tests run: one place for data sizes and Hypothesis example counts.

``CRMSEG_TEST_PROFILE=ci`` (set by ``.ci/run``) gives the issue-sized runs; the default ``dev``
profile keeps the same tests small enough for a run before every commit.
"""

from __future__ import annotations

import os

PROFILES = ("dev", "ci")
PROFILE = os.environ.get("CRMSEG_TEST_PROFILE", "dev")
if PROFILE not in PROFILES:
    raise RuntimeError(f"CRMSEG_TEST_PROFILE={PROFILE!r}: expected one of {', '.join(PROFILES)}")
CI = PROFILE == "ci"

# Hypothesis examples per property (the registered profile of the same name, see conftest.py).
HYPOTHESIS_EXAMPLES = 1000 if CI else 60

# End-to-end data sizes (accounts in the sandbox CRM).
CRASH_ACCOUNTS = 20_000 if CI else 3_000  # SIGKILL points need several read pages and write batches
# daemon runs in the soak test: 20 to warm up, then RSS is compared between runs 20-40 and the last 20
SOAK_RUNS = int(os.environ.get("CRMSEG_SOAK_RUNS", "110" if CI else "60"))  # longer soaks: CRMSEG_SOAK_RUNS=1000
