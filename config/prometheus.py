"""The Prometheus set-up of the API and worker processes (multiprocess mode).

`PROMETHEUS_MULTIPROC_DIR` must be set before prometheus_client is first imported, so gunicorn's
config and the Celery worker call `ensure_multiprocess_dir` first thing; this module therefore
imports prometheus_client only inside the functions that serve or clean up metrics. The worker's main
process serves every pool process's metrics on `SCHEMA_WORKER_METRICS_PORT`, with queue depths read
from RabbitMQ at scrape time. The metrics themselves are declared where they are counted
(`executions_app/metrics.py`); their names are a contract with the Grafana dashboard.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

logger = logging.getLogger("schema.metrics")


def ensure_multiprocess_dir(default_name: str) -> str:
    """Set PROMETHEUS_MULTIPROC_DIR (before prometheus_client is imported) if the deployment did not."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        path = os.path.join(tempfile.gettempdir(), f"schema-prometheus-{default_name}-{os.getpid()}")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.makedirs(path, exist_ok=True)
    return path


def reset_multiprocess_dir() -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)


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
    except OSError as exc:  # e.g. a second copy of `make run` on the same port: the worker runs on
        logger.warning(
            "worker metrics not served: port %d: %s (set WORKER_METRICS_PORT to a free port)",
            port,
            exc.strerror or exc,
            extra={"port": port},
        )


def mark_process_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
