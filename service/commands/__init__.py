"""Command-line subcommands of `alb-rollouts`: each module offers `configure(parser)` and `run(args)`."""
