"""The configured providers, built once at start-up, with their bot-side settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass

from bot import scheduler
from bot.breaker import Breaker, BreakerState, Change
from bot.errors import InvalidOption, SettingsError
from bot.i18n import Text, lazy_t
from bot.settings import ProviderSettings, Secrets, Settings
from engine import EngineError, InvalidRequest, Mode, Provider, ProviderConfigError
from engine.registry import ProviderConfig, build_provider
from engine.types import ModelInfo

log = logging.getLogger(__name__)

ABLE_SHOWN = 5  # models a refusal names, the rest counted
# What a mode does, in the words a refusal uses (engine.types.CANVAS_WORDS, translatable).
MODE_WORDS = {
    Mode.EDIT: lazy_t("edit an image by instruction"),
    Mode.INPAINT: lazy_t("repaint a region"),
    Mode.OUTPAINT: lazy_t("paint past an image's edges"),
}


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    name: str
    provider: Provider
    settings: ProviderSettings
    breaker: Breaker


class Providers:
    def __init__(self, entries: Mapping[str, ProviderEntry], default: str | None) -> None:
        self._entries = dict(entries)
        self.default = default

    @classmethod
    def build(cls, settings: Settings, secrets: Secrets) -> Providers:
        """Build every enabled provider; a bad option names ``providers.NAME.key``."""
        entries = {}
        for name, provider_settings in settings.providers.items():
            if not provider_settings.enabled:
                continue
            key = secrets.provider_keys.get(name)
            config = ProviderConfig(
                name,
                provider_settings.options,
                key.get_secret_value() if key else None,
                data_dir=settings.storage.data_dir,
            )
            try:
                provider = build_provider(provider_settings.kind, config)
            except ProviderConfigError as err:
                raise SettingsError(
                    f"Invalid setting: providers.{name}.{err.key} = {err.value!r} is not allowed: "
                    f"{err.allowed}."
                ) from None
            breaker = Breaker(settings.queue.breaker_failures, settings.queue.breaker_seconds)
            entries[name] = ProviderEntry(name, provider, provider_settings, breaker)
        default = settings.defaults.provider
        if default is not None and default not in entries:
            raise SettingsError(
                f"Invalid setting: defaults.provider = {default!r} is not allowed: it must name an "
                f"enabled provider ({', '.join(entries) or 'none are configured'})."
            )
        return cls(entries, default or next(iter(entries), None))

    def __iter__(self) -> Iterator[ProviderEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str | None) -> ProviderEntry:
        name = name or self.default
        if name is None:
            raise InvalidRequest(
                "provider", None, "none is configured: add a [providers.NAME] section to the config"
            )
        try:
            return self._entries[name]
        except KeyError:
            raise InvalidOption(
                "provider", name, lazy_t("one of {names}", names=", ".join(self._entries))
            ) from None

    def find(self, name: str) -> ProviderEntry | None:
        return self._entries.get(name)

    def able(
        self, mode: Mode, need: Callable[[ModelInfo], bool] | None = None
    ) -> list[tuple[str, str]]:
        """Every (provider, model) that runs ``mode``: the provider does the mode at all and the
        model takes it (and has what ``need`` asks of its info: references, a control map). A
        local model's info may read its files: ask on a refusal, or cache."""
        found = []
        for entry in self:
            provider = entry.provider
            if mode not in provider.capabilities.modes:
                continue
            for model in provider.capabilities.models or (provider.default_model,):
                try:
                    info = provider.model_info(model)
                except (OSError, EngineError):
                    continue  # a model it cannot read now is not offered
                if info.takes(mode) and (need is None or need(info)):
                    found.append((entry.name, model))
        return found

    def unable(
        self,
        model: str,
        mode: Mode,
        *,
        more: Text | None = None,
        words: str | Text | None = None,
        need: Callable[[ModelInfo], bool] | None = None,
    ) -> InvalidRequest:
        """The refusal of ``mode`` on ``model`` (or of what ``words`` say it can't, which
        ``need`` asks of a model), naming the models that can (and ``more``, a further way out,
        where there is one)."""
        what = words or MODE_WORDS.get(mode) or lazy_t("do {mode}", mode=mode.value)
        able = self.able(mode, need)
        several = len({provider for provider, _ in able}) > 1 or len(self) > 1
        names = [f"{m} ({p})" if several else m for p, m in able]
        shown: list[str | Text] = list(names[:ABLE_SHOWN])
        if len(names) > len(shown):
            shown.append(lazy_t("{count} more (see /models)", count=len(names) - len(shown)))
        after = more or ""
        if not names:
            way = lazy_t("it can't {what}; no model here can{more}", what=what, more=after)
        elif len(names) == 1:
            way = lazy_t(
                "it can't {what}; {name} can; pick it{more}", what=what, name=names[0], more=after
            )
        else:
            way = lazy_t(
                "it can't {what}; {names} and {last} can; pick one{more}",
                what=what,
                names=", ".join(str(name) for name in shown[:-1]),
                last=shown[-1],
                more=after,
            )
        return InvalidOption("model", model, way)

    def default_negative(
        self, provider: str | None, model: str | None, negative: str | None
    ) -> str:
        """A negative prompt nobody typed (the member's, the channel's or server's, the
        settings' default) as it applies to this model: none for a model that takes none. A
        typed one is left to the provider to refuse."""
        if not negative:
            return ""
        entry = self.get(provider)
        info = entry.provider.model_info(model or entry.provider.default_model)
        return negative if info.negative_prompt else ""

    def capacity(
        self,
        running_per_provider: Mapping[str, int],
        running_per_user: Mapping[int, int],
        max_running_per_user: int,
        paused: Collection[str] = (),
        slots: Mapping[str, int] | None = None,
    ) -> scheduler.Capacity:
        """Free slots per provider; a paused provider or an open breaker has none, so its jobs
        wait. A half-open breaker takes one job, once nothing else runs there. ``slots``
        replaces the configured concurrency (the scaled mode counts its live GPU workers)."""
        free_slots = {}
        max_batch = {}
        for entry in self:
            running = running_per_provider.get(entry.name, 0)
            concurrency = entry.settings.concurrency if slots is None else slots.get(entry.name, 0)
            free = concurrency - running
            batch = entry.provider.capabilities.max_batch
            if entry.name in paused or not entry.breaker.allow():
                free = 0
            elif entry.breaker.state is BreakerState.HALF_OPEN:
                free, batch = (1 if running == 0 else 0), 1
            free_slots[entry.name] = free
            max_batch[entry.name] = batch
        return scheduler.Capacity(
            free_slots=free_slots,
            running_per_user=running_per_user,
            max_running_per_user=max_running_per_user,
            max_batch=max_batch,
        )

    def begin(self, name: str) -> bool:
        """Jobs of this provider are about to start; False when its breaker opened meanwhile
        or another job took the trial (they must be put back)."""
        return self.get(name).breaker.begin()

    def record(self, name: str, success: bool, error: BaseException | None = None) -> None:
        """A job's outcome, for the provider's breaker; ``error`` None when it tells nothing."""
        entry = self.get(name)
        change = entry.breaker.record(success, error)
        if change is None:
            return
        entry.provider.unavailable = entry.breaker.reason
        if change is Change.OPENED:
            log.warning(
                "Provider %s is %s (%d failures in a row); its jobs wait",
                name,
                entry.breaker.reason,
                entry.breaker.failures,
            )
        elif change is Change.REOPENED:
            log.debug("Provider %s still fails: %s", name, entry.breaker.reason)
        else:
            log.info("Provider %s works again; its jobs run", name)

    def next_trial_at(self) -> float | None:
        """When the earliest open breaker lets a trial job through."""
        times = [
            entry.breaker.retry_at
            for entry in self
            if entry.breaker.state is BreakerState.OPEN and entry.breaker.retry_at is not None
        ]
        return min(times, default=None)

    async def start(self) -> None:
        for entry in self:
            log.info("Starting provider %s (%s)", entry.name, entry.settings.kind)
            await entry.provider.start()

    async def close(self) -> None:
        for entry in self:
            try:
                await entry.provider.close()
            except Exception:
                log.exception("Provider %s failed to close", entry.name)
