"""Sandbox credentials, and where the sandbox finds its mapping.

The sandbox has no mapping of its own: it serves the shipped ``connectors/<crm>.toml``
(the same files a user's config names), or the file given with ``--mapping`` /
``mapping=``. The shipped file is looked up in the working folder first, then in the
source checkout the ``crmseg`` package was imported from
(``Path(crmseg.__file__).parents[2] / "connectors"``), then in the copy shipped as package
data (``crmseg/defaults``), so an installed package needs no checkout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import crmseg
from crmseg.config import Mapping, load_mapping
from crmseg.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the sandbox accepts. Defaults are public test values, never real secrets."""

    username: str = "sandbox@example.com"
    password: str = "sandbox"
    security_token: str = "sandbox-token"
    session_id: str = "00DSANDBOX0000000!sandbox-session"
    consumer_key: str = "sandbox-consumer-key"
    consumer_secret: str = "sandbox-consumer-secret"
    hubspot_token: str = "pat-sandbox-0000-0000"
    #: Dynamics 365: the Entra ID app registration's client id and secret (client credentials).
    dynamics_client_id: str = "00000000-5a9d-4b0e-8d36-5a9d00000001"
    dynamics_client_secret: str = "sandbox-dynamics-secret"
    #: PEM certificates registered on that application: a client assertion signed by one's key
    #: is accepted instead of the secret.
    dynamics_certificates: tuple[str, ...] = ()
    #: Zoho CRM: the server-based client's id and secret, and the refresh token of its grant.
    zoho_client_id: str = "1000.SANDBOX0ZOHO0CLIENT0000000000"
    zoho_client_secret: str = "sandbox-zoho-secret"
    zoho_refresh_token: str = "1000.sandbox0refresh.sandbox0zoho0token"


def checkout_root() -> Path:
    """The source checkout the ``crmseg`` package lives in (``src/crmseg`` -> the repository root)."""
    return Path(crmseg.__file__).resolve().parents[2]


def checkout_file(relative: str | Path) -> Path | None:
    """``relative`` in the working folder, else in the source checkout, else the copy shipped
    in the package (``connectors/``, ``rules/``, ``examples/``); None when in none."""
    from crmseg.defaults import packaged

    for candidate in (Path(relative), checkout_root() / relative):
        if candidate.is_file():
            return candidate
    return packaged(relative)


def shipped_mapping_path(crm: str) -> Path:
    """``connectors/<crm>.toml`` in the working folder or the source checkout (ConfigError if neither)."""
    if crm not in ("salesforce", "hubspot", "dynamics", "zoho"):
        raise ValueError(f"unknown crm {crm!r}; allowed: 'salesforce', 'hubspot', 'dynamics', 'zoho'")
    relative = Path("connectors") / f"{crm}.toml"
    found = checkout_file(relative)
    if found is None:
        raise ConfigError(
            f"no mapping for the {crm} sandbox: neither {Path.cwd() / relative} nor {checkout_root() / relative} "
            "exists; pass --mapping FILE (or mapping=...)"
        )
    return found


def default_mapping(crm: str) -> Mapping:
    """The shipped mapping for ``crm`` ("salesforce" or "hubspot"), loaded from its file."""
    return load_mapping(shipped_mapping_path(crm))


def resolve_mapping(crm: str, mapping: Mapping | str | Path | None) -> Mapping:
    """A Mapping object: the one given, the file given, or the shipped ``connectors/<crm>.toml``."""
    if isinstance(mapping, Mapping):
        return mapping
    if mapping is not None:
        return load_mapping(mapping)
    return default_mapping(crm)
