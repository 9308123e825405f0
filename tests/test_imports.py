"""Every module imports on its own, statemachine/ stays free of I/O libraries, service/kube/ of HTTP."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

from service import cli

PACKAGES = ["statemachine", "service", "sandbox"]
FORBIDDEN_IN_STATEMACHINE = ("kubernetes_asyncio", "aiobotocore", "botocore", "aiohttp", "structlog",
                             "prometheus_client", "service", "sandbox")


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        mod = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{package}."):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_module_imports_alone(name: str) -> None:
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_statemachine_is_pure() -> None:
    code = (
        "import sys, importlib, pkgutil, statemachine\n"
        "for i in pkgutil.walk_packages(statemachine.__path__, prefix='statemachine.'):\n"
        "    importlib.import_module(i.name)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN_IN_STATEMACHINE!r}]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_sandbox_speaks_only_over_the_wire() -> None:
    """sandbox/ plays the cluster and AWS: it must never load the product's own packages."""
    code = (
        "import sys, importlib, pkgutil, sandbox\n"
        "for i in pkgutil.walk_packages(sandbox.__path__, prefix='sandbox.'):\n"
        "    importlib.import_module(i.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('service', 'statemachine')]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_counting_layers_do_not_load_the_http_layer() -> None:
    """Metric families live outside service/http/: the observe and apply layers never load the HTTP server."""
    code = (
        "import sys, importlib, pkgutil, service.kube\n"
        "for i in pkgutil.walk_packages(service.kube.__path__, prefix='service.kube.'):\n"
        "    importlib.import_module(i.name)\n"
        "for name in ('service.queueing', 'service.rollout_metrics', 'service.client_metrics'):\n"
        "    importlib.import_module(name)\n"
        "bad = [m for m in sys.modules if m == 'service.http' or m.startswith('service.http.')]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_cli_lists_every_command() -> None:
    parser = cli.build_parser()
    help_text = parser.format_help()
    for name in cli.COMMANDS:
        assert name in help_text


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_cli_imports_only_the_selected_command(name: str) -> None:
    code = (
        "import sys\n"
        "from service import cli\n"
        f"cli.build_parser({name!r})\n"
        "others = [m for n, (m, _) in cli.COMMANDS.items() if n != " + repr(name) + " and m in sys.modules]\n"
        "print(','.join(others))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
