"""The sync daemon: APScheduler decides *when* each sync runs; everything else is ``crmseg sync``.

- :mod:`.scheduler`  jobs, signals, the run of one sync in the daemon
- :mod:`.reload`     rule files and mappings: re-read on change, used only once they pass check
- :mod:`.metrics`    Prometheus metrics and ``/healthz`` on 127.0.0.1
- :mod:`.logs`       human-readable or JSON-lines logs, one summary event per run
"""
