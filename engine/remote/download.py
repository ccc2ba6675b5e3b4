"""Downloads of the image URLs a provider's answer names. The provider's answer is hostile
until checked, so these go through their own client: no provider credentials, https only
unless the owner allows http for a host, only hosts on the provider's allow-list, no
redirects off that list, and no loopback, private, link-local or multicast address unless
the owner named the host. The name is resolved here, every address is checked, and the
connection goes to the checked address (the name travels only as Host and TLS SNI, and the
certificate is verified against it), so a DNS answer that changes between check and connect
(rebinding) cannot reach another machine. The host's own body text is never shown."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from dataclasses import dataclass

import httpx
from PIL import Image

from engine.errors import ProviderError, ProviderUnavailable
from engine.redact import scrub
from engine.remote.http import (
    RETRY_STATUSES,
    Answer,
    RemoteClient,
    read_bounded,
)
from engine.remote.wording import retry_after_of

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HOST_NAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedUrl(ProviderError):
    """An image URL the bot may not fetch; ``reason`` (for the owner's log) says why."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = scrub(reason)

    def __str__(self) -> str:
        return f"{self.user_message} ({self.reason})"


def normalise_host(text: str) -> str:
    """A host as URLs carry it: lower case, IDNA (punycode), IPv6 without brackets."""
    host = text.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{text!r} is not a host name") from None
    if not _HOST_NAME.match(host):
        raise ValueError(f"{text!r} is not a host name (no scheme, port or path)")
    return host


@dataclass(frozen=True, slots=True)
class ImageHosts:
    """Where a provider's image URLs may point: ``allowed`` over https to public addresses;
    hosts in ``http`` may also be fetched over plain http, hosts in ``private`` may resolve to
    loopback, private, link-local or multicast addresses. Both of those are allowed hosts too."""

    allowed: frozenset[str]
    http: frozenset[str] = frozenset()
    private: frozenset[str] = frozenset()

    def permits(self, host: str) -> bool:
        return host in self.allowed or host in self.http or host in self.private


class ImageDownloads:
    """A provider's downloads of the image URLs its answers name."""

    def __init__(self, api: RemoteClient, hosts: ImageHosts) -> None:
        self._api = api
        self._hosts = hosts
        policy = api.policy
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            follow_redirects=False,
            trust_env=False,  # a proxy would resolve the name itself, past the address check
            # one connection per download: a pooled one could carry another host's request
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def image(self, url: str) -> Image.Image:
        """The image at ``url``, decoded with the bomb guard; retried like any idempotent call."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self._follow(url)
            except RefusedUrl as refused:
                log.warning(
                    "%s: refused an image URL it sent: %s", self._api.provider, refused.reason
                )
                raise
            except (httpx.TimeoutException, httpx.TransportError, _Unreachable) as err:
                if attempt > self._api.policy.max_retries:
                    raise ProviderUnavailable(
                        self._api.say(
                            "could not hand over its image: its image host is unreachable"
                        )
                    ) from err
                await self._api.pause(attempt, None)
                continue
            if answer.status == 200:  # up to 4096×4096 pixels: decoded off the event loop
                return await asyncio.to_thread(
                    self._api.decode_image, answer.body, answer.content_type
                )
            if answer.status in RETRY_STATUSES and attempt <= self._api.policy.max_retries:
                await self._api.pause(attempt, retry_after_of(answer.headers), answer.status)
                continue
            text = self._api.say(
                f"could not hand over its image: its image host answered {answer.status}"
            )
            if answer.status in RETRY_STATUSES:
                raise ProviderUnavailable(text, status=answer.status)
            raise ProviderError(text, status=answer.status)

    async def _follow(self, url: str) -> Answer:
        """One attempt: the first answer that is not a redirect, following redirects only
        while they stay on the allowed hosts (each hop is checked like the first URL)."""
        for _ in range(MAX_REDIRECTS + 1):
            target = self._check(url)
            answer = await self._get(target, await self._address(target))
            location = answer.headers.get("location")
            if answer.status not in REDIRECT_STATUSES or not location:
                return answer
            try:
                url = str(target.join(location))
            except httpx.InvalidURL:
                raise self._refuse("a redirect to an unreadable address") from None
        raise self._refuse(f"more than {MAX_REDIRECTS} redirects")

    def _check(self, url: str) -> httpx.URL:
        try:
            target = httpx.URL(url)
            host = normalise_host(target.raw_host.decode("ascii"))
        except (httpx.InvalidURL, ValueError, UnicodeError):
            raise self._refuse("an unreadable URL") from None
        if target.scheme not in ("https", "http") or not host:
            raise self._refuse(f"a {target.scheme or 'relative'} URL")
        if target.userinfo:
            raise self._refuse(f"a URL with credentials for {host}")
        if not self._hosts.permits(host):
            raise self._refuse(
                f"host {host} is not on its image_hosts list (add it there to allow it)"
            )
        if target.scheme == "http" and host not in self._hosts.http:
            raise self._refuse(f"plain http to {host} (list it in image_hosts_http to allow it)")
        return target

    async def _address(self, target: httpx.URL) -> IpAddress:
        """The address to connect to: every address the name has must be allowed."""
        host = normalise_host(target.raw_host.decode("ascii"))
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            port = target.port or (443 if target.scheme == "https" else 80)
            try:
                found = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as err:
                raise _Unreachable(host) from err
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
        if not addresses:
            raise _Unreachable(host)
        if host not in self._hosts.private:
            for address in addresses:
                if not _is_public(address):
                    raise self._refuse(
                        f"host {host} resolves to the non-public address {address} "
                        "(list it in image_hosts_private to allow it)"
                    )
        return addresses[0]

    async def _get(self, target: httpx.URL, address: IpAddress) -> Answer:
        host_header = target.netloc.decode("ascii")
        extensions = {"sni_hostname": target.raw_host.decode("ascii")}
        request = self._client.build_request(
            "GET",
            target.copy_with(host=str(address)),
            headers={"Host": host_header, "Accept": "image/*"},
            extensions=extensions if target.scheme == "https" else {},
        )
        response = await self._client.send(request, stream=True)
        if response.status_code != 200:
            await response.aclose()  # the host's own words never reach anyone
            return Answer(response.status_code, response.headers, b"")
        return await read_bounded(response, self._api.policy.max_body_bytes, self._api.say)

    def _refuse(self, reason: str) -> RefusedUrl:
        return RefusedUrl(self._api.say("sent an image link the bot may not fetch"), reason)


class _Unreachable(Exception):
    """The image host's name does not resolve."""


def _is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None and not _is_public(embedded):
            return False
    return address.is_global and not address.is_multicast
