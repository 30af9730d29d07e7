"""crmseg sync: diff -> write -> record, on top of the read -> normalize -> evaluate pipeline."""
