"""The stats chart as a PNG: its size, that it decodes, and that it shows the data given."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from bot import charts

DAYS = ["2025-03-08", "2025-03-09", "2025-03-10"]


def decoded(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def same(shown: list[float], expected: list[float | None]) -> bool:
    return len(shown) == len(expected) and all(
        math.isnan(s) if e is None else s == pytest.approx(e)
        for s, e in zip(shown, expected, strict=True)
    )


def test_the_chart_is_a_png_of_a_fixed_size_showing_the_series_it_was_given():
    chart = charts.usage_chart(
        DAYS,
        {"fake": [0, 4, 2], "remote": [0, 0, 1]},
        [None, 0.0, 1 / 3],
        [None, 10.0, 25.0],
        [None, 10.0, 30.0],
        title="The last 3 day(s)",
    )

    image = decoded(chart.png)
    assert image.format == "PNG"
    assert image.size == (charts.WIDTH * charts.DPI, charts.HEIGHT * charts.DPI)
    assert len(image.getcolors(maxcolors=1_000_000) or []) > 2  # drawn, not blank
    assert set(chart.series) == {"images fake", "images remote", "failure %", "median s", "p95 s"}
    assert same(chart.series["images fake"], [0, 4, 2])
    assert same(chart.series["images remote"], [0, 0, 1])
    assert same(chart.series["failure %"], [None, 0.0, 100 / 3])
    assert same(chart.series["median s"], [None, 10, 25])
    assert same(chart.series["p95 s"], [None, 10, 30])


def test_ninety_days_of_many_providers_keep_the_size_and_fold_the_rest_into_other():
    days = [f"2025-{1 + n // 28:02d}-{1 + n % 28:02d}" for n in range(90)]
    images = {f"provider-{n:02d}": [n] * 90 for n in range(12)}

    chart = charts.usage_chart(
        days, images, [0.5] * 90, [1.0] * 90, [2.0] * 90, title="The last 90 day(s)"
    )

    assert decoded(chart.png).size == (charts.WIDTH * charts.DPI, charts.HEIGHT * charts.DPI)
    bars = [name for name in chart.series if name.startswith("images ")]
    assert len(bars) == charts.MAX_PROVIDERS + 1
    assert bars[0] == "images provider-11"  # the most images first
    assert same(chart.series["images other"], [0 + 1 + 2 + 3] * 90)


def test_a_window_without_jobs_still_draws():
    chart = charts.usage_chart(DAYS, {}, [None] * 3, [None] * 3, [None] * 3, title="quiet")
    assert decoded(chart.png).size == (charts.WIDTH * charts.DPI, charts.HEIGHT * charts.DPI)
    assert not any(name.startswith("images ") for name in chart.series)
    assert same(chart.series["failure %"], [None] * 3)


def test_a_series_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="images of fake has 2 values for 3 days"):
        charts.usage_chart(DAYS, {"fake": [1, 2]}, [None] * 3, [None] * 3, [None] * 3, title="")
