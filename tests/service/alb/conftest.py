"""Fixtures for the ALB rendering tests (builders live in builders.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.service.alb.builders import apply_merge_patch, build_ingress, service_path

__all__ = ["apply_patch", "make_ingress", "make_path"]

IngressFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_ingress() -> IngressFactory:
    return build_ingress


@pytest.fixture
def apply_patch() -> Callable[[Any, Any], Any]:
    return apply_merge_patch


@pytest.fixture
def make_path() -> Callable[..., dict[str, Any]]:
    return service_path
