"""``crmseg daemon``: run every sync on its schedule until SIGTERM/SIGINT."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, exists=True), required=True, help="config.toml.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines for people (text) or JSON lines (default: [logging] json_lines).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve /metrics and /healthz on this port (0: any free port; default: [daemon] metrics_port, off).",
)
@click.option("--metrics-host", default=None, help="Address for metrics (default: [daemon] metrics_host, 127.0.0.1).")
def daemon(config: str, log_format: str | None, metrics_port: int | None, metrics_host: str | None) -> None:
    """Run every sync on its schedule until SIGTERM/SIGINT (SIGHUP reloads the config).

    Exit 0 after a clean stop, 1 when running syncs did not stop in time, 2 bad config."""
    from crmseg.config import load_config
    from crmseg.daemon.logs import setup_logging
    from crmseg.daemon.scheduler import Daemon
    from crmseg.daemon.triggers import trigger_for

    cfg = load_config(config)
    json_lines = cfg.logging.json_lines if log_format is None else log_format == "json"
    setup_logging(json_lines, cfg.logging.level)
    for sync_cfg in cfg.syncs.values():
        trigger_for(sync_cfg)  # a bad cron is a config error before anything starts
    d = Daemon(config, cfg=cfg, metrics_port=metrics_port, metrics_host=metrics_host)
    sys.exit(d.serve())
