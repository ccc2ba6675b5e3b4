"""A protocol-level fake of Discord on loopback that a real discord.py client talks to: REST,
interaction callbacks and webhooks over aiohttp, and a websocket gateway (text frames only).

Members act through it (``invoke``, ``autocomplete``, ``message_command``, ``click``,
``submit_modal``), building payloads from the commands the bot really synced; the bot's
answers are held as ``FakeInteraction`` and ``FakeMessage``. Discord's rules are enforced:
what a client would never send fails the test with AssertionError; what Discord would refuse
is answered with Discord's error and recorded in ``fake.violations``.

Worth knowing: a followup to a deferred (type 5) response that is still loading fills that
loading message, as Discord does, so it becomes ``interaction.original`` (keeping the
deferral's ephemerality), not a followup. ``advance``/``expire`` move only the fake's clock:
discord.py's own ``Interaction.is_expired()`` reads the real one.
"""

from .client import connected
from .model import FakeInteraction, FakeMessage, PostedMessage, Recorded
from .payloads import APPLICATION_ID, BOT_ID, BOT_USER, MEMBER_PERMISSIONS, TOKEN, reply
from .rules import Refused
from .server import FakeDiscord

__all__ = [
    "APPLICATION_ID",
    "BOT_ID",
    "BOT_USER",
    "MEMBER_PERMISSIONS",
    "TOKEN",
    "FakeDiscord",
    "FakeInteraction",
    "FakeMessage",
    "PostedMessage",
    "Recorded",
    "Refused",
    "connected",
    "reply",
]
