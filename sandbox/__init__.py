"""Local stand-in for a cluster and AWS (SPEC section 6): speaks only over the wire to the product."""

__all__: list[str] = []
