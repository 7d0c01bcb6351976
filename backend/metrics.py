"""Prometheus metrics: scans by decision and reason, imports, evaluations, request latency,
notifications sent.

Collectors are module-level (they hold numbers, not connections). Under gunicorn set
PROMETHEUS_MULTIPROC_DIR so that /metrics adds up every worker.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

SCANS = Counter("hc_scans_total", "Scans by decision and reason", ["decision", "reason"])
IMPORT_ROWS = Counter("hc_import_rows_total", "Government record rows by outcome", ["outcome"])
IMPORT_BATCH = Histogram("hc_import_batch_rows", "Rows per government import batch",
                         buckets=(1, 10, 50, 100, 500, 1000, 5000))
EVALUATION_SECONDS = Histogram("hc_evaluation_seconds", "Time to recompute a batch of codes",
                               buckets=(.001, .005, .01, .05, .1, .5, 1, 5, 30))
PEOPLE_EVALUATED = Counter("hc_people_evaluated_total", "Codes recomputed")
REQUEST_SECONDS = Histogram("hc_request_seconds", "Request latency",
                            ["method", "endpoint", "status"],
                            buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
DEGRADED = Counter("hc_degraded_total", "Requests served in a degraded mode", ["dependency"])
NOTIFICATIONS = Counter("hc_notifications_total",
                        "Notifier sends by channel, transport and outcome",
                        ["channel", "transport", "outcome"])
_SCAN_COUNTERS: dict[tuple[str, str], object] = {}


def count_scan(decision: str, reason: str) -> None:
    """``SCANS.labels(decision, reason).inc()``, the labelled child looked up once: a
    dozen (decision, reason) pairs exist, and the scan path counts every request."""
    counter = _SCAN_COUNTERS.get((decision, reason))
    if counter is None:
        counter = _SCAN_COUNTERS[(decision, reason)] = SCANS.labels(decision, reason)
    counter.inc()


def count_notification(channel: str, transport: str, outcome: str) -> None:
    """One message handed over (``outcome="sent"``) or not (``"failed"``)."""
    NOTIFICATIONS.labels(channel, transport, outcome).inc()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return DEFAULT_REGISTRY


def register_metrics(app: Flask) -> None:
    """Time every request and serve /metrics."""

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("request_started", None)
        if started is not None:
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            REQUEST_SECONDS.labels(request.method, endpoint, response.status_code).observe(
                time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)
