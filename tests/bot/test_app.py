from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import discord
import pytest

from bot.app import PERMISSIONS, invite_url, point_at


def test_the_invite_url_asks_for_both_scopes_and_the_needed_permissions():
    query = parse_qs(urlparse(invite_url(1234)).query)
    assert query["client_id"] == ["1234"]
    assert query["scope"] == ["bot applications.commands"]
    granted = discord.Permissions(int(query["permissions"][0]))
    assert granted == PERMISSIONS
    assert granted.attach_files and granted.send_messages and granted.embed_links
    assert not granted.administrator


def test_rest_and_gateway_can_be_pointed_elsewhere(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    point_at("http://127.0.0.1:8080/api/v10", "ws://127.0.0.1:8081/")
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:8080/api/v10/users/@me"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:8081/"
