"""`alb-rollouts plan`: an offline preview of the Ingress and status patches the controller would write.

CLI room: reads the given YAML/JSON files, hands the objects to the pure `service.alb.preview`, prints one
JSON object. Never talks to a cluster or AWS and never writes anything but stdout/stderr.
Exit codes: 0 planned; 1 invalid Rollout or a refusal to write; 2 unreadable input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import yaml

from service.alb import actions, ingress_patch, preview, rules
from statemachine import models, serving

__all__ = ["InputError", "configure", "load_documents", "run"]


class InputError(ValueError):
    """The input cannot be read as the objects `plan` needs; `str()` says which file and why."""


def _weight(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 100, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be from 0 to 100, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f", "--filename", dest="files", action="append", required=True, metavar="FILE",
        help="YAML or JSON file (multi-document, or a List) with the Rollout, its Ingress(es) and "
             "optionally its Services; '-' reads stdin; repeatable",
    )
    parser.add_argument(
        "--weight", type=_weight, metavar="N",
        help="force the desired canary weight (0-100) to preview any step",
    )
    parser.add_argument(
        "--alb-ingress-classes", dest="classes", action="append", metavar="CLASS",
        help="Ingress classes the controller may write (repeatable; '' means no class; default: alb)",
    )


def _parse(text: str, source: str) -> Iterator[Any]:
    if text.lstrip().startswith(("{", "[")):
        decoder = json.JSONDecoder()
        position, end = 0, len(text)
        try:
            while True:
                while position < end and text[position].isspace():
                    position += 1
                if position >= end:
                    return
                document, position = decoder.raw_decode(text, position)
                yield document
        except json.JSONDecodeError as error:
            raise InputError(f"{source}: invalid JSON: {error}") from None
    try:
        yield from list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise InputError(f"{source}: invalid YAML: {error}") from None


def _expand(document: Any, source: str) -> Iterator[dict[str, Any]]:
    if document is None:
        return
    if isinstance(document, list):
        for item in document:
            yield from _expand(item, source)
        return
    if not isinstance(document, dict):
        raise InputError(f"{source}: expected Kubernetes objects, found a {type(document).__name__}")
    if str(document.get("kind", "")).endswith("List") and isinstance(document.get("items"), list):
        for item in document["items"]:
            yield from _expand(item, source)
        return
    yield document


def load_documents(files: list[str]) -> list[dict[str, Any]]:
    """Every object in the files, in order; raises InputError naming the file."""
    objects: list[dict[str, Any]] = []
    for path in files:
        source = "stdin" if path == "-" else path
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read {source}: {error}") from None
        for document in _parse(text, source):
            objects.extend(_expand(document, source))
    return objects


def _namespace(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
    return namespace if isinstance(namespace, str) and namespace else ""


def _name(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else ""


def _select(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """(rollout, ingresses by name, services by name or None) in the Rollout's namespace."""
    rollouts = [o for o in objects if o.get("kind") == "Rollout"]
    if len(rollouts) != 1:
        found = ", ".join(repr(_name(r)) for r in rollouts) or "none"
        raise InputError(f"plan needs exactly one Rollout in its input, found {len(rollouts)} ({found})")
    rollout = rollouts[0]
    namespace = _namespace(rollout) or "default"

    def mine(obj: dict[str, Any]) -> bool:
        return _namespace(obj) in ("", namespace)  # objects without a namespace go with the Rollout

    ingresses = {_name(o): o for o in objects if o.get("kind") == "Ingress" and mine(o)}
    services = {_name(o): o for o in objects if o.get("kind") == "Service" and mine(o)}
    for ingress in ingresses.values():
        if isinstance(ingress.get("metadata"), dict):
            ingress["metadata"].setdefault("namespace", namespace)
    return rollout, ingresses, services or None


def run(args: argparse.Namespace) -> int:
    try:
        rollout, ingresses, services = _select(load_documents(args.files))
    except InputError as error:
        print(f"alb-rollouts plan: {error}", file=sys.stderr)
        return 2
    leave = serving.unserved(rollout)
    if leave is not None:  # as the controller does: left to the Argo Rollouts controller, not refused
        print(f"alb-rollouts plan: {leave.message()}", file=sys.stderr)
        return 3
    classes = tuple(args.classes) if args.classes else ingress_patch.DEFAULT_CLASSES
    try:
        result = preview.preview(
            rollout, ingresses, services, weight=args.weight, classes=classes, now=datetime.now(UTC)
        )
    except models.InvalidSpec as error:
        print(f"InvalidSpec: {error.message}", file=sys.stderr)
        return 1
    except (preview.NotAlb, ingress_patch.Refusal, rules.IngressError, actions.StickinessError) as error:
        print(f"alb-rollouts plan: {error}", file=sys.stderr)
        return 1
    try:
        print(json.dumps(result.as_json(), indent=2, ensure_ascii=False))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) left early; silence the interpreter's own flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
