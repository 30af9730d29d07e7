"""``crmseg history --account ID``: every recorded change of one account across runs, its pin
and its pending errors — end to end against the sandbox HubSpot, in-process CLI."""

from __future__ import annotations

import json

from .sync_env import SyncEnv

N = 150


def _history(env: SyncEnv, account: str, *extra: str):
    return env.run("history", "--config", str(env.config), "--account", account, *extra)


def _widen_mid_market(env: SyncEnv) -> None:
    seg = env.rules / "segment.toml"
    seg.write_text(
        seg.read_text()
        .replace("employees >= 1000 or", "employees >= 700 or")
        .replace("100 <= employees < 1000", "100 <= employees < 700"),
        encoding="utf-8",
    )


def test_history_lists_an_accounts_changes_of_two_runs_its_pin_and_its_errors(tmp_path):
    env = SyncEnv(tmp_path, "hubspot", N)
    try:
        ids = env.sb.ids()
        env.sb.inject(
            {
                "kind": "record_failure",
                "ids": ids[:10],
                "count": -1,
                "error": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "bad value for restricted picklist field",
            }
        )
        assert env.sync().returncode == 1  # partial: the injected failures
        _widen_mid_market(env)
        assert env.sync().returncode == 0
        first, second = (r.id for r in env.runs())
        store = env.store()
        try:
            moves = store.transitions("sandbox")
            errors = store.record_errors("sandbox")
        finally:
            store.close()
        in_first = {t.account for t in moves if t.run == first}
        twice = sorted({t.account for t in moves if t.run == second and t.dimension == "segment"} & in_first)
        assert twice, "the rule edit moves some account tagged by the first run"
        account = twice[0]

        res = _history(env, account, "--json")
        assert res.returncode == 0, res.output
        doc = json.loads(res.stdout)
        want = [(t.run, t.dimension, t.from_value, t.to_value, t.rule, t.at) for t in moves if t.account == account]
        got = [(c["run"], c["dimension"], c["from"], c["to"], c["rule"], c["at"]) for c in doc["changes"]]
        assert got == want and {c["run"] for c in doc["changes"]} == {first, second}
        assert {c["run_status"] for c in doc["changes"]} == {"partial", "succeeded"}
        crm_now = env.crm_tags()[env.seed_of[account]]
        assert doc["tags"] == crm_now  # what crmseg recorded is what the CRM holds
        last_segment = [c for c in doc["changes"] if c["dimension"] == "segment"][-1]
        assert last_segment["to"] == crm_now["segment"] and last_segment["run"] == second
        assert doc["pin"] == {"field": "crmseg_pin", "pinned": False}
        assert doc["in_population"] and doc["errors"] == [] and doc["pending_writes"] == []
        # the name and domain beside the id, as the CRM holds them (domain normalized per the mapping)
        record = next(r for r in env.sb.store.scan() if r.id == account)
        assert doc["name"] == record.data["name"] and doc["name"]
        assert doc["domain"] == (str(record.data["domain"]).lower() if record.data.get("domain") else None)
        # the first run's tags out of no value are the initial load; the rule edit's move is not
        assert all(c["run"] == first and c["from"] is None for c in doc["changes"] if c["initial_load"])
        assert not last_segment["initial_load"]

        text = _history(env, account).stdout
        assert f"account {account} {doc['name']}" in text.splitlines()[0]
        seg = [c for c in doc["changes"] if c["dimension"] == "segment"]
        assert f"run {second} (succeeded)" in text and f"run {first} (partial)" in text
        assert f"segment: {seg[-1]['from'] or '(none)'} → {seg[-1]['to'] or '(none)'}" in text

        # an account whose write the CRM refused: its error and the targets crmseg tried
        failed = sorted(errors)[0]
        doc = json.loads(_history(env, failed, "--json").stdout)
        (err,) = doc["errors"]
        assert err["permanent"] and "RESTRICTED_PICKLIST" in err["error"] and err["targets"]
        assert "blocked (permanent)" in _history(env, failed).stdout

        # a pinned account
        pin = env.sb.mapping.pin_field
        pinned = next(r.id for r in env.sb.store.scan() if str(r.data.get(pin)).lower() == "true")
        doc = json.loads(_history(env, pinned, "--json").stdout)
        assert doc["pin"] == {"field": pin, "pinned": True}
        assert all(c["rule"] != "(pinned)" or c["from"] == c["to"] for c in doc["changes"])
        assert "pinned: yes" in _history(env, pinned).stdout

        res = _history(env, "no-such-account")
        assert res.returncode == 1 and "nothing recorded" in res.stderr
    finally:
        env.close()
