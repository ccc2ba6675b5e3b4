"""A region of an image named in words ("the sky", "her hat") as a mask, with CLIPSeg (for
example CIDAS/clipseg-rd64-refined), run on the engine's GPU thread."""

from __future__ import annotations

import io
import warnings
from typing import Any

import torch
from PIL import Image
from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

from engine.errors import InvalidRequest
from engine.local.resident import ResidentModel

THRESHOLD = 0.4
"""The probability (after the sigmoid) at which a pixel belongs to the named region. CLIPSeg's
scores are soft and seldom near 1 away from the clearest objects; 0.4 keeps the body of what
the phrase names without most of its halo."""
MAX_PHRASE = 100
MAX_PIXELS = 4096 * 4096


def decode(data: bytes) -> Image.Image:
    """A member's image, refused before decoding when it is too large; RGB pixels only."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise InvalidRequest(
                        "image", None, f"it is {image.width}×{image.height} pixels, too large"
                    )
                image.load()
                return image.convert("RGB")
    except InvalidRequest:
        raise
    except Exception:
        raise InvalidRequest("image", None, "it is not an image, or it is damaged") from None


def check_phrase(phrase: str) -> str:
    """The phrase, trimmed; refused when empty or longer than ``MAX_PHRASE`` characters."""
    phrase = " ".join(phrase.split())
    if not phrase:
        raise InvalidRequest("region", None, "name the part to repaint, for example 'the sky'")
    if len(phrase) > MAX_PHRASE:
        raise InvalidRequest("region", None, f"name the part in {MAX_PHRASE} characters at most")
    return phrase


class Segmenter(ResidentModel):
    """CLIPSeg (about 150M parameters), kept in RAM and moved to the GPU only while it runs."""

    def __init__(
        self, source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
    ):
        processor = CLIPSegProcessor.from_pretrained(source, cache_dir=cache_dir)
        model: Any = CLIPSegForImageSegmentation.from_pretrained(source, cache_dir=cache_dir)
        super().__init__(processor, model, device, dtype)

    @torch.no_grad()
    def segment(self, image: Image.Image, phrase: str) -> Image.Image:
        """The pixels of ``image`` that ``phrase`` names: a mask of its size, mode L, 255 there
        and 0 elsewhere (possibly empty or full; the caller decides). The probabilities are
        resized to the image before the cut, so the edge follows them, not CLIPSeg's 352-pixel
        grid."""
        inputs = self._processor(
            text=[phrase], images=[image], padding=True, truncation=True, return_tensors="pt"
        )
        logits = self.run(
            input_ids=inputs["input_ids"].to(self._device),
            attention_mask=inputs["attention_mask"].to(self._device),
            pixel_values=self.pixels(inputs),
        ).logits
        scores = logits.reshape(-1, 1, *logits.shape[-2:])[:1].float()
        scores = torch.nn.functional.interpolate(
            scores, size=(image.height, image.width), mode="bilinear", align_corners=False
        )
        region = (scores.sigmoid()[0, 0] >= THRESHOLD).to(torch.uint8) * 255
        return Image.fromarray(region.cpu().numpy())  # 2-D uint8: mode L


def encode(mask: Image.Image) -> bytes:
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()
