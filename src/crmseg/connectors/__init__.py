"""Connectors: read accounts from a CRM or file, write tag changes back."""
