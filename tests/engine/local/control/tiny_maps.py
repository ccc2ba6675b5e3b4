"""Tiny random-weight depth (Depth Anything) and pose (ViTPose) models, saved where the
engine's loaders read them."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTImageProcessorPil,
    VitPoseBackboneConfig,
    VitPoseConfig,
    VitPoseForPoseEstimation,
    VitPoseImageProcessorPil,
)


def build_depth(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    backbone = Dinov2Config(
        image_size=32,
        patch_size=8,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        out_features=["stage1", "stage2"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 16],
        fusion_hidden_size=8,
        head_hidden_size=8,
        patch_size=8,
        reassemble_factors=[1.0, 0.5],
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    DPTImageProcessorPil(
        size={"height": 32, "width": 32}, keep_aspect_ratio=True, ensure_multiple_of=8
    ).save_pretrained(folder)
    return folder


def build_pose(folder: Path, seed: int = 0, keypoints: int = 17) -> Path:
    torch.manual_seed(seed)
    backbone = VitPoseBackboneConfig(
        image_size=[64, 48],
        patch_size=[16, 16],
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        out_indices=[2],
    )
    VitPoseForPoseEstimation(
        VitPoseConfig(backbone_config=backbone, num_labels=keypoints)
    ).save_pretrained(folder)
    VitPoseImageProcessorPil(size={"height": 64, "width": 48}).save_pretrained(folder)
    return folder
