"""Prometheus metrics of the service (prometheus-client), in one registry per app."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics"]

# decisions take tens of microseconds; the request as a whole (with the log's fsync) milliseconds
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class ServiceMetrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.decisions = Counter(
            "clausewise_decisions",
            "Decisions made and logged, by policy, version and outcome.",
            ["policy", "version", "outcome"],
            registry=r,
        )
        self.shadow_decisions = Counter(
            "clausewise_shadow_decisions",
            "Shadow decisions of a candidate version, by policy, candidate version and whether "
            "the output differed from the live one.",
            ["policy", "version", "flipped"],
            registry=r,
        )
        self.rejected = Counter(
            "clausewise_rejected_requests",
            "Decision requests answered without a decision, by HTTP status and error code.",
            ["status", "code"],
            registry=r,
        )
        self.policy_failures = Counter(
            "clausewise_policy_failures",
            "Evaluations the policy itself failed (not counted as decisions).",
            ["policy", "version", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "clausewise_decision_request_seconds",
            "Time to answer a decision request, the log commit included.",
            ["policy"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.log_commit = Histogram(
            "clausewise_log_commit_seconds",
            "Time from handing records to the decision log until they are durable.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.log_backlog = Gauge(
            "clausewise_log_backlog",
            "Decision records handed to the log and not yet durable.",
            registry=r,
        )
        self.log_healthy = Gauge(
            "clausewise_log_healthy", "1 while the decision log accepts writes.", registry=r
        )
        self.reloads = Counter(
            "clausewise_reloads",
            "Policy set reloads, by result (ok, unchanged, failed).",
            ["result"],
            registry=r,
        )
        self.reload_failing = Gauge(
            "clausewise_reload_failing",
            "1 when the last reload failed (the previous set is still serving).",
            registry=r,
        )
        self.active = Gauge(
            "clausewise_active_revision_info",
            "The active policy set revision (value 1).",
            ["revision"],
            registry=r,
        )
        self.active_loaded = Gauge(
            "clausewise_active_revision_loaded_timestamp_seconds",
            "When the active policy set was loaded (Unix time).",
            registry=r,
        )
        self._active_revision: str | None = None

    def watch_log(self, backlog: Callable[[], float], healthy: Callable[[], bool]) -> None:
        """Read the log's backlog and health whenever the metrics are scraped."""
        self.log_backlog.set_function(backlog)
        self.log_healthy.set_function(lambda: 1.0 if healthy() else 0.0)

    def set_active(self, revision: str, loaded_unix: float) -> None:
        """Name the active revision (the previous one's series is removed)."""
        if self._active_revision is not None and self._active_revision != revision:
            self.active.remove(self._active_revision)
        self._active_revision = revision
        self.active.labels(revision).set(1)
        self.active_loaded.set(loaded_unix)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
