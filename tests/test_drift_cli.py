"""``crmseg drift`` end to end: a real SQLite state built through the store API, the command
run in-process through the CLI, its JSON checked against PSI and matrices computed by hand."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from crmseg.drift.measures import EPS
from crmseg.state import StateStore, open_store
from crmseg.state.store import Confirmed

from .cli_run import CliResult
from .cli_run import crmseg as run_cli

ROOT = Path(__file__).resolve().parents[1]
SEG, ICP = "segment", "icp_score"
CONFIG = (
    '[state]\npath = "state.sqlite"\n'
    '[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\nrules = "rules"\n'
    '[syncs.other]\nconnector = "csv"\npath = "accounts.csv"\nrules = "rules"\n'
)


def crmseg(*args: str, cwd: Path) -> CliResult:
    return run_cli(*args, cwd=cwd, env={"COLUMNS": "120"})


def term(a: float, e: float) -> float:
    return (a - e) * math.log(a / e)


def record(store: StateStore, run: int, at: str, moves: dict[str, dict[str, str | None]]) -> None:
    """Confirm tags as the sync does: crm_before = the value recorded so far (None on first sight)."""
    have = store.recorded_tags("demo", list(moves))
    items = [
        Confirmed(acc, {dim: (have.get(acc, {}).get(dim), value, f"rule-{value}") for dim, value in dims.items()})
        for acc, dims in moves.items()
    ]
    store.confirm("demo", run, at, items)


def finish(store: StateStore, run: int, at: str, status: str = "succeeded", snapshot: bool = True) -> None:
    if snapshot:
        store.write_snapshot("demo", run, [SEG, ICP])
    store.finish_run(run, status, at, {"read": 10})


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """config.toml, rules/, accounts.csv and a state with 4 runs of sync 'demo' (run 3 failed).

    Run 1 is the initial load (every account's first evaluation); a9's score moves inside
    one bin in run 2 (90 -> 85, both > 80)."""
    d = tmp_path_factory.mktemp("drift")
    (d / "config.toml").write_text(CONFIG, encoding="utf-8")
    (d / "accounts.csv").write_text("id\n", encoding="utf-8")
    shutil.copytree(ROOT / "rules", d / "rules")
    accounts = [f"a{i}" for i in range(10)]
    store = open_store(d / "state.sqlite")
    try:
        # run 1: a0-a5 SMB, a6-a9 Mid-Market; icp_score 0, 10, ... 90
        r = store.begin_run("demo", "full", None, "fp", "test", "2024-03-01T08:00:00.000000Z")
        copies = [(a, {"id": a, "name": f"Company {i}", "domain": f"C{i}.example"}) for i, a in enumerate(accounts)]
        store.upsert_accounts("demo", r, copies)
        record(
            store,
            r,
            "2024-03-01T08:00:01.000000Z",
            {a: {SEG: "SMB" if i < 6 else "Mid-Market", ICP: str(10 * i)} for i, a in enumerate(accounts)},
        )
        finish(store, r, "2024-03-01T08:00:02.000000Z")
        # run 2: a0, a1 SMB -> Mid-Market; a9 Mid-Market -> Enterprise
        r = store.begin_run("demo", "incremental", None, "fp", "test", "2024-03-02T08:00:00.000000Z")
        record(
            store,
            r,
            "2024-03-02T08:00:01.000000Z",
            {"a0": {SEG: "Mid-Market"}, "a1": {SEG: "Mid-Market"}, "a9": {SEG: "Enterprise", ICP: "85"}},
        )
        finish(store, r, "2024-03-02T08:00:02.000000Z")
        # run 3 fails after confirming a0 Mid-Market -> SMB: a transition, no snapshot
        r = store.begin_run("demo", "incremental", None, "fp", "test", "2024-03-03T08:00:00.000000Z")
        record(store, r, "2024-03-03T08:00:01.000000Z", {"a0": {SEG: "SMB"}})
        finish(store, r, "2024-03-03T08:00:02.000000Z", status="failed", snapshot=False)
        # run 4: a0 SMB -> Mid-Market again; a2 loses its segment; a0-a4 score 95
        r = store.begin_run("demo", "incremental", None, "fp", "test", "2024-03-04T08:00:00.000000Z")
        record(
            store,
            r,
            "2024-03-04T08:00:01.000000Z",
            {
                "a0": {SEG: "Mid-Market", ICP: "95"},
                "a1": {ICP: "95"},
                "a2": {SEG: None, ICP: "95"},
                "a3": {ICP: "95"},
                "a4": {ICP: "95"},
            },
        )
        finish(store, r, "2024-03-04T08:00:02.000000Z")
    finally:
        store.close()
    return d


def test_json_psi_matrix_and_flapping_match_the_hand_computation(project: Path, tmp_path: Path) -> None:
    out, page = tmp_path / "drift.json", tmp_path / "drift.html"
    r = crmseg(
        "drift", "--config", "config.toml", "--sync", "demo", "--json", str(out), "--html", str(page), cwd=project
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text(encoding="utf-8"))

    assert rep["sync"] == "demo"
    assert [run["id"] for run in rep["runs"]] == [1, 2, 4]  # failed run 3 has no snapshot
    assert [run["id"] for run in rep["skipped_runs"]] == [3]
    assert rep["runs"][0]["at"] == "2024-03-01T08:00:00.000000Z"
    assert rep["runs"][0]["counts"][SEG] == {"SMB": 6, "Mid-Market": 4}
    assert rep["runs"][1]["counts"][SEG] == {"SMB": 4, "Mid-Market": 5, "Enterprise": 1}
    assert rep["runs"][2]["counts"][SEG] == {"SMB": 3, "Mid-Market": 5, "Enterprise": 1, "(none)": 1}

    seg = rep["dimensions"][SEG]
    # first {SMB .6, Mid .4} vs last {SMB .3, Mid .5, Ent .1, (none) .1}: Ent and (none) empty at first
    by_hand = term(0.3, 0.6) + term(0.5, 0.4) + term(0.1, EPS) + term(0.1, EPS)
    assert seg["psi"] == pytest.approx(by_hand, rel=1e-12)
    assert seg["flag"] == "major" and seg["kind"] == "label"
    # run 1 (first sight, the CRM held nothing) is the initial load, not moves
    assert seg["initial_load"] == {"Mid-Market": 4, "SMB": 6}
    assert seg["transitions"] == {
        "Mid-Market": {"Enterprise": 1, "SMB": 1},  # a9 in run 2; a0 in failed run 3
        "SMB": {"Mid-Market": 3, "(none)": 1},  # a0, a1 in run 2, a0 in run 4; a2 in run 4
    }
    assert seg["moves"] == 6
    # the declared values' order (rules/segment.toml) everywhere, (none) last
    assert seg["labels"] == ["Enterprise", "Mid-Market", "SMB", "(none)"]
    assert list(seg["transitions"]) == ["Mid-Market", "SMB"]
    assert list(seg["transitions"]["Mid-Market"]) == ["Enterprise", "SMB"]
    assert list(seg["initial_load"]) == list(seg["first"]) == ["Mid-Market", "SMB"]
    assert list(rep["runs"][2]["counts"][SEG]) == ["Enterprise", "Mid-Market", "SMB", "(none)"]
    # only a0 moved more than once once the backfill is left out; its name and domain beside its id
    assert seg["flapping"] == [
        {
            "account": "a0",
            "moves": 3,
            "path": ["SMB", "Mid-Market", "SMB", "Mid-Market"],
            "last_at": "2024-03-04T08:00:01.000000Z",
            "name": "Company 0",
            "domain": "c0.example",
        }
    ]

    icp = rep["dimensions"][ICP]
    assert icp["kind"] == "score"
    assert icp["bins"]["edges"] == [0, 10, 20, 30, 40, 50, 60, 70, 80]  # deciles of 0, 10 … 90
    assert icp["first"] == {"<= 0": 1, **{f"({10 * i}, {10 * i + 10}]": 1 for i in range(8)}, "> 80": 1}
    assert icp["last"] == {"(40, 50]": 1, "(50, 60]": 1, "(60, 70]": 1, "(70, 80]": 1, "> 80": 6}
    by_hand = 4 * term(0.1, 0.1) + term(0.6, 0.1) + 5 * term(EPS, 0.1)
    assert icp["psi"] == pytest.approx(by_hand, rel=1e-12)
    assert icp["flag"] == "major"
    assert icp["transitions"]["<= 0"] == {"> 80": 1}
    assert "(none)" not in icp["transitions"] and "> 80" not in icp["transitions"]  # a9: 90 -> 85 stays in > 80
    assert icp["moves"] == 5 and icp["moves_within_bins"] == 1
    assert icp["initial_load"] == {"<= 0": 1, **{f"({10 * i}, {10 * i + 10}]": 1 for i in range(8)}, "> 80": 1}
    assert rep["runs"][2]["score_counts"][ICP] == {"50": 1, "60": 1, "70": 1, "80": 1, "85": 1, "95": 5}

    # terminal: per dimension first/last counts, PSI and flag, the matrix, flapping
    assert f"PSI {by_hand:.4f} major" in r.stdout or f"{by_hand:.4f}" in r.stdout
    assert f"{seg['psi']:.4f}" in r.stdout and "Transitions" in r.stdout
    assert "a0 Company 0 (c0.example)" in r.stdout
    assert "initial load (first evaluations, not counted as moves): Mid-Market 4, SMB 6" in r.stdout
    assert "1 score move inside one bin not shown" in r.stdout
    assert "JSON written to" in r.stdout and "HTML report written to" in r.stdout


def test_html_is_one_self_contained_file(project: Path, tmp_path: Path) -> None:
    page = tmp_path / "drift.html"
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", "--html", str(page), cwd=project)
    assert r.returncode == 0, r.stderr
    text = page.read_text(encoding="utf-8")
    for ref in ("http://", "https://", "src=", "href=", "<script", "url(", "@import"):
        assert ref not in text.lower(), ref
    assert text.count("<svg") == 2 and "<polyline" in text  # a line chart per dimension
    assert "rgba(79,70,229" in text  # heat-map cells
    assert "a0 Company 0 (c0.example)" in text and "major" in text and "Mid-Market" in text
    assert "Initial load (first evaluations, not counted as moves): Mid-Market 4, SMB 6." in text


def test_since_limits_the_period(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    r = crmseg(
        "drift", "--config", "config.toml", "--sync", "demo", "--since", "2024-03-02", "--json", str(out), cwd=project
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text(encoding="utf-8"))
    assert [run["id"] for run in rep["runs"]] == [2, 4] and rep["since"] == "2024-03-02T00:00:00.000000Z"
    seg = rep["dimensions"][SEG]
    # run 2 {SMB .4, Mid .5, Ent .1} vs run 4 {SMB .3, Mid .5, Ent .1, (none) .1}
    assert seg["psi"] == pytest.approx(term(0.3, 0.4) + term(0.1, EPS))
    assert seg["flag"] == "major"  # a new value holding 10% weighs 0.0999 * ln(0.1 / EPS) ≈ 0.69 alone
    assert seg["transitions"] == {"SMB": {"Mid-Market": 3, "(none)": 1}, "Mid-Market": {"SMB": 1, "Enterprise": 1}}
    # a datetime with an offset is converted to UTC: 10:00+02:00 is 08:00Z, run 4's start
    r = crmseg(
        "drift",
        "--config",
        "config.toml",
        "--sync",
        "demo",
        "--since",
        "2024-03-04T10:00:00+02:00",
        "--json",
        str(out),
        cwd=project,
    )
    assert r.returncode == 0, r.stderr
    assert [run["id"] for run in json.loads(out.read_text(encoding="utf-8"))["runs"]] == [4]


def test_no_runs_is_a_one_line_message_and_exit_0(project: Path, tmp_path: Path) -> None:
    r = crmseg("drift", "--config", "config.toml", "--sync", "other", cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "sync 'other': no runs recorded; nothing to compare yet"
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", "--since", "2030-01-01", cwd=project)
    assert r.returncode == 0 and r.stdout.strip().count("\n") == 0 and "no runs recorded since 2030-01-01" in r.stdout
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "config.toml").write_text(CONFIG, encoding="utf-8")
    out = fresh / "d.json"
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", "--json", str(out), cwd=fresh)
    assert r.returncode == 0, r.stderr
    assert "no runs recorded" in r.stdout
    assert not (fresh / "state.sqlite").exists()  # a report never creates the state file
    assert json.loads(out.read_text(encoding="utf-8"))["runs"] == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--since", "yesterday"], "Invalid value for '--since'"),
        (["--since", "2024-13-01"], "Invalid value for '--since'"),
        (["--sync", "nope"], "no sync named 'nope'"),
        ([], "several syncs"),
    ],
)
def test_usage_and_config_errors_exit_2(project: Path, args: list[str], message: str) -> None:
    if "--sync" not in args and args:
        args = ["--sync", "demo", *args]
    r = crmseg("drift", "--config", "config.toml", *args, cwd=project)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


def test_missing_config_and_bad_state_file_exit_2(tmp_path: Path) -> None:
    r = crmseg("drift", "--config", "nowhere.toml", cwd=tmp_path)
    assert r.returncode == 2 and "nowhere.toml" in r.stderr
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "state.sqlite").write_text("this is not a database", encoding="utf-8")
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def _report(project: Path, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "d.json"
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", *args, "--json", str(out), cwd=project)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_run_shows_one_runs_moves_against_the_snapshot_before_it(project: Path, tmp_path: Path) -> None:
    rep = _report(project, tmp_path, "--run", "2")
    assert rep["period"] == {"first_run": 2, "last_run": 2, "baseline_run": 1}
    assert [run["id"] for run in rep["runs"]] == [1, 2]  # the baseline, then the run
    seg = rep["dimensions"][SEG]
    assert seg["transitions"] == {"Mid-Market": {"Enterprise": 1}, "SMB": {"Mid-Market": 2}}
    assert seg["initial_load"] == {} and seg["flapping"] == []
    # run 1 {SMB .6, Mid .4} -> run 2 {SMB .4, Mid .5, Ent .1}
    assert seg["psi"] == pytest.approx(term(0.4, 0.6) + term(0.5, 0.4) + term(0.1, EPS))
    first = _report(project, tmp_path, "--run", "1")
    assert first["period"]["baseline_run"] is None and [run["id"] for run in first["runs"]] == [1]
    assert first["dimensions"][SEG]["transitions"] == {}
    assert first["dimensions"][SEG]["initial_load"] == {"Mid-Market": 4, "SMB": 6}


def test_runs_takes_a_range_and_open_ends(project: Path, tmp_path: Path) -> None:
    rep = _report(project, tmp_path, "--runs", "3..4")
    # failed run 3 has no snapshot: the baseline is run 2; its move (a0 Mid -> SMB) counts
    assert rep["period"] == {"first_run": 3, "last_run": 4, "baseline_run": 2}
    assert [run["id"] for run in rep["runs"]] == [2, 4] and [run["id"] for run in rep["skipped_runs"]] == [3]
    seg = rep["dimensions"][SEG]
    assert seg["transitions"] == {"Mid-Market": {"SMB": 1}, "SMB": {"Mid-Market": 1, "(none)": 1}}
    assert [(f["account"], f["path"]) for f in seg["flapping"]] == [("a0", ["Mid-Market", "SMB", "Mid-Market"])]
    open_end = _report(project, tmp_path, "--runs", "2..")["period"]
    assert open_end == {"first_run": 2, "last_run": 4, "baseline_run": 1}
    open_start = _report(project, tmp_path, "--runs", "..2")["period"]
    assert open_start == {"first_run": 1, "last_run": 2, "baseline_run": None}
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", "--runs", "2..4", cwd=project)
    assert r.returncode == 0 and "moves of runs #2 to #4 (PSI against run #1)" in r.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--run", "9"], "run 9 is not a run of sync 'demo' (runs 1–4)"),
        (["--run", "0"], "Invalid value for '--run'"),
        (["--runs", "1..9"], "run 9 is not a run of sync 'demo' (runs 1–4)"),
        (["--runs", "4..2"], "the range is reversed"),
        (["--runs", "two..four"], "is not a run range"),
        (["--runs", ".."], "give at least one end"),
        (["--run", "2", "--runs", "1..2"], "give one of --since, --run and --runs"),
        (["--run", "2", "--since", "2024-03-01"], "give one of --since, --run and --runs"),
    ],
)
def test_bad_runs_exit_2_with_a_clear_message(project: Path, args: list[str], message: str) -> None:
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", *args, cwd=project)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr


def test_run_of_a_sync_with_no_state_is_an_unknown_run(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    r = crmseg("drift", "--config", "config.toml", "--sync", "demo", "--run", "1", cwd=tmp_path)
    assert r.returncode == 2 and "run 1 is not a run of sync 'demo' (no runs recorded)" in r.stderr
    assert not (tmp_path / "state.sqlite").exists()
