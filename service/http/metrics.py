"""`/metrics`: the injected CollectorRegistry in the text format the reference's Go client writes.

Room: serve (HTTP). prometheus-client's own renderer differs from Go's where dashboards notice: it adds
`_total` to every counter and `_created` series, and writes `le="1.0"` where Go writes `le="1"`. This module
renders like client_golang's expfmt (text 0.0.4: families sorted by name, empty ones left out, Go float
formatting, histogram buckets then _sum then _count), so reference-named series keep their exact names.
It only reads the registry; it never registers metrics on the global one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from decimal import Decimal

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = ["CONTENT_TYPE", "go_float", "handler", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SUFFIXED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
_TYPES = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram", "unknown": "untyped"}
_LAST_LABELS = ("le", "quantile")


def go_float(value: float) -> str:
    """A float as Go's strconv.FormatFloat(v, 'g', -1, 64) writes it (1, 0.15, 1e+06, 1.5e-07, +Inf)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite by the checks above
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # where the decimal point sits relative to the digits
    power = point - 1
    if power < -4 or power >= 6:  # Go's rule for the shortest 'g' form
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_value(name: str, value: str) -> str:
    # prometheus-client writes bucket bounds as "1.0"; Go writes "1", and `le` is matched as a string.
    if name in _LAST_LABELS:
        try:
            return go_float(float(value))
        except ValueError:
            return value
    return value


def _line(sample: Sample) -> str:
    names = sorted(name for name in sample.labels if name not in _LAST_LABELS)
    names += [name for name in _LAST_LABELS if name in sample.labels]
    labels = ",".join(f'{name}="{_escape_value(_label_value(name, sample.labels[name]))}"' for name in names)
    text = f"{sample.name}{{{labels}}}" if labels else sample.name
    text += f" {go_float(sample.value)}"
    if sample.timestamp is not None:
        text += f" {int(float(sample.timestamp) * 1000)}"
    return text + "\n"


def _series_key(sample: Sample) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in sample.labels.items() if k not in _LAST_LABELS))


def _ordered(metric: Metric, samples: Sequence[Sample]) -> Iterator[Sample]:
    # Go sorts a family's series by label values and writes each series' buckets, then _sum, then _count.
    rank = {metric.name + "_bucket": 0, metric.name: 0, metric.name + "_sum": 1, metric.name + "_count": 2}
    yield from sorted(samples, key=lambda s: (_series_key(s), rank.get(s.name, 0)))


def _family(metric: Metric) -> tuple[str, str] | None:
    created = metric.name + "_created"
    samples = [s for s in metric.samples if not (metric.type in _SUFFIXED and s.name == created)]
    if not samples:
        return None  # Go's registry drops families without series
    name = metric.name
    if metric.type == "counter":
        name = samples[0].name  # "x_total" for prometheus-client counters, "x" for a PlainCounter
    elif metric.type == "info":
        name = metric.name + "_info"
    head = (f"# HELP {name} {_escape_help(metric.documentation)}\n"
            f"# TYPE {name} {_TYPES.get(metric.type, metric.type)}\n")
    return name, head + "".join(_line(s) for s in _ordered(metric, samples))


def render(registry: Collector) -> bytes:
    """The registry's families in Go's text exposition format."""
    families = [family for metric in registry.collect() if (family := _family(metric)) is not None]
    return "".join(text for _, text in sorted(families)).encode()


def handler(registry: CollectorRegistry) -> Handler:
    """aiohttp handler for GET /metrics; gzip when the scraper asks for it, as promhttp does."""

    async def metrics(request: web.Request) -> web.StreamResponse:
        response = web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})
        if "gzip" in request.headers.get("Accept-Encoding", "").lower():
            response.enable_compression(web.ContentCoding.gzip)  # gzip only, like promhttp
        return response

    return metrics
