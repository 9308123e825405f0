"""ALB routing as the reference writes it: action annotations, bookkeeping, resets and Ingress patches.

Apply room, pure: every module here computes values from plain data and never does I/O.
"""

from __future__ import annotations

__all__: list[str] = []
