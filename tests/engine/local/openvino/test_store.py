"""Converted models on disk: the key follows the model's files and the converter, and a
finished conversion replaces the model's older ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.local.openvino.store import DONE, Store, conversion_key, sources
from engine.local.options import ModelSpec


def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "X"}))
    (folder / "unet" / "weights.safetensors").write_bytes(b"w" * 100)
    return folder


def test_the_key_changes_with_a_file_its_size_or_time_and_the_weight_setting(tmp_path):
    folder = model_folder(tmp_path)
    key = conversion_key([folder], "int8")
    assert conversion_key([folder], "int8") == key
    assert conversion_key([folder], "fp32") != key

    weights = folder / "unet" / "weights.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    touched = conversion_key([folder], "int8")
    assert touched != key

    (folder / "unet" / "extra.json").write_text("{}")
    assert conversion_key([folder], "int8") != touched


def test_the_sources_are_the_folder_and_its_tiny_decoder_and_a_missing_repo_is_said(tmp_path):
    folder = model_folder(tmp_path)
    taesd = tmp_path / "taesd.safetensors"
    taesd.write_bytes(b"t")
    spec = ModelSpec(source=str(folder), tiny_decoder=str(taesd))
    assert sources(spec, None) == [folder, taesd]

    missing = ModelSpec(source="someone/not-downloaded")
    try:
        sources(missing, str(tmp_path / "hub"))
    except FileNotFoundError as err:
        assert "run `models pull`" in str(err)
    else:
        raise AssertionError("a repo that is not cached has no files to key")


def test_a_finished_conversion_replaces_older_ones_and_an_unfinished_one_is_not_read(tmp_path):
    store = Store(tmp_path / "openvino")
    old = store.finish("sd-turbo", "old", store.begin("sd-turbo", "old"), {})
    partial = store.begin("sd-turbo", "new")
    (partial / "unet.xml").write_text("<net/>")
    assert store.complete("sd-turbo", "new") is None

    place = store.finish("sd-turbo", "new", partial, {"seconds": 1})

    assert store.complete("sd-turbo", "new") == place
    assert json.loads((place / DONE).read_text()) == {"seconds": 1}
    assert not old.exists()
    assert [p.name for p in (tmp_path / "openvino" / "sd-turbo").iterdir()] == ["new"]
