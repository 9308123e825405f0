"""HTTP endpoints of the controller: probes, metrics (and later the debug API)."""
