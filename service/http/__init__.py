"""HTTP side of the controller: the probes, the Prometheus metrics and (later) the debug API.

Room: serve. Modules here read what other parts register (health checks, metric families); they never
reconcile, patch or call AWS.
"""

__all__: list[str] = []
