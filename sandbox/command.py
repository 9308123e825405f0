"""`alb-rollouts sandbox`: runs a local Kubernetes API, cluster, moto ELBv2 and LBC simulator until Ctrl-C.

When ready it writes the state file (JSON: kubeconfig, apiServer, awsEndpointUrl, awsRegion, control) and
prints `sandbox ready` with the same values, then `controller: ...`, the `alb-rollouts run` command line to
run against it with everything it needs (dummy AWS credentials, a Lease namespace that exists). It never
imports the product (`service/`, `statemachine/`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import math
import os
import shlex
import signal
import sys
from pathlib import Path

from sandbox import running

__all__ = ["CONTROLLER_ENV", "configure", "controller_command", "run"]

CONTROLLER_ENV = running.CONTROLLER_ENV


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, got {text}")
    return int(text)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="Kubernetes API port (default 0: a free port)")
    parser.add_argument("--state-file", type=Path, default=None,
                        help="write the endpoints here as JSON when ready (kubeconfig goes next to it)")
    parser.add_argument("--pod-ready-seconds", type=_seconds, default=1.0,
                        help="how long a new pod takes to become Ready (default 1)")
    parser.add_argument("--lbc-lag-seconds", type=_seconds, default=0.0,
                        help="how long the LBC simulator takes to apply a change to AWS (default 0)")


def controller_command(state: running.SandboxState, program: str = "alb-rollouts") -> str:
    """The shell line that runs the controller against this sandbox, verifying the ALB in its moto."""
    env = " ".join(f"{name}={value}" for name, value in CONTROLLER_ENV.items())
    args = [program, "run", "--kubeconfig", state.kubeconfig, "--aws-verify-target-group",
            "--aws-endpoint-url", state.aws_endpoint_url, "--aws-region", state.aws_region]
    return f"{env} {shlex.join(args)}"


def _program() -> str:
    # The console script as the user typed it (e.g. .venv/bin/alb-rollouts), so the line runs as printed.
    typed = sys.argv[0] if sys.argv else ""
    return typed if Path(typed).name == "alb-rollouts" else "alb-rollouts"


def _write_state(path: Path, state: running.SandboxState) -> None:
    """Atomically, so a poller never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(state.as_dict(), indent=2) + "\n")
    os.replace(partial, path)


async def _serve(args: argparse.Namespace) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    state_file: Path | None = args.state_file
    kubeconfig = state_file.with_name(f"{state_file.stem}.kubeconfig") if state_file is not None else None
    _remove(state_file)  # a stale file from an earlier run must not look ready
    async with running.Sandbox(host=args.host, port=args.port, kubeconfig_path=kubeconfig,
                               pod_ready_seconds=args.pod_ready_seconds,
                               lbc_lag_seconds=args.lbc_lag_seconds, moto_process=True) as sandbox:
        if state_file is not None:
            _write_state(state_file, sandbox.state)
        print("sandbox ready")
        for key, value in sandbox.state.as_dict().items():
            print(f"{key}: {value}")
        print(f"controller: {controller_command(sandbox.state, _program())}")
        sys.stdout.flush()
        await stopping.wait()
        print("sandbox stopping")
        sys.stdout.flush()
    _remove(state_file)
    _remove(kubeconfig)


def _remove(path: Path | None) -> None:
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("moto") is None:
        print("alb-rollouts sandbox needs moto's server: pip install 'moto[server]'", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_serve(args))
    except OSError as err:  # a port in use, an address not on this machine, a state file we cannot write
        print(f"alb-rollouts sandbox: cannot start: {err}", file=sys.stderr)
        return 1
    print("sandbox stopped")
    return 0
