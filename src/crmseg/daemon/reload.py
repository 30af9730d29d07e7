"""Rule files and mappings in a running daemon: re-read when they change, used only once
they pass ``check`` (parse, types, lints, inline tests); a broken edit keeps the last good
set and logs its problems (file, rule, column) once.

An edit is taken only once it has settled: while a changed file is younger than
:data:`SETTLE_S` (an editor or ``git checkout`` may be half-way through writing it), runs
keep the last good set, and the new version is checked on the next look — so a file caught
truncated is neither loaded nor reported as broken. A version seen unchanged on two looks
:data:`SETTLE_S` apart is taken whatever its timestamps say (clock skew on shared disks).

Each run takes one consistent (mapping, rule set) pair from :meth:`RuleGuard.current`; a
reload replaces the pair between runs, never during one. Every look reads the rule files once
(for their fingerprint); only a changed version is parsed, checked and compiled — from those
same bytes — and the compiled rules serve every run until the next change.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from crmseg.alerts import rules_rejected, send_alert
from crmseg.config import Config, FileSync, Mapping, load_mapping
from crmseg.daemon.health import RejectedEdit, problems_of
from crmseg.daemon.logs import log_event
from crmseg.errors import ConfigError, RuleError
from crmseg.rules.engines import Engine, make_engine
from crmseg.rules.files import RuleFiles
from crmseg.rules.model import RuleSet
from crmseg.sync.fingerprint import newest_change, rules_fingerprint
from crmseg.sync.service import CheckedRules

log = logging.getLogger("crmseg.daemon")

SETTLE_S = 1.0
"""Seconds a changed rule or mapping file must stay untouched before a daemon loads it."""


@dataclass(frozen=True)
class GoodRules(CheckedRules):
    """Rules that passed check (see :class:`CheckedRules`), and when this daemon loaded them."""

    loaded_at: str


class RulesListener(Protocol):
    """Told what a :class:`RuleGuard` decides, from the thread of the run that looked."""

    def rules_live(self, sync: str, good: GoodRules) -> None:
        """``good`` is the version in use now; no edit of the sync is rejected any more."""

    def rules_rejected(self, edit: RejectedEdit) -> None:
        """An edit failed check (told once per version of the files); runs keep ``edit.kept_fingerprint``."""


def sync_files(cfg: Config, sync_cfg: Any) -> tuple[Path, Path | None]:
    """(rules folder, mapping file) a sync reads, resolved against the config's folder."""
    from crmseg.audit.plan import default_mapping

    rules_dir = cfg.resolve(sync_cfg.rules)
    if sync_cfg.mapping:
        return rules_dir, cfg.resolve(sync_cfg.mapping)
    if isinstance(sync_cfg, FileSync):
        return rules_dir, default_mapping(rules_dir)
    return rules_dir, None


def check_files(
    cfg: Config, sync_cfg: Any, engine: str, files: RuleFiles | None = None
) -> tuple[Mapping, RuleSet, Engine]:
    """Load and check one sync's mapping and rules (``files``: the rule files as read already),
    inline tests included, on the rules compiled once; RuleError lists every problem."""
    from crmseg.normalize.normalizer import Normalizer
    from crmseg.rules.loader import load_rules
    from crmseg.rules.testing import run_tests

    rules_dir, mapping_path = sync_files(cfg, sync_cfg)
    files = files or RuleFiles.read(rules_dir)
    if mapping_path is None:
        raise ConfigError(f"{cfg.path}: syncs.{sync_cfg.name}.mapping is required for connector '{sync_cfg.connector}'")
    mapping = load_mapping(mapping_path)
    passthrough = isinstance(sync_cfg, FileSync)
    columns: list[str] = []
    if passthrough:
        from crmseg.connectors.files import FileConnector

        columns = list(FileConnector(cfg.resolve(sync_cfg.path), sync_cfg.connector, mapping=mapping).columns())
    types = Normalizer(mapping, passthrough=passthrough, reserved=files.dimension_names()).field_types(columns)
    ruleset = load_rules(files, types)
    now = datetime.now(UTC)
    compiled = make_engine(engine, ruleset, now)
    failed = [o.message for o in run_tests(ruleset, compiled, now) if not o.ok]
    if failed:
        compiled.close()
        raise RuleError(failed)
    return mapping, ruleset, compiled


class RuleGuard:
    """Per sync: the last good rules, reloaded when the files' fingerprint changes."""

    def __init__(self, listener: RulesListener | None = None) -> None:
        self.listener = listener
        self._good: dict[str, GoodRules] = {}
        self._rejected: dict[str, str] = {}  # sync -> fingerprint already reported as broken
        self._pending: dict[str, tuple[str, float]] = {}  # sync -> (unsettled fingerprint, first seen, monotonic)
        self._lock = threading.Lock()

    def current(self, cfg: Config, sync_cfg: Any, engine: str = "native") -> GoodRules | None:
        """The rules a run of ``sync_cfg`` should use now, compiled for ``engine`` when loaded;
        None when no version ever passed check."""
        with self._lock:
            return self._current_locked(cfg, sync_cfg, engine)

    def _settled(self, name: str, fp: str, rules_dir: Path, mapping_path: Path | None) -> bool:
        """True when version ``fp`` of the files may be loaded: untouched for SETTLE_S, or seen that long ago."""
        now = time.monotonic()
        seen = self._pending.get(name)
        if seen is not None and seen[0] == fp and now - seen[1] >= SETTLE_S:
            return True
        if time.time() - newest_change(rules_dir, mapping_path) >= SETTLE_S:
            return True
        if seen is None or seen[0] != fp:
            self._pending[name] = (fp, now)
        return False

    def _current_locked(self, cfg: Config, sync_cfg: Any, engine: str) -> GoodRules | None:
        name = sync_cfg.name
        rules_dir, mapping_path = sync_files(cfg, sync_cfg)
        good = self._good.get(name)
        while True:
            files: RuleFiles | None = None
            try:
                files = RuleFiles.read(rules_dir)
                fp = rules_fingerprint(files, mapping_path)
            except OSError as exc:
                fp = f"unreadable:{exc}"
            if good is not None and good.fingerprint == fp:
                if self._rejected.pop(name, None) is not None:  # the broken edit was reverted
                    log_event(
                        log, logging.INFO, "rules_restored", f"sync {name}: rules back to the live version", sync=name
                    )
                    self._tell_live(name, good)
                return good
            if self._rejected.get(name) == fp:
                return good
            if self._settled(name, fp, rules_dir, mapping_path):
                break
            if good is not None:
                return good  # this run keeps the last good rules; the edit is looked at again next time
            time.sleep(SETTLE_S)  # nothing loaded yet (start-up): wait for the files to settle
        self._pending.pop(name, None)
        try:
            mapping, ruleset, compiled = check_files(cfg, sync_cfg, engine, files)
        except (RuleError, ConfigError) as exc:
            self._reject(cfg, name, fp, rules_dir, good, exc)
            return good
        fresh = GoodRules(mapping, ruleset, fp, compiled, datetime.now(UTC).isoformat(timespec="seconds"))
        self._good[name] = fresh
        self._rejected.pop(name, None)
        from crmseg.rules.lints import lint_rules

        for line in [*ruleset.warnings, *lint_rules(ruleset, mapping)]:  # once per loaded version
            log_event(log, logging.WARNING, "rule_warning", line, sync=name)
        verb = "reloaded" if good is not None else "loaded"
        log_event(
            log,
            logging.INFO,
            "rules_loaded",
            f"sync {name}: rules {verb} ({len(ruleset.dimensions)} dimensions, "
            f"{sum(len(d.rules) for d in ruleset.dimensions)} rules)",
            sync=name,
            fingerprint=fp,
        )
        self._tell_live(name, fresh)
        return fresh

    def _reject(
        self, cfg: Config, name: str, fp: str, rules_dir: Path, good: GoodRules | None, exc: RuleError | ConfigError
    ) -> None:
        """An edit of ``name``'s files (version ``fp``) failed check: log it once, alert, tell the listener."""
        self._rejected[name] = fp
        problems = exc.problems if isinstance(exc, RuleError) else str(exc).splitlines()
        keep = f"keeping the rules loaded at {good.loaded_at}" if good else "the sync cannot run until it is fixed"
        log_event(
            log,
            logging.ERROR,
            "rules_rejected",
            f"sync {name}: rules in {rules_dir} do not pass check; {keep}",
            sync=name,
            problems=problems,
        )
        for line in problems:
            log_event(log, logging.ERROR, "rule_problem", line, sync=name)
        send_alert(cfg.alerts, rules_rejected(name, str(rules_dir), problems, keep))
        if self.listener is None:
            return
        edit = RejectedEdit(
            sync=name,
            fingerprint=fp,
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            rules_dir=str(rules_dir),
            problems=tuple(problems_of(problems)),
            kept_fingerprint=good.fingerprint if good else None,
            kept_since=good.loaded_at if good else None,
        )
        try:
            self.listener.rules_rejected(edit)
        except Exception as err:  # reporting must never stop a run with good rules
            log.exception("sync %s: reporting the rejected edit failed: %s", name, err)

    def _tell_live(self, name: str, good: GoodRules) -> None:
        if self.listener is None:
            return
        try:
            self.listener.rules_live(name, good)
        except Exception as err:  # reporting must never stop a run with good rules
            log.exception("sync %s: reporting the live rules failed: %s", name, err)
