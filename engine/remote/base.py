"""What every remote adapter shares: its settings, its HTTP client, its lists."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.loras import lora_names
from engine.options import parse_options
from engine.provider import Provider
from engine.registry import ProviderConfig
from engine.remote.download import ImageDownloads, ImageHosts, normalise_host
from engine.remote.http import HttpPolicy, RemoteClient
from engine.remote.inputs import check_inputs
from engine.types import GenerationRequest, Mode, ModelInfo


class RemoteOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    models: tuple[str, ...] = ()
    samplers: tuple[str, ...] = ()
    loras: tuple[str, ...] = ()
    nsfw: bool = False
    nsfw_loras: tuple[str, ...] = ()
    connect_timeout: Annotated[float, Field(gt=0)] = 10.0
    read_timeout: Annotated[float, Field(gt=0)] = 120.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3
    max_download_mb: Annotated[float, Field(gt=0, le=1024)] = 50.0
    retry_unknown_outcome: bool = False

    _nsfw_lora_names = field_validator("nsfw_loras")(lora_names)

    @property
    def policy(self) -> HttpPolicy:
        return HttpPolicy(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            max_retries=self.max_retries,
            max_body_bytes=int(self.max_download_mb * 2**20),
            retry_unknown_outcome=self.retry_unknown_outcome,
        )


class ImageUrlOptions(RemoteOptions):
    """Settings of an adapter whose answers name image URLs to download."""

    # Hosts the API's own document says its images come from, besides the API's host.
    documented_image_hosts: ClassVar[tuple[str, ...]] = ()

    image_hosts: tuple[str, ...] | None = None
    image_hosts_http: tuple[str, ...] = ()
    image_hosts_private: tuple[str, ...] = ()

    @field_validator("image_hosts", "image_hosts_http", "image_hosts_private")
    @classmethod
    def _hosts(cls, hosts: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if hosts is None else tuple(normalise_host(host) for host in hosts)

    @property
    def image_host_rules(self) -> ImageHosts:
        if self.image_hosts is None:
            allowed: Iterable[str] = (
                normalise_host(httpx.URL(self.base_url).host),
                *self.documented_image_hosts,
            )
        else:
            allowed = self.image_hosts
        return ImageHosts(
            frozenset(allowed),
            frozenset(self.image_hosts_http),
            frozenset(self.image_hosts_private),
        )


OptionsT = TypeVar("OptionsT", bound=RemoteOptions)


def parse(cls: type[OptionsT], options: Mapping[str, Any]) -> OptionsT:
    return parse_options(cls, options, kind="remote", whole="options")


def bearer_client(config: ProviderConfig, options: RemoteOptions) -> RemoteClient:
    """A client that sends ``Authorization: Bearer <key>`` when a key is set."""
    key = config.api_key
    return RemoteClient(
        config.name,
        options.base_url,
        headers={"Authorization": f"Bearer {key}"} if key else None,
        policy=options.policy,
        secrets=[key] if key else [],
    )


class RemoteProvider(Provider):
    """A provider behind HTTP: one long-lived client, closed at shutdown."""

    def __init__(
        self,
        config: ProviderConfig,
        options: RemoteOptions,
        client: RemoteClient,
        downloads: ImageDownloads | None = None,
    ):
        super().__init__(config.name)
        self.options = options
        self.client = client
        self.downloads = downloads

    @property
    def default_model(self) -> str:
        return self.options.models[0] if self.options.models else "default"

    @property
    def max_input_images(self) -> int:
        """The images one edit takes (``init_image`` plus ``extra_images``)."""
        return 1

    def model_info(self, model: str) -> ModelInfo:
        """What the provider takes, the edit and canvas modes included: an API does the same
        for each of its models."""
        modes = self.capabilities.modes
        return dataclasses.replace(
            super().model_info(model),
            edit=Mode.EDIT in modes,
            inpaint=Mode.INPAINT in modes,
            outpaint=Mode.OUTPAINT in modes,
            max_input_images=self.max_input_images if Mode.EDIT in modes else 1,
        )

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        resolved = super().prepare(request)
        check_inputs(resolved, self.max_input_images)
        return resolved

    def lora_is_nsfw(self, name: str) -> bool:
        return name in self.options.nsfw_loras

    async def close(self) -> None:
        if self.downloads is not None:
            await self.downloads.close()
        await self.client.close()
