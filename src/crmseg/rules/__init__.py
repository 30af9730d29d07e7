"""The rule language: parse and check rule files, compile them, run them on an engine."""
