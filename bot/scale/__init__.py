"""The scaled mode: PostgreSQL for jobs and quotas, GPU work through saq on Redis, the gateway
split into shard clusters. Off by default; see docs/scaling.md."""
