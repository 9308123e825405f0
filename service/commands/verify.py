"""`alb-rollouts verify` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    print("alb-rollouts verify: not yet", file=sys.stderr)
    return 2
