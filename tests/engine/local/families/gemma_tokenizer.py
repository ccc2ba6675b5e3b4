"""A small SentencePiece-style BPE tokenizer like Gemma's (``GemmaTokenizer``), built locally.

The layout follows Gemma: ``<pad>``=0, ``<eos>``=1, ``<bos>``=2, ``<unk>``=3, ``<mask>``=4, the
256 byte-fallback tokens ``<0x00>``..``<0xFF>`` (so any text encodes), then word pieces with
``▁`` for a space, learned here from Sana's complex human instruction and a few prompts. Like
Gemma it prepends ``<bos>`` and pads on the left by default (Sana sets right padding itself).
"""

from __future__ import annotations

import json
import string

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import GemmaTokenizer

VOCAB_SIZE = 1024  # the text encoder's embedding size; the tokenizer has fewer tokens

SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
BYTES = [f"<0x{value:02X}>" for value in range(256)]

CORPUS = [
    "Given a user prompt, generate an 'Enhanced prompt' that provides detailed visual "
    "descriptions suitable for image generation. Evaluate the level of detail in the user "
    "prompt:",
    "- If the prompt is simple, focus on adding specifics about colors, shapes, sizes, textures, "
    "and spatial relationships to create vivid and concrete scenes.",
    "- If the prompt is already detailed, refine and enhance the existing details slightly "
    "without overcomplicating.",
    "Here are examples of how to transform or refine prompts:",
    "- User Prompt: A cat sleeping -> Enhanced: A small, fluffy white cat curled up in a round "
    "shape, sleeping peacefully on a warm sunny windowsill, surrounded by pots of blooming red "
    "flowers.",
    "- User Prompt: A busy city street -> Enhanced: A bustling city street scene at dusk, "
    "featuring glowing street lamps, a diverse crowd of people in colorful clothing, and a "
    "double-decker bus passing by towering glass skyscrapers.",
    "Please generate only the enhanced description for the prompt below and avoid including any "
    "additional commentary or evaluations:",
    "User Prompt: a photo of a cat sitting on a red boat at sea, dance monkey, bad quality",
    "an astronaut riding a horse on the moon, oil painting, watercolor, pixel art, blurry, ugly",
]


def _vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.Replace(" ", "▁")
    bpe.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE - len(SPECIAL) - len(BYTES),
        initial_alphabet=list(string.ascii_letters + string.digits + string.punctuation),
        show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab = {token: index for index, token in enumerate(SPECIAL + BYTES)}
    for token, _ in sorted(model["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(token, len(vocab))
    merges = [
        tuple(pair) if isinstance(pair, list) else tuple(pair.split(" "))
        for pair in model["merges"]
    ]
    return vocab, merges


def gemma_tokenizer(model_max_length: int = 8192) -> GemmaTokenizer:
    """The tokenizer; its ids stay below ``VOCAB_SIZE``."""
    vocab, merges = _vocab_and_merges()
    tokenizer = GemmaTokenizer(
        vocab=vocab,
        merges=merges,
        add_bos_token=True,
        add_eos_token=False,
        model_max_length=model_max_length,
    )
    assert len(tokenizer) <= VOCAB_SIZE
    return tokenizer
