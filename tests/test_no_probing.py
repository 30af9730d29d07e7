"""The code that drives connectors asks them what they can do through their typed
``capabilities``, never by probing attributes (``getattr``/``hasattr``) or comparing class
names: checked over the source's syntax trees."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "crmseg"

#: The modules that consult connectors (and their configs).
CONSUMERS = sorted(
    [
        *PACKAGE.glob("sync/*.py"),
        PACKAGE / "audit" / "plan.py",
        PACKAGE / "audit" / "run.py",
        *PACKAGE.glob("daemon/*.py"),
        *PACKAGE.glob("cli/*.py"),
        PACKAGE / "rules" / "alerts.py",
        PACKAGE / "connectors" / "schema_check.py",
    ]
)


def _allowed(rel: str, call: ast.Call) -> bool:
    """The two probes that are not about connectors: a log record's extras, and the lazy
    command loader taking a command object out of the module it imported."""
    first = call.args[0] if call.args else None
    if rel == "daemon/logs.py":
        return isinstance(first, ast.Name) and first.id == "record"
    if rel == "cli/lazy.py":
        return (
            isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute) and first.func.attr == "import_module"
        )
    return False


def _names_a_class(node: ast.expr) -> bool:
    """``x.__class__``, ``x.__class__.__name__``, ``type(x).__name__`` (or ``__qualname__``)."""
    if isinstance(node, ast.Attribute) and node.attr in ("__name__", "__qualname__", "__class__"):
        inner = node.value
        return node.attr == "__class__" or (
            (isinstance(inner, ast.Attribute) and inner.attr == "__class__")
            or (isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "type")
        )
    return False


def probes(path: Path, root: Path = PACKAGE) -> list[str]:
    """Every attribute probe and class-name comparison in ``path``, as ``file:line: source``."""
    rel = path.relative_to(root).as_posix()
    text = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(text, str(path))):
        bad = False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            bad = not _allowed(rel, node)
        elif isinstance(node, ast.Compare):
            bad = any(_names_a_class(side) for side in (node.left, *node.comparators))
        if bad:
            found.append(f"{rel}:{node.lineno}: {ast.get_source_segment(text, node)}")
    return found


def test_the_consumer_list_finds_its_modules():
    assert all(p.is_file() for p in CONSUMERS)
    assert len(CONSUMERS) > 15


@pytest.mark.parametrize("path", CONSUMERS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_attribute_probes_or_class_name_comparisons(path):
    assert probes(path) == []


def test_the_check_sees_the_probes_it_forbids(tmp_path):
    src = tmp_path / "crmseg"
    (src / "daemon").mkdir(parents=True)
    (src / "daemon" / "logs.py").write_text("getattr(record, 'event', 'log')\ngetattr(connector, 'x', 1)\n")
    sample = src / "sample.py"
    sample.write_text(
        "if hasattr(conn, 'provision'): pass\n"
        "t = getattr(self.connector, 'server_time', None)\n"
        "a = type(exc).__name__ == 'BudgetExhausted'\n"
        "b = conn.__class__.__name__ != 'FileConnector'\n"
        "c = 'x' if conn.__class__ is Foo else 'y'\n"
        "message = str(exc) or type(exc).__name__\n"  # naming a class in a message is fine
    )
    assert [line.split(": ", 1)[0] for line in probes(sample, src)] == [f"sample.py:{n}" for n in (1, 2, 3, 4, 5)]
    assert probes(src / "daemon" / "logs.py", src) == ["daemon/logs.py:2: getattr(connector, 'x', 1)"]
