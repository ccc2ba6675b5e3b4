"""The durable job queue. Every status change goes through here, fenced by job id and attempt;
quota reservation, commit and refund share a transaction with the change they belong to."""

from bot.store.protocol import Clock, JobStore, Recovery
from bot.store.sql import SqliteJobStore, SqlJobStore

__all__ = ["Clock", "JobStore", "Recovery", "SqlJobStore", "SqliteJobStore"]
