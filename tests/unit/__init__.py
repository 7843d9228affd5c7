"""Fast tests of pure code (no processes, no network)."""
