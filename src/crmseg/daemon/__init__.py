"""The sync daemon: APScheduler decides *when* each sync runs; everything else is ``crmseg sync``.

- :mod:`.scheduler`   the daemon: jobs, signals, heartbeat, the run of one sync, start and stop
- :mod:`.triggers`    APScheduler triggers from a sync's ``cron``/``interval`` and ``[review] schedule``
- :mod:`.run_report`  what a finished run logs and counts
- :mod:`.review_job`  the scheduled review of a sync's state
- :mod:`.reload`      rule files and mappings: re-read on change, used only once they pass check
- :mod:`.health`      a rejected edit's problems, the ``/healthz`` body, a sync's next run
- :mod:`.metrics`     Prometheus metrics and ``/healthz`` on 127.0.0.1
- :mod:`.logs`        human-readable or JSON-lines logs, one summary event per run
"""
