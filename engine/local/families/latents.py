"""How each family's latents look in the step callback, and the published linear maps from
latent channels to RGB used for cheap previews (ComfyUI's ``latent_formats``; each applies to
latents in the denoiser's own, scaled space)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

SD = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
SDXL = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_BIAS = (0.1084, -0.0175, -0.0011)
SD3 = (
    (-0.0922, -0.0175, 0.0749),
    (0.0311, 0.0633, 0.0954),
    (0.1994, 0.0927, 0.0458),
    (0.0856, 0.0339, 0.0902),
    (0.0587, 0.0272, -0.0496),
    (-0.0006, 0.1104, 0.0309),
    (0.0978, 0.0306, 0.0427),
    (-0.0042, 0.1038, 0.1358),
    (-0.0194, 0.0020, 0.0669),
    (-0.0488, 0.0130, -0.0268),
    (0.0922, 0.0988, 0.0951),
    (-0.0278, 0.0524, -0.0542),
    (0.0332, 0.0456, 0.0895),
    (-0.0069, -0.0030, -0.0810),
    (-0.0596, -0.0465, -0.0293),
    (-0.1448, -0.1463, -0.1189),
)
SD3_BIAS = (0.2394, 0.2135, 0.1925)
# The FLUX.1 autoencoder, shared by Chroma and Z-Image.
FLUX = (
    (-0.0346, 0.0244, 0.0681),
    (0.0034, 0.0210, 0.0687),
    (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329),
    (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915),
    (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421),
    (-0.0515, 0.0201, 0.0011),
    (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749),
    (-0.1264, -0.0522, -0.1103),
    (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_BIAS = (-0.0329, -0.0718, -0.0851)
# The Wan 2.1 autoencoder, which Qwen-Image uses.
WAN = (
    (-0.1299, -0.1692, 0.2932),
    (0.0671, 0.0406, 0.0442),
    (0.3568, 0.2548, 0.1747),
    (0.0372, 0.2344, 0.1420),
    (0.0313, 0.0189, -0.0328),
    (0.0296, -0.0956, -0.0665),
    (-0.3477, -0.4059, -0.2925),
    (0.0166, 0.1902, 0.1975),
    (-0.0412, 0.0267, -0.1364),
    (-0.1293, 0.0740, 0.1636),
    (0.0680, 0.3019, 0.1128),
    (0.0032, 0.0581, 0.0639),
    (-0.1251, 0.0927, 0.1699),
    (0.0060, -0.0633, 0.0005),
    (0.3477, 0.2275, 0.2950),
    (0.1984, 0.0913, 0.1861),
)
WAN_BIAS = (-0.1835, -0.0868, -0.3360)


def flux_packed(pipe: Any, latents: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """FLUX.1 and Chroma pack 2x2 patches into the sequence."""
    unpacked: torch.Tensor = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    return unpacked


def qwen_packed(pipe: Any, latents: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Qwen-Image packs like FLUX.1 and adds a frame axis (its autoencoder is a video one)."""
    unpacked: torch.Tensor = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    return unpacked[:, :, 0]


def flux2_packed(pipe: Any, latents: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """FLUX.2 packs 2x2 patches of its 32 channels into a sequence of 128-channel tokens,
    placed by position ids; the ids of the generated image are plain row-major in every FLUX.2
    pipeline (text-to-image, with references, inpaint; each has its own scatter helper, with
    its own signature), so a reshape gives (batch, 128, H/16, W/16)."""
    rows, columns = height // (pipe.vae_scale_factor * 2), width // (pipe.vae_scale_factor * 2)
    batch, _, channels = latents.shape
    return latents.reshape(batch, rows, columns, channels).permute(0, 3, 1, 2)


def flux2_decode(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """FLUX.2's unpacked latents to pixels as ``Flux2KleinPipeline.__call__`` does: undo the
    autoencoder's batch-norm statistics, unfold the 2x2 patches, decode."""
    vae = pipe.vae
    mean = vae.bn.running_mean.view(1, -1, 1, 1).to(latents.device, latents.dtype)
    std = (vae.bn.running_var.view(1, -1, 1, 1) + vae.config.batch_norm_eps).sqrt()
    latents = latents * std.to(latents.device, latents.dtype) + mean
    latents = pipe._unpatchify_latents(latents)
    pixels: torch.Tensor = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
    return pixels


def sprint_trigflow(pipe: Any, latents: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Sana-Sprint's steps run in TrigFlow units, its latents times the scheduler's
    ``sigma_data``: divided back into Sana's own latent space."""
    scaled: torch.Tensor = latents / pipe.scheduler.config.sigma_data
    return scaled


def sana_decode(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """Sana's (and Sana-Sprint's) latents to pixels through its deep-compression autoencoder,
    as its pipelines do."""
    vae = pipe.vae
    pixels: torch.Tensor = vae.decode(
        latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False
    )[0]
    return pixels
