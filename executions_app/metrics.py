"""Prometheus metrics of executions, counted by the worker.

Metric names are a contract with the Grafana dashboard (monitoring/grafana/dashboards) and
docs/operations.md. Workers are prefork processes: the multiprocess set-up and the endpoint that
serves these are in `config/prometheus.py`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
# Execution policies (executions_app/admission.py, policies.py).
EXECUTIONS_QUEUED = Counter("schema_executions_queued", "Executions that waited for a concurrency slot")
QUEUED_SECONDS = Histogram(
    "schema_execution_queued_seconds",
    "How long executions waited for a concurrency slot",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
# Set by whichever process last counted them (admission queues one or hands slots over): the value
# from the most recent count across the worker's processes.
EXECUTIONS_WAITING = Gauge(
    "schema_executions_waiting",
    "Executions waiting for a concurrency slot, per schema (as last counted)",
    ["schema"],
    multiprocess_mode="mostrecent",
)
EXECUTION_TIMEOUTS = Counter("schema_execution_timeouts", "Executions failed by their schema's timeout_seconds")
ERROR_SCHEMA_STARTS = Counter("schema_error_schema_starts", "Executions of error schemas started by a failure")
