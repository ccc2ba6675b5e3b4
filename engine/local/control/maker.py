"""One control map for a request, made on the engine's GPU thread: the depth and pose models
are loaded when first asked for and kept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PIL import Image

from engine.errors import InvalidRequest
from engine.local.control import maps
from engine.local.control.depth import DepthEstimator
from engine.local.control.detector import PersonDetector
from engine.local.control.pose import PoseEstimator
from engine.types import Control, ControlKind

Loader = Callable[[str, str | None, Callable[..., Any]], Any]
"""``LocalProvider._load_helper``: (what, source, load) → the loaded helper or None."""


class MapMaker:
    """Makes each kind of map; ``depth`` and ``pose`` are the owner's model sources (None: that
    kind is refused by name)."""

    def __init__(
        self, depth: str | None, pose: str | None, load: Loader, detector: str | None = None
    ) -> None:
        self._sources = {ControlKind.DEPTH: depth, ControlKind.POSE: pose}
        self._detector_source = detector
        self._load = load
        self._depth: DepthEstimator | None = None
        self._pose: PoseEstimator | None = None
        self._detector: PersonDetector | None = None

    def kinds(self) -> frozenset[ControlKind]:
        """The kinds this engine can make maps of."""
        return frozenset(
            kind for kind in ControlKind if self._sources.get(kind, "builtin") is not None
        )

    def make(self, control: Control, data: bytes | None, size: tuple[int, int]) -> Image.Image:
        """The map of ``control.kind`` from the member's image, at ``size`` (width, height)."""
        if data is None:
            raise InvalidRequest("control_image", None, "a control needs an image")
        if control.kind not in self.kinds():
            raise InvalidRequest(
                "control", control.kind.value, "this bot has no model configured to make that map"
            )
        image = maps.decode(data)
        if control.kind is ControlKind.CANNY:
            return maps.canny(image, size)
        if control.kind is ControlKind.LINEART:
            return maps.lineart(image, size)
        if control.kind is ControlKind.AS_IS:
            return maps.as_is(image, size)
        fitted = maps.fit(image, size)
        if control.kind is ControlKind.DEPTH:
            if self._depth is None:
                self._depth = self._load("depth model", self._sources[control.kind], DepthEstimator)
            assert self._depth is not None
            return self._depth.depth(fitted)
        if self._pose is None:
            self._pose = self._load("pose model", self._sources[control.kind], PoseEstimator)
        if self._detector is None and self._detector_source is not None:
            self._detector = self._load("pose detector", self._detector_source, PersonDetector)
        assert self._pose is not None
        boxes = self._detector.people(fitted) if self._detector is not None else None
        return self._pose.pose(fitted, boxes or None)  # no one found: the whole picture
