"""FileConnector: CSV and JSONL streaming, incremental reads, errors, bounded memory."""

from __future__ import annotations

import importlib.util
import json
import sys
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest

from crmseg.config import load_mapping
from crmseg.connectors.files import FileConnector
from crmseg.errors import ConfigError, FatalError
from crmseg.model import TagWrite
from crmseg.normalize.normalizer import Normalizer

ROOT = Path(__file__).resolve().parent.parent
UTC = UTC


def load_generator() -> ModuleType:
    """scripts/make_sample_accounts.py as a module (scripts/ is not a package)."""
    name = "make_sample_accounts"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


CSV_TEXT = (
    "id,name,employees,updated_at,crmseg_segment\n"
    "a1,Acme,120,2026-10-01T00:00:00Z,SMB\n"
    'a2,"Globex, Inc.",5000,2026-10-20T12:00:00Z,\n'
    'a3,"Multi\nline",,,\n'
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


# ---------------------------------------------------------------- CSV
def test_csv_streams_rows_with_ids(tmp_path: Path) -> None:
    fc = FileConnector(write(tmp_path, "a.csv", CSV_TEXT))
    assert fc.kind == "csv"
    rows = list(fc.read(["id", "name"]))
    assert [r.id for r in rows] == ["a1", "a2", "a3"]
    assert rows[1].fields["name"] == "Globex, Inc." and rows[2].fields["name"] == "Multi\nline"
    assert rows[0].fields["crmseg_segment"] == "SMB" and rows[2].fields["employees"] == ""


def test_csv_with_bom_and_padded_header(tmp_path: Path) -> None:
    p = write(tmp_path, "bom.csv", " id , name\nx1,Acme\n", encoding="utf-8-sig")
    fc = FileConnector(p)
    assert fc.columns() == ["id", "name"]
    assert [(r.id, r.fields["name"]) for r in fc.read([])] == [("x1", "Acme")]


def test_csv_short_and_long_rows_are_errors_or_skipped(tmp_path: Path) -> None:
    p = write(tmp_path, "r.csv", "id,a,b\n1,x\n2,x,y,EXTRA\n3,x,y\n")
    with pytest.raises(ConfigError, match=r"r.csv:2: 2 fields, the header has 3"):
        list(FileConnector(p).read([]))
    fc = FileConnector(p, on_bad_row="skip")
    assert [r.id for r in fc.read([])] == ["3"]
    assert [m.split(": ", 1)[1] for m in fc.skipped] == ["2 fields, the header has 3", "4 fields, the header has 3"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ('id,name,n\n1,"Acme,10\n2,Globex,20\n3,Initech,30\n', r"c.csv:2: unbalanced quote"),
        ('id,name,n\n1,"Acme,10\n2,Globex,20\n3,"Ini",30\n', r"c.csv:2: unbalanced or stray quote"),
        ('id,name,n\n1,"Acme\n2,Globex,20\n3,Ini",30\n4,x,1\n', r"c.csv:2: field 2 spans 3 lines .*unbalanced quote"),
        ("id,name\n1,Ac\x00me\n", r"c.csv:2: NUL byte in field 2"),
        ("id,name,name\n1,a,b\n", r"c.csv:1: duplicate column 'name' \(columns 2 and 3\)"),
        ("id,name\n1,a\n2,b\n 1 ,c\n", r"c.csv:4: duplicate id '1' \(first on line 2\)"),
        ("id;name,x;y\n1;a\n", r"c.csv:1: cannot tell the delimiter.*--delimiter"),
    ],
)
def test_csv_bad_input_names_file_and_line(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        list(FileConnector(write(tmp_path, "c.csv", text)).read([]))


def test_csv_delimiter_detected_or_given(tmp_path: Path) -> None:
    for delim in (";", "\t", "|"):
        p = write(tmp_path, "d.csv", f"id{delim}name\n1{delim}Acme, Inc.\n")
        assert [(r.id, r.fields["name"]) for r in FileConnector(p).read([])] == [("1", "Acme, Inc.")]
    p = write(tmp_path, "e.csv", "id;name,x\n1;a,b\n")
    assert FileConnector(p, delimiter="semicolon").columns() == ["id", "name,x"]
    assert FileConnector(p, delimiter=";").columns() == ["id", "name,x"]


def test_duplicate_ids_across_types_in_jsonl(tmp_path: Path) -> None:
    p = write(tmp_path, "d.jsonl", '{"id": 1}\n{"id": "1"}\n{"id": 2}\n')
    with pytest.raises(ConfigError, match=r"d.jsonl:2: duplicate id '1' \(first on line 1\)"):
        list(FileConnector(p).read([]))
    fc = FileConnector(p, on_bad_row="skip")
    assert [r.id for r in fc.read([])] == ["1", "2"] and len(fc.skipped) == 1


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"id": "2", "x": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 32 levels"),
        ('{"id": "2", "id": "3"}', "duplicate key 'id'"),
        ('{"id": {"a": 1}}', "is a JSON dict"),
    ],
)
def test_jsonl_structure_problems(tmp_path: Path, line: str, problem: str) -> None:
    p = write(tmp_path, "n.jsonl", '{"id": "1"}\n' + line + "\n")
    with pytest.raises(ConfigError, match=rf"n.jsonl:2: .*{problem}"):
        list(FileConnector(p).read([]))


def test_many_ids_no_false_duplicates(tmp_path: Path) -> None:
    p = write(tmp_path, "m.csv", "id\n" + "".join(f"{i}\n" for i in range(20_000)))
    assert sum(1 for _ in FileConnector(p).read([])) == 20_000


def test_csv_large_field(tmp_path: Path) -> None:
    big = "x" * 500_000  # over the csv module's default 128 KiB cell limit
    rows = list(FileConnector(write(tmp_path, "big.csv", f"id,notes\n1,{big}\n")).read([]))
    assert len(rows[0].fields["notes"]) == 500_000


def test_csv_id_from_mapping_id_field(tmp_path: Path) -> None:
    p = write(tmp_path, "sf.csv", "Id,Name\n001A,Acme\n")
    m = load_mapping(ROOT / "connectors" / "salesforce.toml")
    assert [r.id for r in FileConnector(p, mapping=m).read([])] == ["001A"]


def test_since_filters_on_modified_field(tmp_path: Path) -> None:
    fc = FileConnector(write(tmp_path, "a.csv", CSV_TEXT), modified_field="updated_at")
    since = datetime(2026, 10, 10, tzinfo=UTC)
    # a3 has no modified value: it is kept, since it cannot be shown unchanged
    assert [r.id for r in fc.read([], since=since)] == ["a2", "a3"]
    assert [r.id for r in fc.read([], since=datetime(2026, 10, 1))] == ["a2", "a3"]  # strictly after


def test_since_needs_a_modified_field(tmp_path: Path) -> None:
    fc = FileConnector(write(tmp_path, "a.csv", CSV_TEXT))
    with pytest.raises(ConfigError, match="modified_field"):
        list(fc.read([], since=datetime(2026, 1, 1, tzinfo=UTC)))


# ---------------------------------------------------------------- JSONL
def test_jsonl_streams_objects(tmp_path: Path) -> None:
    text = '{"id": 1, "name": "Acme", "tech_stack": ["A", "B"]}\n\n{"id": "2", "employees": 10}\n'
    fc = FileConnector(write(tmp_path, "a.jsonl", text))
    assert fc.kind == "jsonl" and fc.columns() == ["id", "name", "tech_stack"]
    rows = list(fc.read([]))
    assert [r.id for r in rows] == ["1", "2"] and rows[0].fields["tech_stack"] == ["A", "B"]


@pytest.mark.parametrize("line, problem", [("{not json", "malformed JSON"), ("[1, 2]", "expected a JSON object")])
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    p = write(tmp_path, "bad.jsonl", '{"id": "1"}\n' + line + "\n")
    with pytest.raises(ConfigError, match=rf"bad.jsonl:2: {problem}"):
        list(FileConnector(p).read([]))


def test_bad_rows_can_be_skipped(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.jsonl", '{"id": "1"}\n{oops\n{"name": "no id"}\n{"id": "4"}\n')
    fc = FileConnector(p, on_bad_row="skip")
    assert [r.id for r in fc.read([])] == ["1", "4"]
    assert [m.split(": ")[0] for m in fc.skipped] == [f"{p}:2", f"{p}:3"]


# ---------------------------------------------------------------- errors
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope.csv: file not found"):
        list(FileConnector(tmp_path / "nope.csv").read([]))


def test_row_without_id_names_file_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "id,name\n1,Acme\n ,Nameless\n")
    with pytest.raises(ConfigError, match=r"a.csv:3: no value in the id column 'id'"):
        list(FileConnector(p).read([]))


def test_header_without_id_column_suggests(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", "ID,name\n1,Acme\n")
    with pytest.raises(ConfigError, match=r"a.csv:1: no id column 'id'.*did you mean 'ID'"):
        list(FileConnector(p).read([]))


def test_empty_csv(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty file"):
        list(FileConnector(write(tmp_path, "e.csv", "")).read([]))


def test_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "latin.csv"
    p.write_bytes("id,name\n1,Café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.csv:2: not utf-8 text at byte 13 \(line 2\).*--encoding"):
        list(FileConnector(p).read([]))
    rows = list(FileConnector(p, encoding="latin-1").read([]))
    assert rows[0].fields["name"] == "Café"


def test_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"use \.csv or \.jsonl"):
        FileConnector(tmp_path / "accounts.xlsx")
    assert FileConnector(tmp_path / "accounts.txt", "jsonl").kind == "jsonl"


def test_write_is_refused_and_schema_is_read_only(tmp_path: Path) -> None:
    fc = FileConnector(write(tmp_path, "a.csv", CSV_TEXT))
    with pytest.raises(FatalError, match="read-only"):
        fc.write([TagWrite("a1", {"crmseg_segment": "SMB"})])
    schema = fc.schema()
    assert list(schema) == ["id", "name", "employees", "updated_at", "crmseg_segment"]
    assert not any(f.updateable for f in schema.values())
    fc.close()


# ---------------------------------------------------------------- the shipped sample
def test_sample_file_reads_and_normalizes() -> None:
    m = load_mapping(ROOT / "connectors" / "csv.toml")
    fc = FileConnector(ROOT / "examples" / "accounts.csv", mapping=m)
    n = Normalizer(m, passthrough=True)
    accounts = [n.account(r) for r in fc.read(n.read_fields(["segment"]))]
    assert len(accounts) == 400 and len({a["id"] for a in accounts}) == 400
    assert {a.get("country") for a in accounts} >= {"US", "GB", "DE", "FR", None}
    assert {a.get("industry") for a in accounts} >= {"Software", "Financial Services", "Manufacturing"}
    assert not {"SaaS", "Fintech", "software"} & {a.get("industry") for a in accounts}
    q = n.quality
    assert q["employees"]["invalid"] > 0 and q["employees"]["missing"] > 0 and q["country"]["invalid"] > 0


# ---------------------------------------------------------------- memory
@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory, large_rows: int) -> Path:
    return load_generator().write_csv(tmp_path_factory.mktemp("big") / "accounts.csv", n=large_rows, seed=11)


def test_reading_200k_rows_keeps_memory_flat(big_csv: Path, large_rows: int) -> None:
    m = load_mapping(ROOT / "connectors" / "csv.toml")
    fc = FileConnector(big_csv, mapping=m)
    n = Normalizer(m, passthrough=True)
    count = 0
    tracemalloc.start()
    try:
        for raw in fc.read(n.read_fields(["segment"]), since=datetime(2020, 1, 1, tzinfo=UTC)):
            count += 1
            if count % 10 == 0:  # the normalizer's caches must stay bounded too
                n.account(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == large_rows
    assert big_csv.stat().st_size > large_rows * 200
    # flat but for the duplicate-id check: 16-byte slots at load 3/8..3/4, sized once from the file
    assert peak < 2_000_000 + large_rows * 48, f"peak traced memory {peak:,} bytes"


def test_generated_jsonl_round_trip(tmp_path: Path) -> None:
    gen = load_generator()
    p = gen.write_jsonl(tmp_path / "a.jsonl", n=50, seed=3)
    rows = list(FileConnector(p).read([]))
    assert [r.id for r in rows] == [row["id"] for row in gen.generate(50, 3)]
    assert all("" not in r.fields.values() for r in rows)
    assert json.loads(p.read_text(encoding="utf-8").splitlines()[0])["id"] == rows[0].id


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_nul_bytes_found_per_row_whatever_the_encoding(tmp_path: Path, encoding: str) -> None:
    # UTF-16 text has a NUL byte in every ASCII character: only a NUL *character* is a bad row
    p = write(tmp_path, "n.csv", "id,name\n1,Acme\n2,Glo\x00bex\n3,Initech\n", encoding=encoding)
    fc = FileConnector(p, encoding=encoding, on_bad_row="skip")
    assert [r.id for r in fc.read([])] == ["1", "3"]
    assert fc.skipped == [f"{p}:3: NUL byte in field 2 (is this a binary file?)"]
    assert [rid for rid, _ in fc.read_rows(lambda names: None)] == ["1", "3"] and len(fc.skipped) == 1
    clean = write(tmp_path, "c.csv", "id,name\n1,Acme\n2,Globex\n", encoding=encoding)
    assert [r.fields["name"] for r in FileConnector(clean, encoding=encoding).read([])] == ["Acme", "Globex"]


@pytest.mark.parametrize("expected", [0, 50_000, 10])
def test_id_seen_finds_every_repeat_with_its_first_line_however_sized(expected: int) -> None:
    from crmseg.connectors.file_checks import IdSeen

    seen = IdSeen(expected)
    ids = [f"001{i:012d}" for i in range(20_000)]
    assert all(seen.add(rid, line) is None for line, rid in enumerate(ids, start=2))  # grows past 1024 slots
    assert [seen.add(ids[i], 99_999) for i in (0, 7_777, 19_999)] == [2, 7_779, 20_001]
    assert seen.add("0010000000000x", 5) is None and seen.add("0010000000000x", 6) == 5


def test_estimate_lines_is_close_for_a_uniform_file(tmp_path: Path) -> None:
    from crmseg.connectors.file_checks import estimate_lines

    p = write(tmp_path, "u.csv", "id,name\n" + "".join(f"{i},Account number {i:06d}\n" for i in range(20_000)))
    assert 19_000 <= estimate_lines(p) <= 22_500
    assert estimate_lines(write(tmp_path, "s.csv", "id\n1\n2\n")) == 4
    assert estimate_lines(tmp_path / "missing.csv") == 0
