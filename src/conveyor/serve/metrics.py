"""Prometheus metrics of one app instance (a private registry, so apps and tests do not collide)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServeMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000)


class ServeMetrics:
    """The service's counters, histograms and gauges.

    Attributes:
        requests: ``conveyor_requests_total{endpoint,model,version,status}``.
        latency: ``conveyor_request_latency_seconds{endpoint}``.
        errors: ``conveyor_errors_total{endpoint,kind}`` (kind: the error class or problem).
        in_flight: ``conveyor_requests_in_flight``.
        batch_size: ``conveyor_predict_batch_size`` (records per predict request).
        predictions: ``conveyor_predictions_total{model,version}``.
        predictions_logged: ``conveyor_predictions_logged_total``.
        shadow_predictions: ``conveyor_shadow_predictions_total{model,version}``
            (records the shadow challenger scored; never returned).
        fallbacks: ``conveyor_fallbacks_total{reason}`` (records answered by a fallback).
        canary_traffic: ``conveyor_canary_traffic`` (share routed to the challenger).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        reg = self.registry
        self.requests = Counter(
            "conveyor_requests",
            "HTTP requests by endpoint, served model version and status code.",
            ["endpoint", "model", "version", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "conveyor_request_latency_seconds",
            "Request latency in seconds.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=reg,
        )
        self.errors = Counter(
            "conveyor_errors",
            "Requests answered with an error.",
            ["endpoint", "kind"],
            registry=reg,
        )
        self.in_flight = Gauge(
            "conveyor_requests_in_flight", "Requests being answered now.", registry=reg
        )
        self.batch_size = Histogram(
            "conveyor_predict_batch_size",
            "Records per predict request.",
            buckets=_BATCH_BUCKETS,
            registry=reg,
        )
        self.microbatch_size = Histogram(
            "conveyor_microbatch_size",
            "Records scored together in one model call (concurrent requests micro-batched).",
            buckets=_BATCH_BUCKETS,
            registry=reg,
        )
        self.predictions = Counter(
            "conveyor_predictions",
            "Records predicted, by model version.",
            ["model", "version"],
            registry=reg,
        )
        self.predictions_logged = Counter(
            "conveyor_predictions_logged",
            "Predictions handed to the prediction log.",
            registry=reg,
        )

        self.shadow_predictions = Counter(
            "conveyor_shadow_predictions",
            "Records scored by the shadow challenger, by model version.",
            ["model", "version"],
            registry=reg,
        )
        self.fallbacks = Counter(
            "conveyor_fallbacks",
            "Records answered by a fallback, by reason (error, latency, low_confidence).",
            ["reason"],
            registry=reg,
        )
        self.canary_traffic = Gauge(
            "conveyor_canary_traffic",
            "Share of records routed to the canary challenger.",
            registry=reg,
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label set (the hot path calls it per request)."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)
