"""A local CRM sandbox: the Salesforce and HubSpot API subsets crmseg uses, over SQLite.

For trying crmseg without credentials, for tests and for benchmarks::

    from crmseg.sandbox import SandboxServer
    from crmseg.sandbox.clients import hubspot_client, salesforce_client

    with SandboxServer("salesforce", accounts=1000, rules_dir="rules") as sb:
        sf = salesforce_client(sb.url)          # the real simple-salesforce client
        sf.query("SELECT Id, Name FROM Account")
        sb.inject({"kind": "429", "endpoint": "composite", "retry_after": 0})
        print(sb.stats())

    with SandboxServer("hubspot", accounts=1000) as sb:
        hs = hubspot_client(sb.url)              # hubspot.HubSpot(access_token=..., host=sb.url)

The sandbox serves the shipped mappings (``connectors/<crm>.toml``, from the working folder or
the source checkout; ``mapping=``/``--mapping`` for another file) and seeds a CSV of canonical
accounts (``id_map`` / ``GET /__sandbox/ids`` link its ids to the CRM's) or ``accounts=N``
synthetic ones from the checkout's ``scripts/make_sample_accounts.py``.

Command line: ``python -m crmseg.sandbox --crm hubspot --port 8765 --accounts 500
--rules rules --write-config sandbox.toml`` (wired as ``crmseg sandbox``).

Modules: ``server`` (SandboxServer), ``cli`` (run_sandbox, write_sandbox_config), ``base`` (HTTP,
faults/stats/control endpoints), ``salesforce``/``sf_auth``/``sf_bulk``/``sf_writes``/``soql``/``soql_eval``,
``hubspot``/``hs_objects``/``hs_reads``/``hs_writes``/``hs_search``/``hs_properties``,
``dynamics``/``dynamics_odata``/``dynamics_reads``/``dynamics_writes``/``dynamics_schema``/
``dynamics_batch``/``dynamics_entra``, ``zoho``/``zoho_records``/``zoho_schema``/``zoho_deals``/
``zoho_bulk``,
``store`` (SQLite), ``schema``, ``seed``, ``synthetic``, ``deals``/``deal_records``/``deal_setup``
(seeded deals with planted effects, ``deals=N`` / ``--deals N``; see docs/sandbox-deals.md),
``faults``, ``stats``, ``ratelimit``, ``values``, ``clients``, ``defaults`` (credentials, mappings).
"""

from crmseg.sandbox.base import SandboxOptions
from crmseg.sandbox.cli import run_sandbox, write_sandbox_config
from crmseg.sandbox.defaults import Credentials, default_mapping, shipped_mapping_path
from crmseg.sandbox.server import SandboxServer
from crmseg.sandbox.synthetic import synthetic_accounts

__all__ = [
    "Credentials",
    "SandboxOptions",
    "SandboxServer",
    "default_mapping",
    "run_sandbox",
    "shipped_mapping_path",
    "synthetic_accounts",
    "write_sandbox_config",
]
