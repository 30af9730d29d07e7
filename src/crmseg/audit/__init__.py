"""The audit stage: a checked plan (config or source), the run (read → normalize → evaluate → diff), its summary."""
