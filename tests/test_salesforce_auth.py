"""Salesforce login for servers: OAuth 2.0 client credentials (the sandbox config), password deprecated."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmseg.config import load_config
from crmseg.errors import ConfigError
from crmseg.sandbox.cli import write_sandbox_config
from crmseg.sandbox.server import SandboxServer

from .cli_run import CliResult, crmseg

ROOT = Path(__file__).resolve().parents[1]


def audit(cfg: Path, env: dict[str, str]) -> CliResult:
    return crmseg("audit", "--config", cfg, "-q", env=env)


def test_sandbox_config_uses_client_credentials_and_password_login_warns(tmp_path: Path) -> None:
    with SandboxServer(
        crm="salesforce", accounts=10, mapping=ROOT / "connectors" / "salesforce.toml", rules_dir=ROOT / "rules"
    ) as sb:
        cfg = write_sandbox_config(sb, tmp_path / "config.toml")
        text = cfg.read_text(encoding="utf-8")
        assert 'auth = "client_credentials"' in text and "password_env" not in text
        env = sb.env()
        cc = {k: env[k] for k in ("SF_CONSUMER_KEY", "SF_CONSUMER_SECRET")}
        sb.reset_stats()
        r = audit(cfg, cc)
        assert r.returncode == 0, r.stderr
        assert "login" not in sb.stats()["calls"]["by_endpoint"] and "SOAP" not in r.stderr
        r = audit(cfg, {**cc, "SF_CONSUMER_SECRET": "wrong-secret-x"})
        assert r.returncode == 4, r.stderr
        refused = "refused the client_credentials login with the credentials in SF_CONSUMER_KEY and SF_CONSUMER_SECRET"
        assert refused in r.stderr, r.stderr
        assert "wrong-secret-x" not in r.stderr
        cfg.write_text(text.replace('auth = "client_credentials"', 'auth = "password"'), encoding="utf-8")
        r = audit(cfg, env)
        assert r.returncode == 0, r.stderr
        assert "auth = 'password' uses SOAP login(), which Salesforce is retiring" in r.stderr


def test_client_credentials_needs_my_domain(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[syncs.sf]\nconnector = "salesforce"\nmapping = "m.toml"\nauth = "client_credentials"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"syncs\.sf: auth = 'client_credentials' needs your My Domain"):
        load_config(cfg)
    cfg.write_text(cfg.read_text(encoding="utf-8") + 'domain = "acme.my"\n', encoding="utf-8")
    assert load_config(cfg).syncs["sf"].auth == "client_credentials"
