"""Fixtures for end-to-end runs of `alb-rollouts run` (a subprocess) against a whole sandbox.

    moto_server    session: one moto ELBv2/EC2 server on loopback, shared by the e2e tests
    aws_endpoint   its URL; every AWS resource is reset after the test
    quiet_sandbox  the LBC simulator's retry warnings kept out of passing runs (they show in failures)
    (autouse)      no asyncio task may outlive its test: the sandbox and the controller process are stopped
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

__all__: list[str] = []


@pytest.fixture(autouse=True)
def _no_task_left_running(no_task_left_running: None) -> None:
    """Every test here is checked by tests/conftest.py's no_task_left_running."""


@pytest.fixture
def quiet_sandbox() -> Iterator[None]:
    logger = logging.getLogger("sandbox.lbc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)
