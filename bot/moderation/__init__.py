"""Moderator tools, one module per concern: bans, terms, tiers, reports, audit log, stats."""

from bot.moderation.audit import AuditEntry, AuditPage, AuditStore, forget_member_texts
from bot.moderation.bans import Ban, BanStore
from bot.moderation.facade import Moderation
from bot.moderation.reports import Report, ReportStatus, ReportStore
from bot.moderation.stats import DayUsage, ModelUsage, Stats, StatsStore
from bot.moderation.terms import MAX_PATTERN, SFW_TERMS, Term, TermStore
from bot.moderation.tiers import Tier, TierStore

__all__ = [
    "MAX_PATTERN",
    "SFW_TERMS",
    "AuditEntry",
    "AuditPage",
    "AuditStore",
    "Ban",
    "BanStore",
    "DayUsage",
    "ModelUsage",
    "Moderation",
    "Report",
    "ReportStatus",
    "ReportStore",
    "Stats",
    "StatsStore",
    "Term",
    "TermStore",
    "Tier",
    "TierStore",
    "forget_member_texts",
]
