"""A local T5 tokenizer and a tiny T5 encoder, for the pipelines that take T5 text embeddings.

The tokenizer is T5's own class (a Unigram model over SentencePiece-style pieces): every
printable ASCII character, alone and with the ``▁`` word-start marker, so any English prompt
tokenizes without unknown tokens. Ids 0, 1, 2 are ``<pad>``, ``</s>``, ``<unk>`` as in T5, and
``</s>`` is appended to every sequence. It saves as ``tokenizer.json`` and reloads with
``T5TokenizerFast.from_pretrained``.
"""

from __future__ import annotations

import string

from transformers import T5Config, T5EncoderModel, T5TokenizerFast

PAD, EOS, UNK = 0, 1, 2
_CHARACTERS = string.ascii_letters + string.digits + string.punctuation


def t5_tokenizer(model_max_length: int = 512) -> T5TokenizerFast:
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [("▁" + character, -3.0) for character in _CHARACTERS]
    pieces += [(character, -4.0) for character in _CHARACTERS]
    return T5TokenizerFast(vocab=pieces, extra_ids=0, model_max_length=model_max_length)


T5_VOCAB_SIZE = 4 + 2 * len(_CHARACTERS)


def t5_encoder(d_model: int = 32) -> T5EncoderModel:
    """Shaped like ``hf-internal-testing/tiny-random-t5`` (d_model 32, 4 heads of 8, d_ff 37),
    with two layers and the local vocabulary. ``eval()`` so that dropout stays off."""
    config = T5Config(
        vocab_size=T5_VOCAB_SIZE,
        d_model=d_model,
        d_kv=8,
        d_ff=37,
        num_heads=4,
        num_layers=2,
        relative_attention_num_buckets=8,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=PAD,
    )
    return T5EncoderModel(config).eval()
