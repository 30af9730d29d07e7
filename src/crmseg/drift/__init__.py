"""Segment drift on plain data (no I/O): PSI, transition matrices, flapping."""
