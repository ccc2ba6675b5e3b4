"""The locally built Qwen and Gemma tokenizers survive save_pretrained/from_pretrained and
give the pipelines what they expect."""

from __future__ import annotations

from pathlib import Path

from transformers import GemmaTokenizer, Qwen2Tokenizer

from tests.engine.local.families.gemma_tokenizer import gemma_tokenizer
from tests.engine.local.families.qwen_tokenizer import (
    QWEN_IMAGE_TEMPLATE,
    VOCAB_SIZE,
    qwen_tokenizer,
)


def test_qwen_tokenizer(tmp_path: Path) -> None:
    qwen_tokenizer().save_pretrained(tmp_path)
    tokenizer = Qwen2Tokenizer.from_pretrained(tmp_path)
    assert len(tokenizer) <= VOCAB_SIZE
    assert tokenizer.pad_token == "<|endoftext|>" and tokenizer.eos_token == "<|im_end|>"
    text = QWEN_IMAGE_TEMPLATE.format("a cat on a zebra! 猫")
    ids = tokenizer(text).input_ids
    assert tokenizer.decode(ids) == text
    # QwenImagePipeline drops the first 34 tokens: exactly the system prompt and user header.
    assert tokenizer.decode(ids[34:]).startswith("a cat on a zebra!")
    messages = [{"role": "user", "content": "a cat"}]
    assert tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
    ) == ("<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True, enable_thinking=True
    ) == ("<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n")
    padded = tokenizer(["a cat", "a"], padding="max_length", max_length=8).input_ids
    assert padded[1][-1] == tokenizer.pad_token_id


def test_gemma_tokenizer(tmp_path: Path) -> None:
    gemma_tokenizer().save_pretrained(tmp_path)
    tokenizer = GemmaTokenizer.from_pretrained(tmp_path)
    assert len(tokenizer) <= VOCAB_SIZE
    ids = tokenizer("A small, fluffy white cat ~ 猫").input_ids
    assert ids[0] == tokenizer.bos_token_id == 2
    assert tokenizer.unk_token_id not in ids  # byte fallback
    assert tokenizer.decode(ids, skip_special_tokens=True) == "A small, fluffy white cat ~ 猫"
    tokenizer.padding_side = "right"
    padded = tokenizer(["a cat", "a"], padding="max_length", max_length=8).input_ids
    assert padded[1][-1] == tokenizer.pad_token_id == 0
