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
    RTDetrConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessorPil,
    RTDetrResNetConfig,
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


def build_detector(folder: Path, seed: int = 0, person_bias: float = 0.0) -> Path:
    """A tiny RT-DETR with COCO's labels; ``person_bias`` added to the person score of every
    query makes it find people (random weights find none above the threshold)."""
    torch.manual_seed(seed)
    backbone = RTDetrResNetConfig(
        num_channels=3,
        embedding_size=8,
        hidden_sizes=[8, 16, 24, 32],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        out_features=["stage2", "stage3", "stage4"],
        out_indices=[2, 3, 4],
    )
    labels = {0: "person", 1: "bicycle", 2: "car"}
    config = RTDetrConfig(
        backbone_config=backbone,
        d_model=16,
        encoder_hidden_dim=16,
        encoder_in_channels=[16, 24, 32],
        encoder_ffn_dim=32,
        encoder_attention_heads=2,
        encoder_layers=1,
        decoder_layers=1,
        decoder_ffn_dim=32,
        decoder_attention_heads=2,
        decoder_in_channels=[16, 16, 16],
        decoder_n_points=2,
        num_queries=10,
        num_denoising=0,
        anchor_image_size=None,
        id2label=labels,
        label2id={name: index for index, name in labels.items()},
    )
    model = RTDetrForObjectDetection(config)
    with torch.no_grad():
        for head in model.model.decoder.class_embed:
            head.bias[0] += person_bias
    model.save_pretrained(folder)
    RTDetrImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder
