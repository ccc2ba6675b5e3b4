from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from bot.images import encode_png
from bot.packing import TooLarge, Upload, fit_image, grid, pack, read_parameters

PARAMETERS = "a lighthouse at dusk, 灯台\nNegative prompt: blur\nSteps: 4, Seed: 7, Size: 512x512"


def noise_png(side: int) -> bytes:
    """Noise barely compresses, so a PNG of it is large."""
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    return encode_png(image, PARAMETERS)


def flat_png(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    return encode_png(Image.new("RGB", (width, height), colour), PARAMETERS)


@pytest.fixture(scope="module")
def large() -> bytes:
    return noise_png(1024)


@pytest.fixture(scope="module")
def medium() -> bytes:
    return noise_png(512)


def test_an_image_that_fits_stays_the_same_png(medium: bytes):
    assert fit_image(medium, len(medium), stem="job-1-0") == ("job-1-0.png", medium)


def test_a_large_png_becomes_webp_within_the_limit_with_its_parameters(large: bytes):
    limit = len(large) // 2
    name, data = fit_image(large, limit, stem="job-1-0")
    assert name == "job-1-0.webp"
    assert len(data) <= limit
    assert Image.open(io.BytesIO(data)).format == "WEBP"
    assert read_parameters(data) == PARAMETERS


def test_jpeg_follows_when_webp_does_not_fit(medium: bytes):
    limit = len(medium) // 6
    name, data = fit_image(medium, limit, stem="x")
    with Image.open(io.BytesIO(data)) as image:
        assert (name, image.format, image.size) == ("x.jpg", "JPEG", (512, 512))
    assert len(data) <= limit
    assert read_parameters(data) == PARAMETERS


def test_scaling_down_is_the_last_resort_and_keeps_the_aspect():
    png = encode_png(Image.frombytes("RGB", (512, 256), os.urandom(512 * 256 * 3)), PARAMETERS)
    limit = 20_000
    name, data = fit_image(png, limit, stem="x")
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    assert name == "x.jpg" and len(data) <= limit
    assert width < 512 and abs(width / height - 2) < 0.05
    assert read_parameters(data) == PARAMETERS


def test_the_parameters_are_stored_as_automatic1111_writes_them(medium: bytes):
    _, data = fit_image(medium, len(medium) // 2, stem="x")
    with Image.open(io.BytesIO(data)) as image:
        comment = image.getexif().get_ifd(0x8769)[0x9286]
    assert comment == b"UNICODE\x00" + PARAMETERS.encode("utf-16-be")


def test_read_parameters_reads_the_png_text_chunk():
    assert read_parameters(flat_png(64, 64)) == PARAMETERS


def test_an_impossible_limit_raises_too_large_with_a_readable_message():
    png = flat_png(256, 256)
    with pytest.raises(TooLarge) as raised:
        fit_image(png, 10, stem="job-3-1")
    assert raised.value.limit == 10
    assert raised.value.user_message.startswith("An image is too large to upload here")
    assert "10 bytes" in raised.value.user_message


@pytest.mark.parametrize(
    ("count", "size"), [(1, (64, 48)), (2, (160, 48)), (3, (160, 96)), (4, (160, 96))]
)
def test_grid_tiles_images_in_cells_of_the_largest_size(count: int, size: tuple[int, int]):
    shapes = [(64, 48), (80, 40), (64, 48), (32, 32)][:count]
    with Image.open(io.BytesIO(grid([flat_png(*shape) for shape in shapes]))) as tiled:
        assert (tiled.format, tiled.size) == ("PNG", size)


def test_grid_centres_a_smaller_image_in_its_cell():
    pngs = [flat_png(80, 60, (0, 0, 255)), flat_png(40, 20, (255, 0, 0))]
    with Image.open(io.BytesIO(grid(pngs))) as tiled:
        image = tiled.convert("RGB")
    assert image.getpixel((120, 30)) == (255, 0, 0)
    assert image.getpixel((120, 5)) == (0, 0, 0)
    assert image.getpixel((85, 30)) == (0, 0, 0)


def test_pack_puts_at_most_ten_files_in_a_message():
    small = flat_png(64, 64)
    messages = pack([(f"job-1-{i}", small, i == 3) for i in range(12)], limit=10 * 2**20)
    assert [len(message) for message in messages] == [10, 2]
    uploads = [upload for message in messages for upload in message]
    assert [upload.index for upload in uploads] == list(range(12))
    assert uploads[3] == Upload("job-1-3.png", small, spoiler=True, index=3)
    assert not any(upload.spoiler for upload in uploads if upload.index != 3)


def test_pack_starts_a_new_message_when_the_total_would_pass_the_limit():
    sizes = [flat_png(64, 64), flat_png(128, 128), flat_png(96, 96), flat_png(64, 64)]
    lengths = [len(png) for png in sizes]
    limit = lengths[0] + lengths[1]
    messages = pack([(str(i), png, False) for i, png in enumerate(sizes)], limit=limit)
    assert [[upload.index for upload in message] for message in messages] == [[0, 1], [2, 3]]
    assert all(sum(len(u.data) for u in message) <= limit for message in messages)


def test_pack_fits_each_image_before_packing(medium: bytes):
    limit = len(medium) // 2
    messages = pack([("a", medium, False), ("b", medium, False)], limit=limit)
    assert [[upload.filename for upload in message] for message in messages] == [
        ["a.webp"],
        ["b.webp"],
    ]
