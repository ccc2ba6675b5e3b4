"""A small byte-level BPE tokenizer shaped like Qwen's (``Qwen2Tokenizer``), built locally.

It uses Qwen2's own pre-tokenizer (the Split regex + ByteLevel that ``Qwen2Tokenizer`` sets up),
so any text encodes; its merges are learned here from a few sentences, so the QwenImage system
prompt and common prompt words are whole tokens. The QwenImage prefix that the pipeline drops
(``prompt_template_encode_start_idx = 34``) is exactly 34 tokens, as with the real tokenizer.
The special tokens are Qwen's names (``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>`` as
pad, the vision tokens, ``<think>``/``</think>``) with small ids, and the chat template renders
a user turn the way Qwen3's does, including the empty think block for
``enable_thinking=False`` (Flux2 Klein) and none for ``enable_thinking=True`` (Z-Image).
"""

from __future__ import annotations

import json

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer

VOCAB_SIZE = 1024  # the text encoders' embedding size; the tokenizer has fewer tokens

QWEN_IMAGE_TEMPLATE = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, "
    "quantity, text, spatial relationships of the objects and background:<|im_end|>\n"
    "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"
)

SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
THINK = ["<think>", "</think>"]

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}"
)

CORPUS = [
    QWEN_IMAGE_TEMPLATE.format(""),
    "system user assistant",
    "a photo of a cat sitting on a red boat at sea, dance monkey, bad quality",
    "a dog is dancing in the city street at night with bright lights",
    "an astronaut riding a horse on the moon, oil painting, watercolor, pixel art",
    "blurry, low quality, ugly, deformed, watermark",
    "landscape portrait mountain river forest flower tree sky cloud sun",
]

# The same pre-tokenizer as Qwen2Tokenizer builds, so learned merges fit it.
_PRETOKENIZE = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    texts = [text.replace("<|im_start|>", "").replace("<|im_end|>", "") for text in CORPUS]
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(SPECIAL) - len(THINK),
        special_tokens=SPECIAL[:1],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [
        tuple(pair) if isinstance(pair, list) else tuple(pair.split(" "))
        for pair in model["merges"]
    ]
    return model["vocab"], merges


def qwen_tokenizer(model_max_length: int = 32768) -> Qwen2Tokenizer:
    """The tokenizer; its ids stay below ``VOCAB_SIZE``."""
    vocab, merges = _vocab_and_merges()
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=SPECIAL[1:],
        model_max_length=model_max_length,
        chat_template=CHAT_TEMPLATE,
    )
    tokenizer.add_tokens(THINK)
    assert len(tokenizer) <= VOCAB_SIZE
    return tokenizer


def special_id(tokenizer: Qwen2Tokenizer, token: str) -> int:
    return tokenizer.convert_tokens_to_ids(token)
