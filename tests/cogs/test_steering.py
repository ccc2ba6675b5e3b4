"""``ref_job`` as members type it: items, kinds, weights, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogs.steering import HistoryReference, parse_history
from engine import InvalidRequest
from engine.types import ReferenceKind


def test_items_take_an_optional_kind_and_weight():
    assert parse_history(" #12:1, 15 : 3 : Subject : 0.8,7:2:style ") == (
        HistoryReference(12, 0),
        HistoryReference(15, 2, ReferenceKind.SUBJECT, 0.8),
        HistoryReference(7, 1, ReferenceKind.STYLE, 1.0),
    )
    assert parse_history(None) == parse_history("  ") == ()


@pytest.mark.parametrize("typed", ["12", "12:0", "12:1:pose", "12:1:2.5", "x:1", "12:1,", "-1:1"])
def test_what_is_not_an_item_is_refused(typed: str):
    with pytest.raises(InvalidRequest):
        parse_history(typed)


@given(st.text(max_size=60))
def test_any_text_parses_or_is_refused_by_name(typed: str):
    try:
        items = parse_history(typed)
    except InvalidRequest as err:
        assert err.field == "ref_job"
        return
    assert all(item.index >= 0 and 0 <= item.weight <= 2 for item in items)
