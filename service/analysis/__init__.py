"""Analysis (service side): the metric providers an AnalysisRun measures through, with async I/O.

`providers` is the seam the engine calls (Observation, ProviderError, Provider, the registry); `prometheus`,
`web` and `cloudwatch` are the providers. Conditions are evaluated by the engine, not here.
"""

__all__: list[str] = []
