"""Properties of the stateless custom ids behind the persistent buttons.

discord.py dispatches a component to a DynamicItem when
``item.__discord_ui_compiled_template__.fullmatch(custom_id)`` matches (``ui/view.py``), so
these tests match the same compiled pattern the same way.
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cogs.admin.reports import ReportButton
from cogs.member.history import HistoryButton
from cogs.results.buttons.base import ACTIONS, HANDLERS, JobButton

MAX_CUSTOM_ID = 100
LARGEST_ID = 2**64 - 1
ROWIDS = st.integers(0, 2**63 - 1)
JOB_ACTIONS = ACTIONS
REPORT_ACTIONS = ("delete", "ban", "dismiss")

# Parts that look like ids: huge, negative, signed, unicode digits ('٣', fullwidth '３'),
# scientific notation, padded with spaces.
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.text(alphabet="0123456789٣３", max_size=25),
    st.sampled_from(["1e3", "+1", " 1", "1 ", "0x1f", "-0", "１", "1_000"]),
)
WORDS = st.sampled_from(
    ["img", "hist", "report", "IMG", "c", "u", "x", "", *JOB_ACTIONS, *REPORT_ACTIONS]
)
NEAR_MISSES = st.builds(
    lambda parts, separator, tail: separator.join(parts) + tail,
    st.lists(st.one_of(WORDS, NUMBERS), min_size=1, max_size=6),
    st.sampled_from([":", "::", ": ", "："]),
    st.sampled_from(["", "\n", ":", " ", "\x00", "\r\n"]),
)
CUSTOM_IDS = st.one_of(st.text(), NEAR_MISSES)


def fullmatch(item: type, custom_id: str) -> re.Match[str] | None:
    pattern: re.Pattern[str] = item.__discord_ui_compiled_template__  # type: ignore[attr-defined]
    return pattern.fullmatch(custom_id)


def _in_range(text: str) -> bool:
    return 0 <= int(text) <= LARGEST_ID


@given(CUSTOM_IDS)
@example("img:c:99999999999999999999:0")
@example("img:c:1:0\n")
@example("img:c:٣:0")
@example("img:c:1:0:0")
@settings(max_examples=500, deadline=None)
def test_a_job_button_id_is_refused_or_parses_to_an_action_and_ids_in_range(custom_id: str):
    match = fullmatch(JobButton, custom_id)
    if match is None:
        return
    assert match["action"] in JOB_ACTIONS
    assert _in_range(match["job"])
    assert 0 <= int(match["index"]) <= 9


@given(CUSTOM_IDS)
@example("hist:18446744073709551616:0")
@example("hist:-1:0")
@example("hist:1:0\n")
@settings(max_examples=500, deadline=None)
def test_a_history_button_id_is_refused_or_parses_to_ids_in_range(custom_id: str):
    match = fullmatch(HistoryButton, custom_id)
    if match is None:
        return
    assert _in_range(match["user"])
    assert _in_range(match["page"])


@given(CUSTOM_IDS)
@example("report:ban:99999999999999999999")
@example("report:banish:1")
@example("report:ban:1\n")
@settings(max_examples=500, deadline=None)
def test_a_report_button_id_is_refused_or_parses_to_an_action_and_an_id_in_range(custom_id: str):
    match = fullmatch(ReportButton, custom_id)
    if match is None:
        return
    assert match["action"] in REPORT_ACTIONS
    assert _in_range(match["report"])


@given(st.sampled_from(JOB_ACTIONS), ROWIDS, st.integers(0, 9))
@settings(max_examples=200, deadline=None)
def test_every_job_button_the_bot_builds_fits_and_matches_its_template(
    action: str, job_id: int, index: int
):
    custom_id = JobButton(action, job_id, index).custom_id
    assert len(custom_id) <= MAX_CUSTOM_ID
    match = fullmatch(JobButton, custom_id)
    assert match is not None
    assert (match["action"], int(match["job"]), int(match["index"])) == (action, job_id, index)


@given(ROWIDS, st.integers(0, 999_999))
@settings(max_examples=200, deadline=None)
def test_every_history_button_the_bot_builds_fits_and_matches_its_template(user: int, page: int):
    custom_id = HistoryButton(user, page).custom_id
    assert len(custom_id) <= MAX_CUSTOM_ID
    match = fullmatch(HistoryButton, custom_id)
    assert match is not None
    assert (int(match["user"]), int(match["page"])) == (user, page)


@given(st.sampled_from(REPORT_ACTIONS), ROWIDS)
@settings(max_examples=200, deadline=None)
def test_every_report_button_the_bot_builds_fits_and_matches_its_template(
    action: str, report_id: int
):
    custom_id = ReportButton(action, report_id).custom_id
    assert len(custom_id) <= MAX_CUSTOM_ID
    match = fullmatch(ReportButton, custom_id)
    assert match is not None
    assert (match["action"], int(match["report"])) == (action, report_id)


def test_every_action_a_job_button_id_names_has_a_handler():
    """Each family of result buttons registers its own actions: none missing, none extra."""
    assert sorted(HANDLERS) == sorted(JOB_ACTIONS)
    assert all(fullmatch(JobButton, f"img:{action}:1:0") for action in HANDLERS)
