"""Moderation: every concern's store behind one object, for callers that use several."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.moderation.audit import AuditStore
from bot.moderation.bans import BanStore
from bot.moderation.reports import ReportStore
from bot.moderation.stats import StatsStore
from bot.moderation.terms import TermStore
from bot.moderation.tiers import TierStore
from bot.storage import SqlDatabase


class Moderation:
    """Moderator state in the database. One place for the callers that use several concerns
    (the service, the admin cog); each method is its concern's store's own."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # The stores read the time through this object, so a clock set here reaches them all.
        self._bans = BanStore(db, self._now)
        self._terms = TermStore(db, self._now)
        self._audit = AuditStore(db, self._now)
        self._tiers = TierStore(db, self._now)
        self._reports = ReportStore(db, self._now)
        self._stats = StatsStore(db, self._now)

        self.ban = self._bans.ban
        self.unban = self._bans.unban
        self.active_ban = self._bans.active_ban
        self.ensure_not_banned = self._bans.ensure_not_banned
        self.bans = self._bans.bans

        self.add_term = self._terms.add_term
        self.remove_term = self._terms.remove_term
        self.terms = self._terms.terms
        self.check_prompt = self._terms.check_prompt
        self.screen = self._terms.screen

        self.record = self._audit.record
        self.audit = self._audit.audit

        self.set_tier = self._tiers.set_tier
        self.remove_tier = self._tiers.remove_tier
        self.tiers = self._tiers.tiers

        self.report = self._reports.report
        self.open_reports = self._reports.open_reports
        self.resolve_report = self._reports.resolve_report
        self.set_report_message = self._reports.set_report_message

        self.stats = self._stats.stats
        self.recent_prompts = self._stats.recent_prompts
        self.delivered_messages = self._stats.delivered_messages

    def _now(self) -> float:
        return self._clock()
