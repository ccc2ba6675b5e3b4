"""Wiring of the scaled mode into a bot process: the transport it opens with the runtime, and
the relay that replaces the embedded worker."""

from __future__ import annotations

from bot.deliveries import ResultSink
from bot.errors import SettingsError
from bot.policy import Policies
from bot.providers import Providers
from bot.scale.dispatcher import Dispatcher, Leadership
from bot.scale.relay import ClusterRelay, owner
from bot.scale.transport import SaqTransport
from bot.service import QueueEvents
from bot.settings import LoadedSettings
from bot.store import JobStore


def open_transport(loaded: LoadedSettings) -> SaqTransport:
    if loaded.secrets.redis_url is None:
        raise SettingsError(
            "scale.enabled is true, so the bot needs Redis: set IMAGEBOT_REDIS_URL "
            "(redis://user:password@host:6379/0)."
        )
    scale = loaded.settings.scale
    return SaqTransport.from_url(
        loaded.secrets.redis_url.get_secret_value(),
        scale.queue_name,
        heartbeat_seconds=scale.heartbeat_seconds,
        result_ttl_seconds=scale.result_ttl_seconds,
        sweep=scale.sweep_seconds,
    )


def dispatcher_for(
    loaded: LoadedSettings,
    store: JobStore,
    providers: Providers,
    transport: SaqTransport,
    policies: Policies,
    *,
    origin: str,
) -> Dispatcher:
    """A scheduler candidate for this process (it leads while it holds the Postgres lock)."""
    settings = loaded.settings
    assert loaded.secrets.postgres_dsn is not None  # open_database refused to start without it
    return Dispatcher(
        store,
        providers,
        transport,
        policies,
        Leadership(loaded.secrets.postgres_dsn.get_secret_value()),
        queue=settings.queue,
        scale=settings.scale,
        results_dir=settings.storage.results_path,
        # an upscale's result may be 4 times the request limits each side
        result_pixels=16 * settings.limits.max_width * settings.limits.max_height,
        origin=origin,
    )


def cluster_relay(
    loaded: LoadedSettings,
    store: JobStore,
    providers: Providers,
    transport: SaqTransport,
    policies: Policies,
    events: QueueEvents,
    sink: ResultSink,
    *,
    origin: str,
    progress_interval: float,
) -> ClusterRelay:
    scale = loaded.settings.scale
    dispatcher = dispatcher_for(loaded, store, providers, transport, policies, origin=origin)
    relay = ClusterRelay(
        store,
        transport,
        sink,
        dispatcher,
        origin=origin,
        owns=owner(scale.shard_count, scale.shard_ids),
        interval=scale.dispatch_seconds,
        progress_interval=progress_interval,
    )
    events.submitted.append(relay.wake)
    events.cancelled.append(relay.cancel)
    return relay
