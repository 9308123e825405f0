"""`alb-rollouts bench`: the controller measured at scale on the sandbox (issue 13), over the wire only."""

__all__: list[str] = []
