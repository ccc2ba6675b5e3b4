"""The owner's control settings: ControlNets checked when read, and listed, pulled and
checked with the models, with the models that make the maps they follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engine.local.control.options import DEFAULT_DEPTH, DEFAULT_POSE, ControlNetSpec
from engine.local.models import check_model, configured
from engine.local.options import parse_local_options
from engine.registry import ProviderConfigError
from engine.types import ControlKind


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"family": "sd"}, "give kinds"),
        ({"family": "sd", "kinds": ["canny"], "modes": {"depth": 1}}, "one of them"),
        ({"family": "sd", "modes": {"depth": 1}}, "no union ControlNet"),
        ({"family": "flux1-kontext", "kinds": ["canny"]}, "follow no ControlNet"),
        ({"family": "nope", "kinds": ["canny"]}, "unknown family"),
        ({"family": "sd", "kinds": ["sketch"]}, "kinds"),
        ({"family": "sdxl", "modes": {"depth": 99}}, "31"),
        ({"family": "sdxl", "kinds": ["canny"], "transformer": True}, "no control transformer"),
        ({"family": "flux1", "modes": {"canny": 0}, "transformer": True}, "kinds, not modes"),
    ],
)
def test_controlnet_settings_are_checked_when_read(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ControlNetSpec(source="some/repo", **settings)


def test_a_union_controlnet_follows_the_kinds_it_has_modes_for() -> None:
    spec = ControlNetSpec(source="a/b", family="sdxl", modes={"pose": 0, "depth": 1})
    assert spec.union and spec.follows() == {ControlKind.POSE, ControlKind.DEPTH}


def test_a_broken_controlnet_setting_stops_start_up_in_one_line() -> None:
    with pytest.raises(ProviderConfigError, match="controlnets"):
        parse_local_options({"controlnets": {"x": {"source": "a/b", "family": "sd"}}})


def test_controlnets_and_the_map_models_they_need_are_listed_with_the_models(
    tmp_path: Path,
) -> None:
    options = parse_local_options(
        {
            "controlnets": {
                "xl-depth": {
                    "source": str(tmp_path / "missing"),
                    "family": "sdxl",
                    "kinds": ["depth"],
                    "licence": "openrail",
                },
                "sd-canny": {
                    "source": "lllyasviel/sd-controlnet-canny",
                    "family": "sd",
                    "kinds": ["canny"],
                },
            }
        }
    )
    names = dict(configured(options))
    assert names["(controlnet sd-canny)"].source == "lllyasviel/sd-controlnet-canny"
    assert names["(depth model)"].source == DEFAULT_DEPTH
    assert "(pose model)" not in names  # no ControlNet here follows a pose
    state = check_model("(controlnet xl-depth)", names["(controlnet xl-depth)"], None, False)
    assert not state.usable and "is not a folder" in (state.problem or "")
    assert "(depth model)" not in dict(configured(parse_local_options({})))


def test_the_map_models_can_be_turned_off_or_replaced() -> None:
    pose = {"pose": {"source": "a/b", "family": "sdxl", "modes": {"pose": 0, "depth": 1}}}
    options = parse_local_options({"controlnets": pose, "depth_model": None})
    names = dict(configured(options))
    assert "(depth model)" not in names and names["(pose model)"].source == DEFAULT_POSE
    assert "(pose detector)" not in names  # none by default: the whole picture is one person
    detector = parse_local_options({"controlnets": pose, "pose_detector": "PekingU/rtdetr_r50vd"})
    assert dict(configured(detector))["(pose detector)"].source == "PekingU/rtdetr_r50vd"
