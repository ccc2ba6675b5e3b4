"""The job store on SQL (SQLite or PostgreSQL): its lifecycle, delivery and queries in one class."""

from __future__ import annotations

from bot.store.delivery import JobDelivery
from bot.store.lifecycle import JobLifecycle
from bot.store.queries import JobQueries


class SqlJobStore(JobLifecycle, JobDelivery, JobQueries):
    """The ``JobStore`` on an ``SqlDatabase``."""


SqliteJobStore = SqlJobStore  # the name it had when SQLite was the only backend
