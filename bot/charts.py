"""Charts drawn as PNG images with matplotlib's Agg renderer (no display, no pyplot state)."""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 8.0, 6.0, 100  # 800×600 pixels, however many days or providers
MAX_PROVIDERS = 8  # the others share one "other" bar
MAX_TICKS = 15

_lock = threading.Lock()  # matplotlib's font and text caches are not made for threads


@dataclass(frozen=True, slots=True)
class Chart:
    """A rendered chart and the series it shows, read back from the drawn bars and lines
    (NaN where a day has no value)."""

    png: bytes
    series: dict[str, list[float]]


def usage_chart(
    days: Sequence[str],
    images: Mapping[str, Sequence[int]],
    failure_rate: Sequence[float | None],
    median_seconds: Sequence[float | None],
    p95_seconds: Sequence[float | None],
    *,
    title: str,
) -> Chart:
    """Images per day stacked by provider; below it the failure rate, and the median and p95
    run time, per day. Every sequence has one value per day."""
    for name, values in (
        *((f"images of {provider}", counts) for provider, counts in images.items()),
        ("failure_rate", failure_rate),
        ("median_seconds", median_seconds),
        ("p95_seconds", p95_seconds),
    ):
        if len(values) != len(days):
            raise ValueError(f"{name} has {len(values)} values for {len(days)} days")
    with _lock:
        return _draw(days, images, failure_rate, median_seconds, p95_seconds, title)


def _draw(
    days: Sequence[str],
    images: Mapping[str, Sequence[int]],
    failure_rate: Sequence[float | None],
    median_seconds: Sequence[float | None],
    p95_seconds: Sequence[float | None],
    title: str,
) -> Chart:
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    figure.suptitle(title)
    top, rate, times = figure.subplots(3, 1, sharex=True, height_ratios=(2, 1, 1))
    x = list(range(len(days)))
    series: dict[str, list[float]] = {}

    bottom = [0.0] * len(days)
    for provider, counts in _top_providers(images):
        bars = top.bar(x, counts, bottom=bottom, label=provider)
        series[f"images {provider}"] = [float(patch.get_height()) for patch in bars.patches]
        bottom = [below + count for below, count in zip(bottom, counts, strict=True)]
    top.set_ylabel("images")
    if series:
        top.legend(loc="upper left", fontsize="small")

    (line,) = rate.plot(x, [_nan(r, 100) for r in failure_rate], marker="o", color="tab:red")
    series["failure %"] = [float(y) for y in line.get_ydata()]
    rate.set_ylabel("failed %")
    rate.set_ylim(0, 100)

    for name, values in (("median s", median_seconds), ("p95 s", p95_seconds)):
        (line,) = times.plot(x, [_nan(v) for v in values], marker=".", label=name)
        series[name] = [float(y) for y in line.get_ydata()]
    times.set_ylabel("seconds")
    times.set_ylim(bottom=0)
    times.legend(loc="upper left", fontsize="small")

    step = max(1, math.ceil(len(days) / MAX_TICKS))
    times.set_xticks(x[::step], [day[5:] for day in days[::step]])

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return Chart(buffer.getvalue(), series)


def _top_providers(images: Mapping[str, Sequence[int]]) -> list[tuple[str, list[int]]]:
    """The providers with the most images first; past MAX_PROVIDERS, the rest as "other"."""
    ranked = sorted(images.items(), key=lambda item: (-sum(item[1]), item[0]))
    shown = [(name, list(counts)) for name, counts in ranked[:MAX_PROVIDERS]]
    if rest := ranked[MAX_PROVIDERS:]:
        shown.append(("other", [sum(day) for day in zip(*(c for _, c in rest), strict=True)]))
    return shown


def _nan(value: float | None, scale: float = 1.0) -> float:
    return math.nan if value is None else value * scale
