"""People found in a picture by a transformers object detector (RT-DETR, DETR, ...), as the
boxes the pose estimator looks in. Run on the engine's GPU thread."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForObjectDetection

from engine.local.resident import ResidentModel

MIN_SCORE = 0.5
"""A detection scored below this is not a person."""
MAX_PEOPLE = 6
"""The most skeletons one map holds: the best-scored people."""
MIN_SIDE = 8
"""A box narrower or lower than this (pixels) is too small to hold a pose."""

Box = tuple[float, float, float, float]  # COCO's (left, top, width, height), in pixels


class PersonDetector(ResidentModel):
    """A COCO-trained detector kept in RAM and moved to the GPU only while it runs."""

    def __init__(
        self, source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
    ):
        processor = AutoImageProcessor.from_pretrained(source, cache_dir=cache_dir)
        model: Any = AutoModelForObjectDetection.from_pretrained(source, cache_dir=cache_dir)
        labels = {str(name).lower(): int(index) for index, name in model.config.id2label.items()}
        if "person" not in labels:
            raise ValueError("the detector has no 'person' class (a COCO-trained one has)")
        self._person = labels["person"]
        super().__init__(processor, model, device, dtype)

    @torch.no_grad()
    def people(self, image: Image.Image) -> list[Box]:
        """The boxes of the people in ``image``, best first, at most ``MAX_PEOPLE``."""
        inputs = self._processor(images=image, return_tensors="pt")
        outputs = self.run(pixel_values=self.pixels(inputs))
        outputs.logits = outputs.logits.float().cpu()
        outputs.pred_boxes = outputs.pred_boxes.float().cpu()
        [found] = self._processor.post_process_object_detection(
            outputs, threshold=MIN_SCORE, target_sizes=[(image.height, image.width)]
        )
        ranked = sorted(
            zip(
                found["scores"].tolist(),
                found["labels"].tolist(),
                found["boxes"].tolist(),
                strict=True,
            ),
            key=lambda entry: -entry[0],
        )
        boxes: list[Box] = []
        for _, label, corners in ranked:
            if label != self._person:
                continue
            left, top = max(0.0, corners[0]), max(0.0, corners[1])
            right = min(float(image.width), corners[2])
            bottom = min(float(image.height), corners[3])
            if right - left >= MIN_SIDE and bottom - top >= MIN_SIDE:
                boxes.append((left, top, right - left, bottom - top))
            if len(boxes) == MAX_PEOPLE:
                break
        return boxes
