"""AWS side of the flow: the ELBv2 client, its rate shaping and caches, and the weight and target verifiers.

Room: act (AWS). Nothing here imports Kubernetes client code; callers pass plain inputs and get result
dataclasses back (see `service.aws.verifying.open_verifiers`).
"""

__all__: list[str] = []
