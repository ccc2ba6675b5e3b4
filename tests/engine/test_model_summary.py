"""A model's one-line summary (/models, `models list`) says what it follows."""

from engine.types import ControlKind, ModelInfo, ReferenceKind


def test_the_summary_names_the_references_and_controls_a_model_follows():
    info = ModelInfo(
        family="SDXL",
        references=frozenset(ReferenceKind),
        max_references=5,
        controls=frozenset({ControlKind.DEPTH, ControlKind.POSE}),
    )
    assert info.summary() == (
        "SDXL; takes negative prompt, guidance, img2img, references (style, subject), "
        "control (pose, depth)"
    )


def test_a_model_without_them_says_nothing_of_them():
    assert "reference" not in ModelInfo().summary() and "control" not in ModelInfo().summary()
