"""Pose skeletons through transformers' ViTPose, drawn as OpenPose's 18-point body so
OpenPose ControlNets follow them. Run on the engine's GPU thread.

ViTPose estimates the keypoints of a person inside a box: the boxes a person detector finds
(``detector.py``), where one is configured and finds someone; else the whole picture, which
gives one skeleton, that of its main figure (of several people, one pose or a mix)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from transformers import AutoImageProcessor, VitPoseForPoseEstimation

from engine.local.control.detector import Box
from engine.local.resident import ResidentModel

DEFAULT_POSE = "usyd-community/vitpose-base-simple"
"""ViTPose-B trained on COCO (17 keypoints), about 90M parameters, Apache-2.0."""
Points = list[tuple[float, float] | None]  # OpenPose's 18 body points, None where not seen
MIN_SCORE = 0.3
"""A keypoint scored below this is left out, with its limbs."""

# OpenPose's body order, each point as its COCO index; the neck (1) is the shoulders' midpoint
COCO_OF_OPENPOSE = (0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)  # fmt: skip
COLOURS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)  # fmt: skip


class PoseEstimator(ResidentModel):
    """ViTPose, kept in RAM and moved to the GPU only while it runs."""

    def __init__(
        self, source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
    ):
        processor = AutoImageProcessor.from_pretrained(source, cache_dir=cache_dir)
        model: Any = VitPoseForPoseEstimation.from_pretrained(source, cache_dir=cache_dir)
        if model.config.num_labels != 17:
            raise ValueError(f"a COCO body model has 17 keypoints, not {model.config.num_labels}")
        super().__init__(processor, model, device, dtype)

    @torch.no_grad()
    def people(self, image: Image.Image, boxes: list[Box] | None = None) -> list[Points]:
        """Each person's OpenPose body points in ``image``'s pixels (None where not seen), one
        a box, COCO (left, top, width, height); none: the whole picture."""
        whole = (0.0, 0.0, float(image.width), float(image.height))
        given = [list(box) for box in boxes or [whole]]
        inputs = self._processor(image, boxes=[given], return_tensors="pt")
        outputs = self.run(pixel_values=self.pixels(inputs))
        outputs.heatmaps = outputs.heatmaps.float().cpu()
        [found] = self._processor.post_process_pose_estimation(outputs, boxes=[given])
        return [
            openpose_points(person["keypoints"].float().numpy(), person["scores"].float().numpy())
            for person in found
        ]

    def pose(self, image: Image.Image, boxes: list[Box] | None = None) -> Image.Image:
        """The skeletons of the people in ``boxes`` (none: the picture's figure) on black, at
        ``image``'s size."""
        return draw(self.people(image, boxes), image.size)


def openpose_points(coco: np.ndarray, scores: np.ndarray) -> Points:
    """COCO's 17 keypoints (x, y) with their scores as OpenPose's 18, the neck added."""
    seen = [
        (float(x), float(y)) if score >= MIN_SCORE else None
        for (x, y), score in zip(coco, scores, strict=True)
    ]
    points: Points = []
    for index in COCO_OF_OPENPOSE:
        if index >= 0:
            points.append(seen[index])
            continue
        left, right = seen[5], seen[6]
        points.append(
            None
            if left is None or right is None
            else ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2)
        )
    return points


def draw(people: list[Points], size: tuple[int, int]) -> Image.Image:
    """OpenPose's body drawing: each limb a bar in its colour at 60 %, each point a dot."""
    canvas = Image.new("RGB", size)
    pen = ImageDraw.Draw(canvas)
    width = max(2, round(max(size) / 128))
    for points in people:
        _draw_one(pen, points, width)
    return canvas


def _draw_one(pen: ImageDraw.ImageDraw, points: Points, width: int) -> None:
    for index, (start, end) in enumerate(LIMBS):
        first, second = points[start], points[end]
        if first is None or second is None:
            continue
        colour = tuple(int(c * 0.6) for c in COLOURS[index])
        pen.line([first, second], fill=colour, width=2 * width)
    for index, point in enumerate(points):
        if point is None:
            continue
        x, y = point
        pen.ellipse([x - width, y - width, x + width, y + width], fill=COLOURS[index])
