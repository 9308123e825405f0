"""`alb-rollouts run`: the controller itself, with the reference controller's flags.

Room: start-up. It declares every flag of `service.settings`, parses them once into `Settings` (a bad value
exits 2 naming the flag) and hands over to `service.running.main`, which runs until SIGINT/SIGTERM.
`python -m service.commands.run` is the same command on its own (the demo starts it so).
It never reads flags anywhere else.
"""

from __future__ import annotations

import argparse
import sys

from service import running, settings

__all__ = ["configure", "main", "run"]

_PARSER = "_run_parser"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Run the controller: watch Rollouts, shift ALB traffic by Ingress annotations "
                          "step by step, and (with --aws-verify-target-group) check each step in ELBv2. "
                          "Stops cleanly on SIGINT or SIGTERM.")
    settings.add_arguments(parser)
    parser.set_defaults(**{_PARSER: parser})


def run(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser | None = getattr(args, _PARSER, None)
    built = settings.from_args(args, parser=parser)
    return running.main(built)


def main(argv: list[str] | None = None) -> int:
    """`python -m service.commands.run [flags]`: `alb-rollouts run` without the CLI's other commands."""
    parser = argparse.ArgumentParser(prog="alb-rollouts run")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
