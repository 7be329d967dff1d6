"""Health checks: liveness (the process answers) and readiness (database and broker reachable).

Kubernetes probes and load balancers use these; they need no authentication and are never
throttled. Readiness answers 503 naming the failing dependency.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from kombu import Connection
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger("schema.health")

_health = inline_serializer("Health", {"status": serializers.CharField(), "checks": serializers.DictField()})


def check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        logger.warning("readiness: database check failed: %s", exc)
        return f"error: {type(exc).__name__}"


def check_broker() -> str:
    try:
        with Connection(
            settings.CELERY_BROKER_URL, connect_timeout=2, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001
        logger.warning("readiness: broker check failed: %s", exc)
        return f"error: {type(exc).__name__}"


class LiveView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes: list[Any] = []

    @extend_schema(responses={200: _health}, tags=["health"])
    def get(self, request: Request) -> Response:
        return Response({"status": "ok", "checks": {}})


class ReadyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes: list[Any] = []

    @extend_schema(responses={200: _health, 503: _health}, tags=["health"])
    def get(self, request: Request) -> Response:
        checks = {"database": check_database(), "broker": check_broker()}
        ok = all(value == "ok" for value in checks.values())
        return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
