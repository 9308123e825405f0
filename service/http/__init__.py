"""HTTP side of the controller: the probes, the `/metrics` rendering and the debug API.

Room: serve. Modules here read what other parts register (health checks, metric families); they never
reconcile, patch or call AWS. The metric families themselves are defined outside this package
(`service.rollout_metrics`, `service.client_metrics`, `service.workqueue_metrics`, `service.aws.metrics`), so
the layers that count never import the HTTP layer.
"""

__all__: list[str] = []
