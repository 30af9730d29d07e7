"""The shipped connectors against the sandbox, through a config ``--write-config`` wrote."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmseg.config import load_config, load_mapping
from crmseg.model import TagWrite
from crmseg.sandbox import SandboxServer, write_sandbox_config

ROOT = Path(__file__).resolve().parents[1]
factory = pytest.importorskip("crmseg.connectors.factory")


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_connector_reads_writes_and_reads_incrementally(tmp_path, crm):
    if not (ROOT / "connectors" / f"{crm}.toml").is_file() or not (ROOT / "rules").is_dir():
        pytest.skip("shipped mapping or rules not present")
    with SandboxServer(crm, accounts=450, mapping=ROOT / "connectors" / f"{crm}.toml", rules_dir=ROOT / "rules") as sb:
        cfg = load_config(write_sandbox_config(sb, tmp_path / "config.toml"))
        sync = cfg.sync(None)
        mapping = load_mapping(cfg.resolve(sync.mapping))
        conn = factory.open_connector(sync, mapping, sb.env())
        try:
            fields = [fm.source or name for name, fm in mapping.fields.items()] + list(mapping.tags.values())
            records = list(conn.read(fields))
            assert len({r.id for r in records}) == 450
            seg = mapping.tags["segment"]
            assert "SMB" in (conn.schema()[seg].options or [])
            ids = [r.id for r in records[:120]]
            before = sb.record(ids[-1])[seg]  # synthetic accounts carry current tags (some stale)
            results = conn.write([TagWrite(i, {seg: "SMB"}) for i in ids[:-1]] + [TagWrite(ids[-1], {seg: "Nope"})])
            assert [r.ok for r in results] == [True] * 119 + [False]
            assert sb.record(ids[0])[seg] == "SMB" and sb.record(ids[-1])[seg] == before != "Nope"
            since = datetime.now(UTC)
            time.sleep(1.05)  # Salesforce compares whole seconds
            sb.edit({ids[5]: {seg: "Enterprise"}})
            changed = {r.id: r.fields.get(seg) for r in conn.read(fields, since=since)}
            assert changed.get(ids[5]) == "Enterprise" and len(changed) < 450
        finally:
            conn.close()
