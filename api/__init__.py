"""The HTTP API (DRF): serializers, views, webhooks, health checks, error format and middleware."""
