"""The bot: settings, storage, quotas, the durable queue, the worker, delivery and the CLI."""
