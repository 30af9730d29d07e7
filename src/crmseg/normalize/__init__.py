"""The normalize stage: raw CRM/file records to canonical accounts (parsers, converters, the
normalizer and its generated fast path, country names)."""
