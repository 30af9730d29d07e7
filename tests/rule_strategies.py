"""Hypothesis strategies: well-typed rule expressions over a fixed schema, and messy accounts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

TYPES = {
    "n1": "int",
    "n2": "int",
    "x1": "float",
    "s1": "str",
    "s2": "str",
    "b1": "bool",
    "l1": "list",
    "d1": "date",
    "t1": "datetime",
}
WORDS = ["a", "b", "ab", "US", "us", "Saas", "é", "日本", "x y", "A"]
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)

num_lit = st.sampled_from([-1, 0, 1, 5, 10, 100, 2.5, 1_000_000, -0.5])
str_lit = st.sampled_from(WORDS)
ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def q(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _lit(v: object) -> str:
    return q(v) if isinstance(v, str) else repr(v)


atoms = st.one_of(
    st.builds(lambda f, o, v: f"{f} {o} {_lit(v)}", st.sampled_from(["n1", "n2", "x1"]), ops, num_lit),
    st.builds(lambda f, o, v: f"{_lit(v)} {o} {f}", st.sampled_from(["n1", "x1"]), ops, num_lit),
    st.builds(lambda a, f, b: f"{_lit(a)} <= {f} < {_lit(b)}", num_lit, st.sampled_from(["n1", "x1"]), num_lit),
    st.builds(lambda f, o, v: f"{f} {o} {_lit(v)}", st.sampled_from(["s1", "s2"]), ops, str_lit),
    st.builds(lambda f, v: f"lower({f}) == {_lit(v)}", st.sampled_from(["s1", "s2"]), str_lit),
    st.builds(lambda o, v: f"b1 {o} {v}", st.sampled_from(["==", "!="]), st.sampled_from(["true", "false"])),
    st.just("b1"),
    st.builds(
        lambda f, neg, vs: f"{f} {'not in' if neg else 'in'} [{', '.join(map(_lit, vs))}]",
        st.sampled_from(["s1", "s2"]),
        st.booleans(),
        st.lists(str_lit, max_size=3),
    ),
    st.builds(
        lambda neg, vs: f"n1 {'not in' if neg else 'in'} [{', '.join(map(_lit, vs))}]",
        st.booleans(),
        st.lists(num_lit, max_size=3),
    ),
    st.builds(lambda v, neg: f"{_lit(v)} {'not in' if neg else 'in'} l1", str_lit, st.booleans()),
    st.builds(
        lambda fn, f, v: f"{fn}({f}, {_lit(v)})",
        st.sampled_from(["contains", "startswith", "endswith"]),
        st.sampled_from(["s1", "s2"]),
        str_lit,
    ),
    st.builds(lambda v: f"contains(l1, {_lit(v)})", str_lit),
    st.builds(lambda p: f"matches(s1, {_lit(p)})", st.sampled_from(["^a", "b$", "[A-Z]", "x y|日"])),
    st.builds(lambda f: f"is_set({f})", st.sampled_from(sorted(TYPES))),
    st.builds(
        lambda f, o, k: f"days_since({f}) {o} {k}", st.sampled_from(["d1", "t1"]), ops, st.sampled_from([0, 30, 365])
    ),
    st.builds(lambda o: f"n1 {o} n2", ops),
    st.builds(lambda o: f"s1 {o} s2", ops),
    st.sampled_from(["true", "false", "1 < 2"]),
)

# long lists and long ``or``s: durable gets these as one set test / one boolean computed in Python
long_words = st.lists(st.one_of(str_lit, st.text(alphabet="abAB日", min_size=1, max_size=3)), min_size=17, max_size=300)
long_atoms = st.one_of(
    st.builds(
        lambda f, neg, vs: f"{f} {'not in' if neg else 'in'} [{', '.join(map(_lit, vs))}]",
        st.sampled_from(["s1", "s2"]),
        st.booleans(),
        long_words,
    ),
    st.builds(
        lambda neg, vs: f"n1 {'not in' if neg else 'in'} [{', '.join(map(_lit, vs))}]",
        st.booleans(),
        st.lists(st.one_of(num_lit, st.integers(-50, 50)), min_size=17, max_size=300),
    ),
    st.lists(atoms, min_size=33, max_size=80).map(lambda terms: "(" + " or ".join(terms) + ")"),
    st.lists(atoms, min_size=2, max_size=6).map(
        lambda terms: " and ".join(f"({t} or {t} or s1 == 'a')" for t in terms)
    ),
)

exprs = st.recursive(
    st.one_of(atoms, long_atoms),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", inner, inner),
        st.builds(lambda a, b: f"({a} or {b})", inner, inner),
        st.builds(lambda a: f"not ({a})", inner),
    ),
    max_leaves=5,
)


def _value(kind: str) -> st.SearchStrategy[object]:
    good = {
        "int": st.one_of(num_lit.filter(lambda v: isinstance(v, int)), st.integers(-(2**40), 2**40)),
        "float": st.one_of(num_lit, st.floats(-1e9, 1e9, allow_nan=False)),
        "str": st.one_of(str_lit, st.text(alphabet="abAB Ué日-_'", max_size=4)),
        "bool": st.booleans(),
        "list": st.lists(str_lit, max_size=3).map(tuple),
        "date": st.builds(lambda d: (NOW - timedelta(days=d)).date(), st.integers(-10, 800)),
        "datetime": st.builds(lambda h: NOW - timedelta(hours=h), st.integers(-100, 20000)),
    }[kind]
    wrong = st.sampled_from(["5", 5, 2.5, True, "a", ("a",)])
    return st.one_of(good, good, good, wrong, st.sampled_from([None, ""]))


accounts = st.fixed_dictionaries({}, optional={f: _value(t) for f, t in TYPES.items()})


@st.composite
def rule_dirs(draw: st.DrawFn) -> dict[str, str]:
    """TOML texts of 2–3 dimensions: a label, a score, and sometimes one reading both."""
    files: dict[str, str] = {}
    n = draw(st.integers(1, 4))
    labels = ["A", "B", "C", "D"]
    body = ['dimension = "seg"', 'values = ["A", "B", "C", "D", "Z"]']
    if draw(st.booleans()):
        body.append('default = "Z"')
    for i in range(n):
        body += ["[[rule]]", f'name = "r{i}"', f"when = {json.dumps(draw(exprs))}", f'value = "{labels[i]}"']
        if draw(st.integers(0, 9)) == 0:
            body.append("enabled = false")
    files["seg.toml"] = "\n".join(body)
    body = ['dimension = "score"', 'kind = "score"', f"default = {draw(st.sampled_from([0, 10, 2.5]))}"]
    for i in range(draw(st.integers(1, 4))):
        body += [
            "[[rule]]",
            f'name = "p{i}"',
            f"when = {json.dumps(draw(exprs))}",
            f"points = {draw(st.sampled_from([1, 5, -3, 2.5, 10]))}",
        ]
    files["score.toml"] = "\n".join(body)
    if draw(st.booleans()):
        files["tier.toml"] = "\n".join(
            [
                'dimension = "tier"',
                "[[rule]]",
                'name = "top"',
                f"when = {json.dumps('score >= 10 and seg in [' + repr(draw(str_lit)) + ', ' + repr('A') + ']')}",
                'value = "T1"',
                "[[rule]]",
                'name = "next"',
                f"when = {json.dumps(draw(st.sampled_from(['score > 0', 'not is_set(seg)', 'seg != ' + repr('B')])))}",
                'value = "T2"',
            ]
        )
    return files
