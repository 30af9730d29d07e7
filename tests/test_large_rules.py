"""10,000-item lists and 1,000-term ``or``s evaluate, explain and run their inline tests on
both engines within a generous timeout (each case runs in a child process: durable-rules
ignores Ctrl-C while it builds a ruleset, so only a child can be stopped)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.rule_env import ENGINES

TIMEOUT = 120  # seconds; both engines need well under 10 here, a hang used to take forever
N_LIST, N_OR = 10_000, 1_000

CHILD = textwrap.dedent("""
    import json, sys
    from datetime import datetime, timezone
    from crmseg.rules.engines import make_engine
    from crmseg.rules.explain import explain
    from crmseg.rules.loader import load_rules
    from crmseg.rules.testing import run_tests
    from tests.rule_strategies import NOW, TYPES

    engine, rules_dir, accounts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    rules = load_rules(rules_dir, TYPES)
    eng = make_engine(engine, rules, NOW)
    out = []
    for acc in accounts:
        res = eng.evaluate(acc)
        why = explain(rules, acc, res, NOW)
        out.append({d: [r.value, list(r.rules)] for d, r in res.items()}
                   | {"why": [f for e in why for t in e.rules for f in t.failed]})
    eng.close()
    tests = run_tests(rules, engine, NOW)
    print(json.dumps({"results": out, "tests": [[t.ok, t.message] for t in tests]}))
""")


def or_terms(n: int) -> str:
    """``n`` terms over four fields and kinds, none of them a plain membership list."""
    kinds = [
        lambda i: f"s1 == 'w{i}'",
        lambda i: f"n1 == {i}",
        lambda i: f"contains(s2, 'x{i}y')",
        lambda i: f"'t{i}' in l1",
    ]
    return " or ".join(kinds[i % 4](i) for i in range(n))


def write_rules(d: Path) -> None:
    domains = ", ".join(f"'d{i}.com'" for i in range(N_LIST))
    (d / "seg.toml").write_text(
        "\n".join(
            [
                'dimension = "seg"',
                "[[rule]]",
                'name = "named-account"',
                f'when = "s1 in [{domains}]"',
                'value = "ABM"',
                "[[rule]]",
                'name = "not-named"',
                f'when = "s2 not in [{domains}] and n1 > 5"',
                'value = "Other"',
                "[[rule]]",
                'name = "long-or"',
                f"when = {json.dumps(or_terms(N_OR))}",
                'value = "Or"',
                "[[test]]",
                'name = "last domain"',
                'account = { s1 = "d9999.com" }',
                'expect = "ABM"',
                "[[test]]",
                'name = "last or term"',
                'account = { l1 = ["t999"] }',
                'expect = "Or"',
            ]
        ),
        encoding="utf-8",
    )
    (d / "score.toml").write_text(
        "\n".join(
            [
                'dimension = "score"',
                'kind = "score"',
                "[[rule]]",
                'name = "named"',
                f'when = "s1 in [{domains}]"',
                "points = 10",
                "[[rule]]",
                'name = "or"',
                f"when = {json.dumps(or_terms(N_OR))}",
                "points = 1",
                "[[rule]]",
                'name = "products"',
                "when = " + json.dumps(" and ".join(f"(n1 == {i} or n2 == {i} or s2 == 'p{i}')" for i in range(6))),
                "points = 100",
            ]
        ),
        encoding="utf-8",
    )


ACCOUNTS = [
    {"s1": "d9999.com", "n1": 3},  # named account, first rule
    {"s1": "nope.com", "s2": "d5.com", "n1": 997},  # in the not-in list: not "Other"; n1 == 997 is an or term
    {"s2": "fresh.com", "n1": 7},  # not in the list and n1 > 5: "Other"
    {"l1": ["t999"]},  # the last term of the long or
    {"s2": "ax998y"},  # contains(s2, 'x998y')
    {},
]
EXPECTED = [
    {"seg": ["ABM", ["named-account"]], "score": [10, ["named"]]},
    {"seg": ["Or", ["long-or"]], "score": [1, ["or"]]},
    {"seg": ["Other", ["not-named"]], "score": [0, []]},
    {"seg": ["Or", ["long-or"]], "score": [1, ["or"]]},
    {"seg": ["Or", ["long-or"]], "score": [1, ["or"]]},
    {"seg": [None, []], "score": [0, []]},
]


@pytest.mark.parametrize("engine", ENGINES)
def test_long_lists_and_ors_evaluate_explain_and_check(tmp_path: Path, engine: str) -> None:
    write_rules(tmp_path)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, engine, str(tmp_path), json.dumps(ACCOUNTS)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    got = [{k: v for k, v in r.items() if k != "why"} for r in out["results"]]
    assert got == EXPECTED
    # explain: a membership list is one line naming the value read, not 10,000
    why = out["results"][5]["why"]
    assert any(line.startswith("s1 in ['d0.com', ") and line.endswith("(s1 is missing)") for line in why)
    assert len([line for line in why if "in ['d0.com'" in line]) == 2  # seg and score
    assert "s2 != 'd0.com'  (s2 is missing)" in why  # `not in`: the first false comparison
    assert out["tests"] == [[True, ""], [True, ""]]
