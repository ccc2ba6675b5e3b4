"""/admin terms: blocked words and patterns."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.i18n import locale_of, t
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.common import answer


class TermsCommands(AdminBase):
    """/admin terms."""

    terms = app_commands.Group(name="terms", description="Blocked words and patterns")

    @terms.command(name="add", description="Block a word (whole word) or a regular expression")
    async def terms_add(
        self,
        interaction: discord.Interaction[Any],
        pattern: Range[str, 1, 200],
        regex: bool = False,
    ) -> None:
        await self.runtime.moderation.add_term(
            guild_of(interaction), pattern, regex=regex, actor_id=interaction.user.id
        )
        await audit(interaction, "term.add", reason=pattern, recorded=True)
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(locale, "Blocked `{pattern}` (regex).", pattern=pattern)
            if regex
            else t(locale, "Blocked `{pattern}`.", pattern=pattern),
        )

    @terms.command(name="remove", description="Unblock a term (its text or number)")
    async def terms_remove(self, interaction: discord.Interaction[Any], pattern: str) -> None:
        removed = await self.runtime.moderation.remove_term(
            guild_of(interaction), pattern, actor_id=interaction.user.id
        )
        if removed:
            await audit(interaction, "term.remove", reason=pattern, recorded=True)
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(locale, "Unblocked.")
            if removed
            else t(locale, "`{pattern}` is not blocked here.", pattern=pattern),
        )

    @terms.command(name="list", description="This server's blocked terms")
    async def terms_list(self, interaction: discord.Interaction[Any]) -> None:
        terms = await self.runtime.moderation.terms(guild_of(interaction))
        lines = [f"{t.term_id}. `{t.pattern}`{' (regex)' if t.regex else ''}" for t in terms]
        built_in = t(
            locale_of(interaction),
            "A built-in list of explicit words also applies outside age-restricted channels.",
        )
        await answer(interaction, "\n".join([*lines[:50], built_in]))
