"""Prometheus metrics of the Execution Engine (prometheus_client only, no Django).

Metric names are a contract with the Grafana dashboard (monitoring/grafana/dashboards) and
docs/operations.md. Workers are prefork processes, so metrics use prometheus_client's multiprocess
mode (`PROMETHEUS_MULTIPROC_DIR`); the worker's main process serves them on `WORKER_METRICS_PORT`
together with queue depths read from RabbitMQ at scrape time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import Counter, Histogram

logger = logging.getLogger("schema.metrics")


EXECUTIONS_STARTED = Counter("schema_executions_started", "Executions started by a worker", ["trigger_type"])
EXECUTIONS_FINISHED = Counter("schema_executions_finished", "Executions finished", ["status", "trigger_type"])
STEP_DURATION = Histogram(
    "schema_step_duration_seconds",
    "Duration of one node step",
    ["node_type", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STEP_RETRIES = Counter("schema_step_retries", "Node attempts that failed and were scheduled again", ["node_type"])
TIMER_LATENESS = Histogram(
    "schema_timer_lateness_seconds",
    "How late timers fired (fired_at - due_at)",
    ["reason"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)


class QueueDepthCollector:
    """Reads message counts of the execution queue and the DLQ from RabbitMQ at scrape time."""

    def __init__(self, broker_url: str, queues: Iterable[str]) -> None:
        self.broker_url = broker_url
        self.queues = list(queues)

    def collect(self) -> Iterator[Any]:
        from kombu import Connection
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily("schema_queue_messages", "Messages ready in a RabbitMQ queue", labels=["queue"])
        dlq = GaugeMetricFamily("schema_dlq_messages", "Messages in the dead-letter queue")
        if not self.broker_url.startswith("amqp"):
            return
        try:
            with Connection(self.broker_url, connect_timeout=2) as connection:
                channel = connection.default_channel
                for name in self.queues:
                    _, count, _ = channel.queue_declare(queue=name, passive=True)
                    depth.add_metric([name], count)
                    if name.endswith("_dlq"):
                        dlq.add_metric([], count)
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail because the broker is down
            logger.warning("queue depth unavailable: %s", exc)
            return
        yield depth
        yield dlq


def start_worker_metrics_server(port: int, broker_url: str, queues: Iterable[str]) -> None:
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueDepthCollector(broker_url, queues))  # type: ignore[arg-type]
    try:
        start_http_server(port, registry=registry)
        logger.info("worker metrics on :%d/metrics", port)
    except OSError as exc:
        logger.warning("worker metrics server not started on :%d: %s", port, exc)


def mark_process_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
