"""Monitoring contract: the dashboard queries the metric names the backend exports, Prometheus
scrapes every process, RabbitMQ's definitions match the engine's queue topology, and
docs/operations.md lists the metrics."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.deploy.helpers import REPO

METRICS = (
    "django_http_requests_total_by_view_transport_method",
    "django_http_requests_latency_seconds_by_view_method",
    "schema_executions_started_total",
    "schema_executions_finished_total",
    "schema_step_duration_seconds",
    "schema_timer_lateness_seconds",
    "schema_step_retries_total",
    "schema_queue_messages",
    "schema_dlq_messages",
    # execution policies (docs/policies.md)
    "schema_executions_waiting",
    "schema_execution_queued_seconds",
    "schema_execution_timeouts_total",
    "schema_error_schema_starts_total",
    "schema_executions_queued_total",
)


def _dashboard() -> dict:
    loaded: dict = json.loads((REPO / "monitoring/grafana/dashboards/schema.json").read_text())
    return loaded


def test_dashboard_queries_every_contract_metric() -> None:
    dashboard = _dashboard()
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for metric in METRICS:
        assert metric in exprs, metric
    assert "schema_step_duration_seconds_bucket{" in exprs or "schema_step_duration_seconds_bucket[" in exprs
    assert "node_type" in exprs and "trigger_type" in exprs and "by (status, trigger_type)" in exprs
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_is_provisioned() -> None:
    provider = yaml.safe_load((REPO / "monitoring/grafana/provisioning/dashboards/schema.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = yaml.safe_load((REPO / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "prometheus"


def test_prometheus_scrapes_api_worker_and_rabbitmq() -> None:
    config = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert {"backend-api:8000", "backend-worker:9100", "rabbitmq:15692"} <= targets


def test_operations_md_lists_every_metric() -> None:
    text = (REPO / "docs/operations.md").read_text()
    for metric in METRICS:
        assert f"`{metric}" in text, metric


def test_rabbitmq_definitions_match_the_engine_topology() -> None:
    definitions = json.loads((REPO / "monitoring/rabbitmq/definitions.json").read_text())
    queues = {q["name"]: q for q in definitions["queues"]}
    assert queues["schema_execution_dlq"]["durable"] is True
    binding = definitions["bindings"][0]
    assert (binding["source"], binding["destination"]) == ("schema_execution_dlx", "schema_execution_dlq")
    policy = definitions["policies"][0]
    assert re.fullmatch(policy["pattern"], "schema_execution_queue")
    assert re.fullmatch(policy["pattern"], "schema_execution_wakeup_queue")  # timers, resumes: the same net
    assert re.fullmatch(policy["pattern"], "schema_execution_priority_queue")  # high-priority starts
    assert policy["definition"]["dead-letter-exchange"] == "schema_execution_dlx"
    assert not any(u for u in definitions.get("users", [])), "no credentials in the repository"
    queues_module = pytest.importorskip("config.queues", reason="config/ not importable here")
    # Redeclaring a queue with other arguments fails (PRECONDITION_FAILED): they must be identical.
    assert queues["schema_execution_dlq"]["arguments"] == queues_module.dead_letter_queue.queue_arguments
    assert binding["routing_key"] == queues_module.dead_letter_queue.routing_key
    assert (
        policy["definition"]["dead-letter-routing-key"]
        == queues_module.execution_queue.queue_arguments["x-dead-letter-routing-key"]
    )
    assert policy["definition"]["delivery-limit"] == queues_module.DELIVERY_LIMIT
