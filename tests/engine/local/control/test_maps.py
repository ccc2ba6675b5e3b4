"""The control maps: Canny edges and line art made without a model, depth and pose through
tiny random models loaded by the real loaders."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine.errors import InvalidRequest
from engine.local.control import maps
from engine.local.control.depth import DepthEstimator
from engine.local.control.detector import MAX_PEOPLE, PersonDetector
from engine.local.control.maker import MapMaker
from engine.local.control.pose import COLOURS, PoseEstimator, draw, openpose_points
from engine.types import Control, ControlKind
from tests.engine.local.control.tiny_maps import build_depth, build_detector, build_pose

CPU = torch.device("cpu")


def square(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A dark square on a light ground: edges only at its border."""
    image = Image.new("RGB", size, (230, 230, 230))
    ImageDraw.Draw(image).rectangle([24, 16, 56, 48], fill=(20, 20, 20))
    return image


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_canny_marks_the_border_of_a_shape_and_nothing_else() -> None:
    edges = np.asarray(maps.canny(square(), (96, 64)))
    assert edges.shape == (64, 96, 3)
    assert set(np.unique(edges)) == {0, 255}
    plane = edges[..., 0]
    assert plane[:8].max() == 0 and plane[:, :16].max() == 0  # the flat ground
    assert plane[32, 36:44].max() == 0  # the flat inside
    assert plane[30:34, 20:30].max() == 255  # the left side
    assert plane[30:34, 52:62].max() == 255  # the right side


def test_canny_is_deterministic_and_resizes_to_the_generation_size() -> None:
    first = maps.canny(square((192, 128)), (96, 64))
    assert first.size == (96, 64)
    assert first.tobytes() == maps.canny(square((192, 128)), (96, 64)).tobytes()


def test_canny_higher_thresholds_keep_fewer_edges() -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    many = np.asarray(maps.canny(noisy, (64, 64), 20, 60)).astype(bool).sum()
    few = np.asarray(maps.canny(noisy, (64, 64), 400, 800)).astype(bool).sum()
    assert many > few


def test_canny_refuses_crossed_thresholds() -> None:
    with pytest.raises(ValueError):
        maps.canny(square(), (96, 64), 200, 100)


def test_lineart_turns_dark_lines_into_white_on_black() -> None:
    drawing = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(drawing).line([(8, 32), (56, 32)], fill="black", width=2)
    lines = np.asarray(maps.lineart(drawing, (64, 64)))[..., 0]
    assert lines[31:34, 16:48].max(axis=0).min() > 100  # the line
    assert lines[:16].max() == 0 and lines[48:].max() == 0  # the paper
    assert lines.tobytes() == np.asarray(maps.lineart(drawing, (64, 64)))[..., 0].tobytes()


def test_as_is_keeps_the_map_and_covers_the_size() -> None:
    ready = square((200, 100))
    result = maps.as_is(ready, (64, 64))
    assert result.size == (64, 64) and result.mode == "RGB"
    assert result.getpixel((32, 32)) == ready.resize((128, 64)).getpixel((64, 32))


def test_decode_refuses_what_is_not_an_image() -> None:
    with pytest.raises(InvalidRequest, match="not an image"):
        maps.decode(b"GIF89a nonsense")


@pytest.fixture(scope="module")
def depth_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_depth(tmp_path_factory.mktemp("depth"))


@pytest.fixture(scope="module")
def pose_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pose(tmp_path_factory.mktemp("pose"))


def test_depth_map_spans_black_to_white_at_the_image_size(depth_model: Path) -> None:
    estimator = DepthEstimator(str(depth_model), CPU, torch.float32, None)
    depth = estimator.depth(square())
    assert depth.size == (96, 64) and depth.mode == "RGB"
    plane = np.asarray(depth)[..., 0]
    assert plane.min() == 0 and plane.max() == 255
    assert depth.tobytes() == estimator.depth(square()).tobytes()


def test_pose_gives_openpose_points_inside_the_image(pose_model: Path) -> None:
    estimator = PoseEstimator(str(pose_model), CPU, torch.float32, None)
    [points] = estimator.people(square())
    assert len(points) == 18
    seen = [point for point in points if point is not None]
    assert all(np.isfinite(point).all() for point in seen)
    pose = estimator.pose(square())
    assert pose.size == (96, 64) and pose.mode == "RGB"


def test_pose_refuses_a_model_that_is_not_a_coco_body(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="17 keypoints"):
        PoseEstimator(str(build_pose(tmp_path, keypoints=5)), CPU, torch.float32, None)


def test_openpose_adds_the_neck_and_drops_unsure_points() -> None:
    coco = np.array([[10.0 * k, 5.0 * k] for k in range(17)])
    scores = np.full(17, 0.9)
    scores[9] = 0.1  # the left wrist
    points = openpose_points(coco, scores)
    assert points[0] == (0.0, 0.0)
    assert points[1] == (55.0, 27.5)  # between the shoulders (COCO 5 and 6)
    assert points[2] == (60.0, 30.0)  # right shoulder is COCO 6
    assert points[7] is None  # left wrist


def test_the_skeleton_is_drawn_in_openpose_colours() -> None:
    points: list[tuple[float, float] | None] = [None] * 18
    points[0] = (20.0, 20.0)
    picture = draw([points], (64, 64))
    assert picture.getpixel((20, 20)) == COLOURS[0]
    assert picture.getpixel((50, 50)) == (0, 0, 0)


def test_the_maker_loads_depth_when_first_asked_and_refuses_missing_models(
    depth_model: Path,
) -> None:
    loaded = []

    def load(what: str, source: str | None, loader: type) -> object:
        loaded.append(what)
        return loader(source, CPU, torch.float32, None)

    maker = MapMaker(str(depth_model), None, load)
    assert maker.kinds() == frozenset(ControlKind) - {ControlKind.POSE}
    image = png(square())
    canny = maker.make(Control(ControlKind.CANNY), image, (96, 64))
    assert loaded == [] and canny.size == (96, 64)
    maker.make(Control(ControlKind.DEPTH), image, (48, 32))
    maker.make(Control(ControlKind.DEPTH), image, (48, 32))
    assert loaded == ["depth model"]
    with pytest.raises(InvalidRequest, match="no model configured"):
        maker.make(Control(ControlKind.POSE), image, (96, 64))
    with pytest.raises(InvalidRequest, match="needs an image"):
        maker.make(Control(ControlKind.CANNY), None, (96, 64))


def test_the_detector_finds_people_inside_the_picture(tmp_path: Path) -> None:
    detector = PersonDetector(
        str(build_detector(tmp_path, person_bias=12.0)), CPU, torch.float32, None
    )
    boxes = detector.people(square((400, 300)))  # its boxes are a twentieth of the picture
    assert 0 < len(boxes) <= MAX_PEOPLE
    for left, top, width, height in boxes:
        assert left >= 0 and top >= 0 and left + width <= 400 and top + height <= 300
        assert width >= 8 and height >= 8


def test_a_detector_that_finds_no_one_leaves_the_whole_picture(
    tmp_path: Path, pose_model: Path
) -> None:
    detector = PersonDetector(str(build_detector(tmp_path)), CPU, torch.float32, None)
    assert detector.people(square()) == []

    def load(what: str, source: str | None, loader: type) -> object:
        return loader(source, CPU, torch.float32, None)

    maker = MapMaker(None, str(pose_model), load, str(tmp_path))
    whole = PoseEstimator(str(pose_model), CPU, torch.float32, None).pose(square())
    made = maker.make(Control(ControlKind.POSE), png(square()), (96, 64))
    assert made.tobytes() == whole.tobytes()


def test_one_skeleton_is_drawn_for_each_person_found(tmp_path: Path, pose_model: Path) -> None:
    estimator = PoseEstimator(str(pose_model), CPU, torch.float32, None)
    boxes = [(0.0, 0.0, 40.0, 64.0), (50.0, 0.0, 40.0, 64.0)]
    people = estimator.people(square(), boxes)
    assert len(people) == 2


def test_a_detector_without_people_is_refused(tmp_path: Path) -> None:
    folder = build_detector(tmp_path)
    config = folder / "config.json"
    config.write_text(config.read_text().replace('"person"', '"persona"'))
    with pytest.raises(ValueError, match="no 'person' class"):
        PersonDetector(str(folder), CPU, torch.float32, None)
