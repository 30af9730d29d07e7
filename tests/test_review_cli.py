"""``crmseg review`` end to end through the command line: the plumbing around the statistics
(which ``test_review_stats.py`` checks on their own) — files and a sync's state as inputs,
attribution, periods, dimension filtering, every report format, bad input and the exit codes.

Expectations are computed by hand from the small files written here."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .cli_run import ROOT, crmseg

MAPPING = ROOT / "connectors" / "csv.toml"
RULES = """dimension = "segment"
kind = "label"
default = "Small"
values = ["Big", "Small"]

[[rule]]
name = "big"
when = "employees >= {threshold}"
value = "Big"
"""
TIER = """dimension = "tier"
kind = "label"
default = "Tier 2"
values = ["Tier 1", "Tier 2"]

[[rule]]
name = "top"
when = "employees >= 500"
value = "Tier 1"
"""
# a1, a2 Big (>= 100), a3, a4 Small; a1 is Tier 1
ACCOUNTS = """id,name,employees,owner,last_activity_at
a1,Alpha,800,Ann,2026-09-20T10:00:00Z
a2,Beta,150,,2026-09-20T10:00:00Z
a3,Gamma,20,Bo,2026-01-01T10:00:00Z
a4,Delta,10,Bo,2026-09-29T10:00:00Z
"""
HEAD = "id,account_id,amount,currency,created_at,closed_at,status,stage,pipeline,type\n"
# 2026Q3 (Jul–Sep): Big 3 won / 1 lost, Small 1 won / 2 lost; 2026Q2: Big 1/1, Small 0/1;
# d9 has no account, d10 an unknown one, d11 is open at the period's end, d12 closes in Q4.
DEALS = HEAD + "\n".join(
    [
        "d1,a1,1000,USD,2026-06-01T00:00:00Z,2026-07-11,won,,,",  # Big, cycle 40 days
        "d2,a1,3000,USD,2026-07-01T00:00:00Z,2026-08-10,won,,,",  # Big, cycle 40
        "d3,a2,2000,USD,2026-05-01T00:00:00Z,2026-09-30,won,,,",  # Big, cycle 152
        "d4,a2,500,USD,2026-06-01T00:00:00Z,2026-07-02,lost,,,",  # Big
        "d5,a3,400,USD,2026-06-01T00:00:00Z,2026-07-31,won,,,",  # Small, cycle 60
        "d6,a3,100,USD,2026-06-01T00:00:00Z,2026-08-01,lost,,,",  # Small
        "d7,a4,100,USD,2026-06-01T00:00:00Z,2026-09-01,lost,,,",  # Small
        "d8,a1,700,USD,2026-03-01T00:00:00Z,2026-04-15,won,,,",  # Q2 Big won
        "d13,a2,700,USD,2026-03-01T00:00:00Z,2026-05-15,lost,,,",  # Q2 Big lost
        "d14,a4,300,USD,2026-03-01T00:00:00Z,2026-06-15,lost,,,",  # Q2 Small lost
        "d9,,900,USD,2026-06-01T00:00:00Z,2026-07-20,won,,,",  # no account
        "d10,zz,900,USD,2026-06-01T00:00:00Z,2026-07-20,won,,,",  # unknown account
        "d11,a3,800,USD,2026-09-01T00:00:00Z,,open,,,",  # open at the end
        "d12,a4,800,USD,2026-09-01T00:00:00Z,2026-10-05,won,,,",  # closes after: open on 30 Sep
    ]
)


def _files(tmp_path: Path, deals: str = DEALS, review: str = "[review]\nmin_closed = 2\n") -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "segment.toml").write_text(RULES.format(threshold=100))
    (tmp_path / "rules" / "tier.toml").write_text(TIER)
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    (tmp_path / "deals.csv").write_text(deals + "\n")
    (tmp_path / "review.toml").write_text(review)
    return tmp_path


def _review(tmp_path: Path, *args: str, review_config: bool = True):
    extra = ["--review-config", "review.toml"] if review_config else []
    return crmseg(
        "review",
        "--source",
        "accounts.csv",
        "--deals",
        "deals.csv",
        "--rules",
        "rules",
        "--mapping",
        MAPPING,
        "--as-of",
        "2026-11-01",
        *extra,
        *args,
        cwd=tmp_path,
    )


def _json(tmp_path: Path, *args: str) -> dict:
    res = _review(tmp_path, "--json", "out.json", "-q", *args)
    assert res.returncode == 0, res.output
    return json.loads((tmp_path / "out.json").read_text())


def test_files_review_counts_attribution_and_trend_by_hand(tmp_path):
    doc = _json(_files(tmp_path), "--period", "2026Q3")
    assert doc["period"] == {
        "start": "2026-07-01",
        "end": "2026-09-30",
        "compare": {"start": "2026-04-01", "end": "2026-06-30"},
    }
    assert doc["deals"]["read"] == 14
    assert (doc["deals"]["closed"], doc["deals"]["won"], doc["deals"]["lost"]) == (9, 6, 3)  # d9, d10 (won) included
    assert doc["deals"]["open"] == 2  # d11, d12
    assert doc["deals"]["no_account"] == 1 and doc["deals"]["unknown_account"] == 1
    assert doc["deals"]["attribution"] == {"as_of": 0, "backfilled": 0, "current": 12}
    big = doc["dimensions"]["segment"]["labels"]["Big"]
    small = doc["dimensions"]["segment"]["labels"]["Small"]
    assert (big["accounts"], big["won"], big["lost"], big["win_rate"]) == (2, 3, 1, 0.75)
    assert big["won_amount"] == 6000 and big["avg_deal"] == 2000 and big["median_deal"] == 2000
    assert big["win_rate_amount"] == pytest.approx(6000 / 6500)
    assert big["cycle_days_median"] == 40
    assert (small["accounts"], small["won"], small["lost"]) == (2, 1, 2)
    assert small["win_rate"] == pytest.approx(1 / 3)
    assert (small["open_deals"], small["open_amount"]) == (2, 1600)  # d11 and d12
    assert small["velocity"] == pytest.approx(2 * (1 / 3) * 400 / 60)
    assert big["trend"]["previous_win_rate"] == 0.5 and small["trend"]["previous_win_rate"] == 0.0
    assert big["sufficient"] and small["sufficient"]
    assert big["customers_start"] is None  # no customer expression
    assert any("no tag history (files)" in w for w in doc["warnings"])
    assert any("zz" in w for w in doc["warnings"])  # the unknown account is named
    # by default a label dimension with values named like a tier is a ladder (calibrated), one named
    # like a segment is judged for viability
    bands = doc["dimensions"]["tier"]["calibration"]["bands"]
    assert [(b["band"], b["won"], b["lost"]) for b in bands] == [("Tier 1", 2, 0), ("Tier 2", 2, 3)]
    assert bands[0]["lift"] == pytest.approx(1 / (4 / 7))  # a1: d1, d2; overall 4 of 7 (attributed)
    assert doc["dimensions"]["segment"]["calibration"] is None and list(doc["viability"]) == ["segment"]
    assert doc["viability"]["segment"]["Big"]["measurable"] == 1.0
    # accessible: an owner and activity within 90 days of 30 Sep: a1 yes, a2 no owner
    assert doc["viability"]["segment"]["Big"]["accessible"] == 0.5
    assert doc["viability"]["segment"]["Small"]["accessible"] == 0.5  # a3's activity is too old


def test_files_review_by_since_until_and_fiscal_quarters(tmp_path):
    _files(tmp_path)
    doc = _json(tmp_path, "--since", "2026-07-01", "--until", "2026-07-31", "--by", "segment")
    assert list(doc["dimensions"]) == ["segment"] and list(doc["viability"]) == ["segment"]
    assert doc["period"]["compare"] == {"start": "2026-05-31", "end": "2026-06-30"}
    big = doc["dimensions"]["segment"]["labels"]["Big"]
    assert (big["won"], big["lost"]) == (1, 1)  # d1 won 11 Jul, d4 lost 2 Jul
    assert doc["dimensions"]["segment"]["labels"]["Small"]["won"] == 1  # d5, 31 Jul
    (tmp_path / "review.toml").write_text("[review]\nmin_closed = 2\nfiscal_year_start_month = 8\n")
    doc = _json(tmp_path, "--period", "2027Q1", "--compare", "none")
    assert doc["period"] == {"start": "2026-08-01", "end": "2026-10-31", "compare": None}
    big = doc["dimensions"]["segment"]["labels"]["Big"]
    assert (big["won"], big["lost"]) == (2, 0)  # d2 (10 Aug), d3 (30 Sep)
    assert big["trend"] is None
    # no --period: the last full quarter before --as-of 2026-11-01 in this fiscal year (Aug–Oct)
    doc = _json(tmp_path)
    assert doc["period"]["start"] == "2026-08-01" and doc["period"]["compare"]["start"] == "2026-05-01"


def test_every_report_format_is_written_and_parses(tmp_path):
    _files(tmp_path)
    (tmp_path / "review.toml").write_text('[review]\nmin_closed = 2\nordered = []\nsegments = ["segment", "tier"]\n')
    res = _review(
        tmp_path, "--period", "2026Q3", "--json", "r.json", "--csv", "r.csv", "--markdown", "r.md", "--html", "r.html"
    )
    assert res.returncode == 0, res.output
    assert "segment" in res.stdout and "Big" in res.stdout and "HTML report written to r.html" in res.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert set(doc) >= {"period", "deals", "dimensions", "viability", "alerts", "warnings"}
    assert doc["dimensions"]["tier"]["calibration"] is None  # ordered = []: no ladder
    assert list(doc["viability"]) == ["segment", "tier"]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert [(r["dimension"], r["label"]) for r in rows] == [
        ("segment", "Big"),
        ("segment", "Small"),
        ("tier", "Tier 1"),
        ("tier", "Tier 2"),
    ]
    assert rows[0]["won"] == "3" and float(rows[0]["win_rate"]) == 0.75 and rows[0]["trend_flag"]
    assert float(rows[0]["win_rate_ci_low"]) < 0.75 < float(rows[0]["win_rate_ci_high"])
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("# Segment review: 2026-07-01 – 2026-09-30") and "| Big |" in md
    assert "## Viability of segment (MASDA)" in md and "## Viability of tier (MASDA)" in md
    html = (tmp_path / "r.html").read_text()

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.seen.append(tag)
            for name, value in attrs:  # self-contained: nothing fetched when it is viewed
                assert not (name in ("src", "href") and value and "://" in value), (tag, name, value)

    parser = Tags()
    parser.feed(html)
    assert parser.seen.count("svg") == 4  # whiskers and trend per dimension
    assert "Viability of segment" in html and "Win rate quarter by quarter" in html


def test_an_alert_exits_1_and_is_printed(tmp_path):
    # Big: Q2 9 won of 10, Q3 1 won of 10 -> decaying (Fisher p ≈ 0.001)
    rows = []
    for i in range(10):
        rows.append(f"q2-{i},a1,100,USD,2026-04-01T00:00:00Z,2026-05-{i + 10},{'won' if i else 'lost'},,,")
        rows.append(f"q3-{i},a1,100,USD,2026-07-01T00:00:00Z,2026-08-{i + 10},{'lost' if i else 'won'},,,")
    _files(tmp_path, HEAD + "\n".join(rows), "[review]\nmin_closed = 5\n")
    res = _review(tmp_path, "--period", "2026Q3", "--json", "r.json")
    assert res.returncode == 1, res.output
    assert "alert: segment Big: win rate fell from 90% to 10%" in res.stderr
    assert json.loads((tmp_path / "r.json").read_text())["alerts"]
    (tmp_path / "review.toml").write_text("[review]\nmin_closed = 5\n[review.alerts]\ndecaying = false\n")
    assert _review(tmp_path, "--period", "2026Q3").returncode == 0


# ---------------------------------------------------------------- bad input
def test_a_bad_deal_row_is_named_and_exits_2(tmp_path):
    _files(tmp_path, HEAD + "d1,a1,100,USD,2026-06-01T00:00:00Z,2026-07-11,won,,,\nd2,a1,100,USD,yesterday,,won,,,")
    res = _review(tmp_path, "--period", "2026Q3")
    assert res.returncode == 2
    assert "deals.csv:3: column 'created_at'" in res.stderr and "--skip-bad-rows" in res.stderr
    res = _review(tmp_path, "--period", "2026Q3", "--skip-bad-rows", "--json", "r.json")
    assert res.returncode == 0, res.output
    assert any("deals.csv:3" in w for w in json.loads((tmp_path / "r.json").read_text())["warnings"])


def test_deals_of_unknown_accounts_only_exit_2(tmp_path):
    _files(tmp_path, HEAD + "d1,x1,100,USD,2026-06-01T00:00:00Z,2026-07-11,won,,,\nd2,x2,1,USD,2026-06-01,,open,,,")
    res = _review(tmp_path, "--period", "2026Q3")
    assert res.returncode == 2
    assert "none of the deals' 2 accounts is among the accounts of accounts.csv (e.g. x1, x2)" in res.stderr


def test_mixed_currencies_need_a_home_currency(tmp_path):
    _files(tmp_path, DEALS.replace("d2,a1,3000,USD", "d2,a1,3000,EUR"))
    res = _review(tmp_path, "--period", "2026Q3")
    assert res.returncode == 2
    assert "deals in 2 currencies (EUR, USD)" in res.stderr and "--home-currency" in res.stderr
    assert _review(tmp_path, "--period", "2026Q3", "--home-currency", "usd", "-q").returncode == 0
    res = _review(tmp_path, "--period", "2026Q3", "--home-currency", "dollars")
    assert res.returncode == 2 and "not a currency code" in res.output


def test_a_period_without_closed_deals_exits_2(tmp_path):
    _files(tmp_path)
    res = _review(tmp_path, "--period", "2025Q1")
    assert res.returncode == 2
    assert "no deal closed in the period 2025-01-01 – 2025-03-31 (deals closed from 2026-04-15 to 2026-10-05)" in (
        res.stderr
    )
    res = _review(tmp_path, "--period", "2026Q5")
    assert res.returncode == 2 and "--period" in res.stderr


def test_a_customer_expression_that_does_not_check_exits_2(tmp_path):
    _files(tmp_path, review="[review]\ncustomer = \"segmnt == 'Big'\"\n")
    res = _review(tmp_path, "--period", "2026Q3")
    assert res.returncode == 2
    assert "[review] customer = \"segmnt == 'Big'\"" in res.stderr and "did you mean 'segment'" in res.stderr
    (tmp_path / "review.toml").write_text('[review]\ncustomer = "segment =="\n')
    res = _review(tmp_path, "--period", "2026Q3")
    assert res.returncode == 2 and "[review] customer" in res.stderr


def test_a_bad_review_table_names_the_key(tmp_path):
    _files(tmp_path, review="[review]\nmin_closd = 2\nfiscal_year_start_month = 13\n")
    res = _review(tmp_path, "--period", "2026Q3")
    assert res.returncode == 2
    assert "review.min_closd: unknown key — did you mean 'min_closed'?" in res.stderr
    assert "review.fiscal_year_start_month: must be at most 12" in res.stderr
    (tmp_path / "review.toml").write_text('[review]\nordered = ["tiers"]\n')
    res = _review(tmp_path, "--period", "2026Q3")
    assert res.returncode == 2 and "[review] ordered: no dimension 'tiers'" in res.stderr
    res = _review(tmp_path, "--period", "2026Q3", "--by", "segmnt", review_config=False)
    assert res.returncode == 2 and "--by: no dimension 'segmnt' in the rules (allowed:" in res.stderr


# ---------------------------------------------------------------- a sync's state
def _sync_config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "config.toml").write_text(
        '[state]\npath = "state.sqlite"\n'
        f'[syncs.demo]\nconnector = "csv"\npath = "accounts.csv"\nmapping = "{MAPPING}"\nrules = "rules"\n'
        f'engine = "native"\ndeals = "deals.csv"\n{extra}'
    )
    return tmp_path / "config.toml"


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_attribution_over_a_sync_history_created_vs_current(tmp_path):
    """a2 moves Big -> Small between two runs; each deal counts for the label its account held
    when it was created (``--attribute created``) or holds now (``current``)."""
    _files(tmp_path, HEAD.strip())
    (tmp_path / "rules" / "tier.toml").unlink()
    config = _sync_config(tmp_path, "[review]\nmin_closed = 1\ncustomer = \"segment == 'Big'\"\n")
    today = date.today()
    old = "2020-01-01T00:00:00Z"
    (tmp_path / "deals.csv").write_text(HEAD + f"d0,a3,100,USD,{old},{today},lost,,,\n")
    first = crmseg("sync", "--config", config)
    assert first.returncode == 0, first.output
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # the first run was yesterday: today starts after it
        n = db.execute("UPDATE transitions SET at = ? WHERE run = 1", (_iso(datetime.now(UTC) - timedelta(days=1)),))
        assert n.rowcount == 4  # every account's first segment
    between = datetime.now(UTC)
    (tmp_path / "rules" / "segment.toml").write_text(RULES.format(threshold=500))  # a2 (150) becomes Small
    later = datetime.now(UTC) + timedelta(hours=1)  # created after the second run's move
    (tmp_path / "deals.csv").write_text(
        HEAD
        + "\n".join(
            [
                f"d0,a3,100,USD,{old},{today},lost,,,",  # older than the history: backfilled (Small)
                f"d1,a2,100,USD,{_iso(between)},{today},won,,,",  # a2 Big then, Small now
                f"d2,a2,100,USD,{_iso(later)},{today},lost,,,",  # a2 Small then and now
                f"d3,a1,100,USD,{_iso(between)},{today},won,,,",  # a1 Big throughout
            ]
        )
        + "\n"
    )
    second = crmseg("sync", "--config", config)
    assert second.returncode == 0, second.output
    day = today.isoformat()

    def counts(mode: str) -> tuple[dict, dict]:
        res = crmseg(
            "review", "--config", config, "--since", day, "--until", day, "--attribute", mode, "--json", "r.json",
            "-q", cwd=tmp_path,
        )  # fmt: skip
        assert res.returncode == 0, res.output
        doc = json.loads((tmp_path / "r.json").read_text())
        labels = doc["dimensions"]["segment"]["labels"]
        return {k: (m["won"], m["lost"]) for k, m in labels.items()}, doc

    created, doc = counts("created")
    assert created == {"Big": (2, 0), "Small": (0, 2)}
    assert doc["deals"]["attribution"] == {"as_of": 3, "backfilled": 1, "current": 0}
    assert doc["attribute"] == "created"
    current, doc = counts("current")
    assert current == {"Big": (1, 0), "Small": (1, 2)}
    assert doc["deals"]["attribution"] == {"as_of": 0, "backfilled": 0, "current": 4}
    # the day's start and end labels from the history: a2 moved Big -> Small, a customer no longer
    line = doc["health"]["segment"]["labels"]["Big"]
    assert (line["accounts_start"], line["accounts_end"], line["out"]) == (2, 1, 1)
    assert doc["health"]["segment"]["psi"] > 0
    big = doc["dimensions"]["segment"]["labels"]["Big"]
    assert (big["customers_start"], big["churned"], big["logo_churn"]) == (2, 1, 0.5)


def test_a_sync_without_deals_or_state_exits_2(tmp_path):
    _files(tmp_path)
    config = _sync_config(tmp_path)
    res = crmseg("review", "--config", config, cwd=tmp_path)
    assert res.returncode == 2 and "no state yet" in res.stderr and "crmseg sync" in res.stderr
    assert crmseg("review", "--config", config, "--source", "accounts.csv", cwd=tmp_path).returncode == 2


def _first_sync(tmp_path: Path, deals: str) -> Path:
    """A sync of the four accounts whose one run (its tag history's start) is now, with ``deals``."""
    _files(tmp_path, HEAD.strip())
    (tmp_path / "rules" / "tier.toml").unlink()
    config = _sync_config(tmp_path, "[review]\nmin_closed = 1\ncustomer = \"segment == 'Big'\"\n")
    (tmp_path / "deals.csv").write_text(HEAD + deals + "\n")
    run = crmseg("sync", "--config", config)
    assert run.returncode == 0, run.output
    return config


def test_a_history_that_starts_after_the_period_backfills_accounts_and_measures_no_movement(tmp_path):
    """The first sync ran after the reviewed quarter: deals and accounts count for each account's
    earliest recorded label (not 0 accounts), and accounts in/out, PSI and churn are not measured."""
    config = _first_sync(
        tmp_path,
        "\n".join(
            [
                "d1,a1,100,USD,2025-07-01T00:00:00Z,2025-08-01,won,,,",  # Big
                "d2,a2,100,USD,2025-07-01T00:00:00Z,2025-08-02,lost,,,",  # Big
                "d3,a3,100,USD,2025-07-01T00:00:00Z,2025-08-03,lost,,,",  # Small
                "d4,a4,100,USD,2025-04-01T00:00:00Z,2025-05-03,won,,,",  # Small, the quarter before
            ]
        ),
    )
    res = crmseg("review", "--config", config, "--period", "2025Q3", "--json", "r.json", cwd=tmp_path)
    assert res.returncode == 0, res.output
    doc = json.loads((tmp_path / "r.json").read_text())
    labels = doc["dimensions"]["segment"]["labels"]
    assert {k: (m["accounts"], m["won"], m["lost"]) for k, m in labels.items()} == {
        "Big": (2, 1, 1),
        "Small": (2, 0, 1),
    }
    assert doc["deals"]["attribution"] == {"as_of": 0, "backfilled": 4, "current": 0}
    assert labels["Big"]["customers_start"] is None and labels["Big"]["logo_churn"] is None
    assert "segment" not in doc["health"]  # no movement is claimed: no "new with 0 accounts"
    started = date.today().isoformat()  # the sync ran now
    said = [w for w in doc["warnings"] if w.startswith("the tag history of segment starts on")]
    assert said == [
        (
            f"the tag history of segment starts on {started}, after the period (2025-07-01 – 2025-09-30): deals "
            "and accounts count for each account's earliest recorded label (backfilled), not the one it held "
            "then; accounts in/out, PSI and churn are not measured"
        )
    ]
    assert "is new with 0 accounts" not in res.stdout and "the tag history of segment starts on" in res.stdout


def test_a_history_that_starts_inside_the_period_counts_the_end_and_measures_no_movement(tmp_path):
    today = date.today()
    since = today - timedelta(days=10)
    config = _first_sync(tmp_path, f"d1,a1,100,USD,2020-01-01T00:00:00Z,{today},won,,,")
    with sqlite3.connect(tmp_path / "state.sqlite") as db:  # the history starts five days into the period
        db.execute("UPDATE transitions SET at = ?", (_iso(datetime.now(UTC) - timedelta(days=5)),))
    res = crmseg(
        "review", "--config", config, "--since", since.isoformat(), "--until", today.isoformat(),
        "--compare", "none", "--json", "r.json", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.output
    doc = json.loads((tmp_path / "r.json").read_text())
    labels = doc["dimensions"]["segment"]["labels"]
    assert {k: m["accounts"] for k, m in labels.items()} == {"Big": 2, "Small": 2}  # as of the end: recorded
    assert labels["Big"]["customers_start"] is None and doc["health"] == {}
    day = (datetime.now(UTC) - timedelta(days=5)).date()
    assert (
        f"the tag history of segment starts on {day}, after the period's start ({since}): accounts in/out, PSI "
        "and churn need each account's label at the start and are not measured"
    ) in doc["warnings"]
