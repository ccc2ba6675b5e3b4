"""Typed settings: a TOML file, then IMAGEBOT__SECTION__KEY variables; secrets only from the
environment or a secrets file."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import SettingsError

ENV_PREFIX = "IMAGEBOT__"
CONFIG_ENV = "IMAGEBOT_CONFIG"
SECRETS_ENV = "IMAGEBOT_SECRETS_FILE"
TOKEN_ENV = "DISCORD_TOKEN"
REDIS_ENV = "IMAGEBOT_REDIS_URL"
POSTGRES_ENV = "IMAGEBOT_POSTGRES_DSN"
DEFAULT_CONFIG = Path("config.toml")

PositiveInt = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(ge=0)]
Strength = Annotated[float, Field(gt=0, le=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscordSettings(Section):
    application_id: int | None = None
    api_base: str = "https://discord.com/api/v10"
    gateway_url: str | None = None
    sync_commands: bool = True
    sync_guild_id: int | None = None
    owner_ids: tuple[int, ...] = ()
    result_layout: Literal["files", "grid"] = "files"
    # Results as cards (Discord's layout components: the images in a gallery, the prompt and
    # parameters as text, the buttons below) when on; as an embed beside the files when off.
    result_cards: bool = True
    progress_seconds: Annotated[float, Field(ge=1, le=60)] = 3.0
    attachment_origins: tuple[str, ...] = (
        "https://cdn.discordapp.com/",
        "https://media.discordapp.net/",
    )

    @field_validator("api_base", "gateway_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(https?|wss?)://[^\s/]+", value):
            raise ValueError("must be an absolute http(s):// or ws(s):// URL")
        return value.rstrip("/") if value else value


class StorageSettings(Section):
    data_dir: Path = Path("data")
    database: Path | None = None
    results_dir: Path | None = None
    keep_results_days: Annotated[float, Field(ge=0, le=36500)] = 30.0  # 0: keep them forever
    min_free_mb: Annotated[int, Field(ge=0)] = 512  # below it no new job starts; 0: no check

    @property
    def database_path(self) -> Path:
        return self.database or self.data_dir / "imagebot.sqlite3"

    @property
    def results_path(self) -> Path:
        return self.results_dir or self.data_dir / "results"


class QueueSettings(Section):
    max_queued_per_user: PositiveInt = 5
    max_running_per_user: PositiveInt = 1
    job_timeout_seconds: Annotated[float, Field(gt=0)] = 600.0
    max_attempts: PositiveInt = 3
    retry_backoff_seconds: Seconds = 5.0
    shutdown_grace_seconds: Seconds = 30.0
    poll_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    eta_sample: PositiveInt = 20
    breaker_failures: PositiveInt = 5
    breaker_seconds: Annotated[float, Field(gt=0, le=900)] = 60.0


class QuotaOverride(Section):
    daily_units: Annotated[int, Field(ge=0)] | None = None
    cooldown_seconds: Seconds | None = None
    max_queued: PositiveInt | None = None


class QuotaTier(QuotaOverride):
    name: str
    role_id: int
    priority: Annotated[float, Field(gt=0, le=100)] = 1.0


class QuotaSettings(Section):
    daily_units: Annotated[int, Field(ge=0)] = 50
    base_width: PositiveInt = 512
    base_height: PositiveInt = 512
    base_steps: PositiveInt = 30
    cooldown_seconds: Seconds = 0.0
    describe_cost: Annotated[int, Field(ge=0, le=1000)] = 0
    guilds: dict[int, QuotaOverride] = Field(default_factory=dict)
    tiers: tuple[QuotaTier, ...] = ()
    # A member's total across all servers and DMs; None: the largest allowance above.
    global_daily_units: Annotated[int, Field(ge=0)] | None = None


class LimitSettings(Section):
    max_prompt_length: Annotated[int, Field(ge=1, le=6000)] = 1500
    max_width: Annotated[int, Field(ge=64, le=8192)] = 2048
    max_height: Annotated[int, Field(ge=64, le=8192)] = 2048
    max_steps: Annotated[int, Field(ge=1, le=500)] = 100
    max_count: Annotated[int, Field(ge=1, le=10)] = 4
    max_input_image_bytes: PositiveInt = 10 * 1024 * 1024
    # An edit by instruction on a model with no edit mode runs as img2img at this strength
    # (and its result says so) when on; refused, naming the models that edit, when off.
    edit_falls_back_to_img2img: bool = False
    edit_fallback_strength: Annotated[float, Field(gt=0, le=1)] = 0.6
    # Saved styles (/style, /admin style): how many a member, and a server, may keep (0: none).
    max_styles_per_member: Annotated[int, Field(ge=0, le=1000)] = 25
    max_styles_per_server: Annotated[int, Field(ge=0, le=1000)] = 25


class DefaultSettings(Section):
    provider: str | None = None
    width: PositiveInt | None = None
    height: PositiveInt | None = None
    count: PositiveInt = 1
    negative_prompt: str = ""
    # How much of a result the img2img buttons change: V1-V4, Vary (Subtle), Vary (Strong).
    variation_strength: Strength = 0.6
    vary_subtle_strength: Strength = 0.35
    vary_strong_strength: Strength = 0.75


class ProviderSettings(BaseModel):
    """Common keys; every other key is the kind's own option, checked when it is built."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    enabled: bool = True
    concurrency: PositiveInt = 1
    cost_multiplier: Annotated[float, Field(gt=0, le=1000)] = 1.0
    api_key_env: str | None = None

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ScaleSettings(Section):
    """The scaled mode (off by default): jobs and quotas in PostgreSQL, GPU work through a saq
    queue on Redis, the gateway split into shard clusters. The Redis URL and the Postgres DSN
    carry passwords, so they come from the environment (IMAGEBOT_REDIS_URL,
    IMAGEBOT_POSTGRES_DSN) or the secrets file, never from here."""

    enabled: bool = False
    queue_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = "imagebot"
    # saq's defaults are for short web tasks; GPU work needs its own. Heartbeats shorter than
    # 15 s were seen to make saq's sweeper re-run healthy jobs.
    heartbeat_seconds: Annotated[int, Field(ge=15, le=600)] = 30
    sweep_seconds: Annotated[int, Field(ge=1, le=600)] = 10
    result_ttl_seconds: Annotated[int, Field(ge=60)] = 7 * 24 * 3600
    dispatch_seconds: Annotated[float, Field(gt=0, le=30)] = 0.5
    # The leader's watchdog: a job still running this long past its timeout is aborted and
    # runs again (or fails, refunded, once its attempts are spent), whatever Redis says.
    watchdog_grace_seconds: Annotated[float, Field(ge=1, le=3600)] = 120.0
    # Results larger than this go to blob_dir (a folder the workers and the bot share) instead
    # of through Redis.
    inline_result_bytes: Annotated[int, Field(ge=0)] = 8 * 1024 * 1024
    blob_dir: Path | None = None
    # The gateway: every cluster runs the same shard_count; each its own shard_ids.
    shard_count: PositiveInt | None = None
    shard_ids: tuple[Annotated[int, Field(ge=0)], ...] | None = None
    identify_lock_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    # A GPU worker (python -m bot worker): how many jobs it runs at once per provider, and
    # which of the configured providers it serves (all when empty).
    worker_concurrency: PositiveInt = 1
    worker_providers: tuple[str, ...] = ()


class PromptHelperSettings(Section):
    """A chat model behind any OpenAI-compatible endpoint that enhances, translates and
    shortens prompts (docs/prompt-helper.md). Off by default. Its key, when the server wants
    one, comes from ``api_key_env`` or the secrets file's ``[prompt_helper] api_key``."""

    enabled: bool = False
    base_url: str = "http://127.0.0.1:8080/v1"  # POST {base_url}/chat/completions
    model: str = ""
    api_key_env: str = "PROMPT_HELPER_API_KEY"
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 20.0
    per_member_per_minute: Annotated[int, Field(ge=1, le=60)] = 5
    max_concurrent: Annotated[int, Field(ge=1, le=64)] = 4
    max_tokens: Annotated[int, Field(ge=16, le=8192)] = 400
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    # What /prompt shorten aims for when the member names no length: about CLIP's 77 tokens.
    shorten_to: Annotated[int, Field(ge=40, le=6000)] = 350
    # Models that only understand English: /imagine translates a prompt for them first.
    english_only_models: tuple[str, ...] = ()

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an absolute http(s):// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _a_model_when_on(self) -> PromptHelperSettings:
        if self.enabled and not self.model.strip():
            raise ValueError("name the chat model the server runs (prompt_helper.model)")
        return self


class PromptSettings(Section):
    # A folder of wildcard lists: ``__animal__`` in a prompt is a line of ``animal.txt`` there.
    # None: wildcards are off (a prompt naming one is refused).
    wildcards_dir: Path | None = None


class Settings(Section):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    discord: DiscordSettings = DiscordSettings()
    storage: StorageSettings = StorageSettings()
    queue: QueueSettings = QueueSettings()
    quota: QuotaSettings = QuotaSettings()
    limits: LimitSettings = LimitSettings()
    defaults: DefaultSettings = DefaultSettings()
    prompts: PromptSettings = PromptSettings()
    scale: ScaleSettings = ScaleSettings()
    prompt_helper: PromptHelperSettings = PromptHelperSettings()
    providers: dict[str, ProviderSettings] = Field(
        default_factory=lambda: {"local": ProviderSettings(kind="local")}
    )

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, value: dict[str, ProviderSettings]) -> dict[str, ProviderSettings]:
        for name in value:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", name):
                raise ValueError(
                    f"provider name {name!r} must be 1-32 lowercase letters, digits, '-' or '_'"
                )
        return value


@dataclass(frozen=True)
class Secrets:
    """Never printed: the token and keys only travel to the clients that need them."""

    discord_token: SecretStr | None = None
    provider_keys: Mapping[str, SecretStr] = field(default_factory=dict)
    redis_url: SecretStr | None = None
    postgres_dsn: SecretStr | None = None
    prompt_helper_key: SecretStr | None = None

    def __repr__(self) -> str:
        return f"Secrets(discord_token={'set' if self.discord_token else 'unset'}, ...)"


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    secrets: Secrets
    source: Path | None


def demo(loaded: LoadedSettings) -> LoadedSettings:
    """``--demo``: only the built-in demo provider (no model, no download, no torch), the scaled
    mode off, and a data folder of its own, so that demo jobs and quotas stay apart."""
    settings = loaded.settings
    storage = settings.storage.model_copy(
        update={
            "data_dir": settings.storage.data_dir / "demo",
            "database": None,
            "results_dir": None,
        }
    )
    settings = settings.model_copy(
        update={
            "providers": {"demo": ProviderSettings(kind="demo")},
            "defaults": settings.defaults.model_copy(update={"provider": None}),
            "scale": ScaleSettings(),
            "storage": storage,
        }
    )
    return replace(loaded, settings=settings)


def default_api_key_env(provider: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", provider.upper()) + "_API_KEY"


def load(
    config_path: Path | None = None,
    secrets_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Read, merge and validate; any problem raises SettingsError naming key, value and rule."""
    env = os.environ if environ is None else environ
    if config_path is None and env.get(CONFIG_ENV):
        config_path = Path(env[CONFIG_ENV])
    if config_path is None and DEFAULT_CONFIG.is_file():
        config_path = DEFAULT_CONFIG
    raw: dict[str, Any] = _read_toml(config_path) if config_path else {}
    _refuse_secrets_in(raw, config_path)
    origins = _apply_env_overrides(raw, env)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as err:
        raise SettingsError(_describe(err, config_path, origins)) from None
    if secrets_path is None and env.get(SECRETS_ENV):
        secrets_path = Path(env[SECRETS_ENV])
    return LoadedSettings(settings, _load_secrets(settings, secrets_path, env), config_path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise SettingsError(f"Config file {path} does not exist.") from None
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"Config file {path} is not valid TOML: {err}.") from None


def _refuse_secrets_in(raw: Mapping[str, Any], path: Path | None) -> None:
    where = path or "the config"
    if "token" in raw.get("discord", {}):
        raise SettingsError(
            f"discord.token is set in {where}, but secrets are never read from the config file: "
            f"set the {TOKEN_ENV} environment variable or use a secrets file ({SECRETS_ENV})."
        )
    for name, provider in raw.get("providers", {}).items():
        if isinstance(provider, dict) and "api_key" in provider:
            raise SettingsError(
                f"providers.{name}.api_key is set in {where}, but secrets are never read from the "
                f"config file: set {default_api_key_env(name)} in the environment (or name "
                f"another variable with api_key_env) or use a secrets file ({SECRETS_ENV})."
            )
    helper = raw.get("prompt_helper")
    if isinstance(helper, dict) and "api_key" in helper:
        raise SettingsError(
            f"prompt_helper.api_key is set in {where}, but secrets are never read from the "
            "config file: set PROMPT_HELPER_API_KEY in the environment (or name another variable "
            f"with prompt_helper.api_key_env) or use a secrets file ({SECRETS_ENV})."
        )


def _apply_env_overrides(raw: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """IMAGEBOT__QUEUE__MAX_ATTEMPTS=5 sets queue.max_attempts; values are read as TOML."""
    origins: dict[str, str] = {}
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        if path == ["discord", "token"] or path[-1] == "api_key":
            raise SettingsError(
                f"{name} looks like a secret; pass the token as {TOKEN_ENV} and provider keys "
                "by their api_key_env variable."
            )
        node = raw
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SettingsError(f"{name}: {'.'.join(path[:-1])} is not a section.")
            node = child
        node[path[-1]] = _parse_env_value(text)
        origins[".".join(path)] = name
    return origins


def _parse_env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _describe(err: ValidationError, path: Path | None, origins: Mapping[str, str]) -> str:
    lines = []
    for problem in err.errors():
        key = ".".join(str(part) for part in problem["loc"])
        origin = origins.get(key)
        where = f" (from {origin})" if origin else (f" (in {path})" if path else "")
        if problem["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown setting{where}; config.example.toml lists every key.")
        elif problem["type"] == "missing":
            lines.append(f"{key}: required but not set{where}.")
        else:
            value = problem.get("input")
            rule = problem["msg"].removeprefix("Value error, ")
            lines.append(f"{key} = {value!r}{where} is not allowed: {rule}.")
    return "Invalid setting: " + "\n  ".join(lines)


def _load_secrets(settings: Settings, path: Path | None, env: Mapping[str, str]) -> Secrets:
    stored = _read_toml(path) if path else {}
    token = env.get(TOKEN_ENV) or stored.get("discord_token")
    keys: dict[str, SecretStr] = {}
    for name, provider in settings.providers.items():
        variable = provider.api_key_env or default_api_key_env(name)
        key = env.get(variable) or stored.get("providers", {}).get(name, {}).get("api_key")
        if key:
            keys[name] = SecretStr(str(key))
    redis = env.get(REDIS_ENV) or stored.get("redis_url")
    postgres = env.get(POSTGRES_ENV) or stored.get("postgres_dsn")
    helper = env.get(settings.prompt_helper.api_key_env) or stored.get("prompt_helper", {}).get(
        "api_key"
    )
    return Secrets(
        SecretStr(str(token).strip()) if token else None,
        keys,
        redis_url=SecretStr(str(redis)) if redis else None,
        postgres_dsn=SecretStr(str(postgres)) if postgres else None,
        prompt_helper_key=SecretStr(str(helper)) if helper else None,
    )
