"""The root ``crmseg`` group: its commands (each in its own module, imported on first use) and the
mapping of errors to one-line messages and exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from crmseg import __version__
from crmseg.cli.lazy import Lazy, LazyGroup
from crmseg.cli.options import err
from crmseg.errors import CrmsegError, RuleError

# Start-up time matters (``crmseg --help`` should answer at once): import only click and
# crmseg's light modules here. Each command lives in a module of crmseg.cli imported when the
# command is run or asked for help; rich, pydantic (crmseg.config), the CRM clients and the
# rest come with those (tests/test_startup.py checks that importing this module loads none of them).

#: ``crmseg NAME``: where each command lives and its help's first paragraph (kept equal to its
#: docstring's by tests/test_startup.py), so ``crmseg --help`` lists them without importing them.
ROOT: dict[str, Lazy] = {
    "audit": Lazy(
        "crmseg.cli.audit:audit",
        "Dry run: what the rules would do to the accounts. Never writes to a CRM or to sync state.",
    ),
    "daemon": Lazy(
        "crmseg.cli.daemon:daemon",
        "Run every sync on its schedule until SIGTERM/SIGINT (SIGHUP reloads the config).",
    ),
    "drift": Lazy("crmseg.cli.drift:drift", "Segment drift: PSI, transitions, flapping."),
    "history": Lazy(
        "crmseg.cli.history:history",
        "Every recorded tag change of one account (run, time, dimension, from → to, rule), its pin and errors.",
    ),
    "init": Lazy(
        "crmseg.cli.init:init",
        "Write a starter config.toml, rules/, connectors/ and sample accounts into DIRECTORY (default: here).",
    ),
    "review": Lazy(
        "crmseg.cli.review:review",
        "Quarterly segment review: win rate, deal size, cycle, velocity, churn, calibration, viability.",
    ),
    "rules": Lazy("crmseg.cli.rules:rules", "Check and explain rule files."),
    "sandbox": Lazy(
        "crmseg.cli.sandbox:sandbox",
        "A local Salesforce, HubSpot, Dynamics 365 or Zoho CRM on 127.0.0.1, no credentials needed.",
    ),
    "schema": Lazy("crmseg.cli.schema:schema", "Check a CRM sync's mapping against the CRM's schema."),
    "state": Lazy("crmseg.cli.state:state", "Manage the sync state store (SQLite file or PostgreSQL server)."),
    "status": Lazy(
        "crmseg.cli.status:status",
        "Per sync: the last run (when, outcome, counts, API calls, errors, drift alert) and the next one.",
    ),
    "sync": Lazy("crmseg.cli.sync:sync", "Run one sync now: write changed tags back, record state and drift."),
}


class CrmsegGroup(LazyGroup):
    """The root group: in standalone mode (the console script, ``CliRunner().invoke``) its ``main``
    turns errors into crmseg's exit codes and one-line messages, the same way for both.

    ``CrmsegError`` -> ``error: …`` (a RuleError: its problems) and its ``exit_code``; a click
    usage error -> click's message, exit 2; Abort/Ctrl-C -> ``aborted``, 130; a broken pipe -> 0;
    another OSError (a path or port the user named) -> ``error: …``, 2 (4: a network error).
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; with ``standalone_mode=False`` errors propagate, as click's do."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            # click itself non-standalone: its standalone mode would print "Aborted!" and exit 1, etc.
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.Abort:
            err("aborted")
            sys.exit(130)
        except click.ClickException as exc:
            exc.show()
            sys.exit(2)
        except CrmsegError as exc:
            err(f"error: {exc}" if not isinstance(exc, RuleError) else str(exc))
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            sys.exit(0)
        except OSError as exc:  # a path or port the user named; CRM network errors are mapped by the connectors
            err(f"error: {f'{exc.filename}: ' if exc.filename else ''}{exc.strerror or exc}")
            sys.exit(4 if _is_network_error(exc) else 2)
        # commands return None; an int is the code of a ctx.exit(...) (--help, --version: 0)
        sys.exit(code if isinstance(code, int) else 0)


def _is_network_error(exc: OSError) -> bool:
    """A connection error or a ``requests`` one (an OSError too), without importing requests for it."""
    requests = sys.modules.get("requests")  # not imported: the error cannot be one of its
    return isinstance(exc, ConnectionError) or (requests is not None and isinstance(exc, requests.RequestException))


@click.group("crmseg", cls=CrmsegGroup, lazy_subcommands=ROOT, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__)  # the constant: no importlib.metadata on every start
def cli() -> None:
    """Segment, tier and journey-stage tags for CRM accounts, from rule files."""


def main() -> None:
    """Console entry point; :class:`CrmsegGroup` maps errors to messages and exit codes."""
    cli.main()
