"""``--base``: an older version of a rules folder, from a folder or a git revision."""

from __future__ import annotations

import subprocess
from pathlib import Path

from crmseg.errors import ConfigError

__all__ = ["resolve_base"]


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise ConfigError("git is not installed; pass --base as a folder") from None
    if done.returncode != 0:
        raise ConfigError(done.stderr.strip() or f"git {' '.join(args)} failed")
    return done.stdout


def resolve_base(base: str, rules_dir: str | Path, scratch: Path) -> tuple[Path, str]:
    """(folder holding the base rules, a label for reports).

    ``base`` is a folder, or a git revision (``main``, ``HEAD~1``, a sha) of the repository that
    holds ``rules_dir``: its ``*.toml`` files at that revision are written under ``scratch``."""
    as_dir = Path(base)
    if as_dir.is_dir():
        return as_dir, str(as_dir)
    rules = Path(rules_dir).resolve()
    try:
        top = Path(_git(rules, "rev-parse", "--show-toplevel").strip())
        sha = _git(top, "rev-parse", "--short", "--verify", f"{base}^{{commit}}").strip()
    except ConfigError as exc:
        raise ConfigError(
            f"--base {base!r}: not a folder and not a git revision of the repository holding {rules_dir} ({exc})"
        ) from None
    rel = rules.relative_to(top.resolve()).as_posix()
    prefix = "" if rel == "." else rel + "/"
    names = [
        n
        for n in _git(top, "ls-tree", "--name-only", sha, prefix or ".").splitlines()
        if n.endswith(".toml") and "/" not in n[len(prefix) :]
    ]
    if not names:
        raise ConfigError(f"--base {base!r}: {prefix or './'} holds no rule files (*.toml) at {sha}")
    out = scratch / f"base-{sha}"
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        blob = subprocess.run(["git", "-C", str(top), "show", f"{sha}:{name}"], capture_output=True, timeout=60)
        if blob.returncode != 0:
            raise ConfigError(f"--base {base!r}: cannot read {name}: {blob.stderr.decode(errors='replace').strip()}")
        (out / Path(name).name).write_bytes(blob.stdout)
    return out, f"{base} ({sha})"
