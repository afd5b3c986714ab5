"""Prometheus metrics for the monitor, read from its live state at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.monitor.runner import Monitor


class MonitorCollector(Collector):
    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Metric]:
        monitor = self.monitor
        up = GaugeMetricFamily(
            "trackr_monitor_backend_up",
            "1 answering (up or degraded), 0 down (absent until known)",
            labels=["backend"],
        )
        degraded = GaugeMetricFamily(
            "trackr_monitor_backend_degraded",
            "1 while the backend answers but says part of it is not working",
            labels=["backend"],
        )
        response = GaugeMetricFamily(
            "trackr_monitor_response_seconds", "Last /health round trip", labels=["backend"]
        )
        lag = GaugeMetricFamily(
            "trackr_monitor_replica_lag_seconds",
            "The backend's most lagging replica in rotation",
            labels=["backend"],
        )
        products = GaugeMetricFamily(
            "trackr_monitor_products", "Products per category", labels=["backend", "category"]
        )
        uptime = GaugeMetricFamily(
            "trackr_monitor_uptime_ratio",
            "Share of checks answered (available, degraded or not)",
            labels=["backend", "window"],
        )
        healthy = GaugeMetricFamily(
            "trackr_monitor_healthy_ratio",
            "Share of checks that found the backend fully healthy",
            labels=["backend", "window"],
        )
        checks = CounterMetricFamily("trackr_monitor_checks", "Checks made", labels=["backend"])
        for name, state in monitor.tracker.backends.items():
            if state.status != "unknown":
                up.add_metric([name], 0.0 if state.status == "down" else 1.0)
                degraded.add_metric([name], 1.0 if state.status == "degraded" else 0.0)
            checks.add_metric([name], monitor.checks_total.get(name, 0))
            check = monitor.latest.get(name)
            if check is not None and check.latency_ms is not None:
                response.add_metric([name], check.latency_ms / 1000)
            if check is not None and check.replica_lag_seconds is not None:
                lag.add_metric([name], check.replica_lag_seconds)
            for category, count in ((check.counts or {}) if check else {}).items():
                products.add_metric([name, category], count)
            ratios = monitor.uptime.get(name)
            if ratios is not None:
                for family, window, ratio in (
                    (uptime, "24h", ratios.day),
                    (uptime, "7d", ratios.week),
                    (healthy, "24h", ratios.healthy_day),
                    (healthy, "7d", ratios.healthy_week),
                ):
                    if ratio is not None:
                        family.add_metric([name, window], ratio)
        drift = GaugeMetricFamily("trackr_monitor_drift", "1 while backends' data disagree")
        drift.add_metric([], 1.0 if monitor.tracker.drifted else 0.0)
        alerts = CounterMetricFamily(
            "trackr_monitor_alerts", "Alert deliveries", labels=["outcome"]
        )
        for outcome, count in monitor.dispatcher.delivered.items():
            alerts.add_metric([outcome], count)
        yield from (up, degraded, response, lag, products, uptime, healthy, checks, drift, alerts)


def registry_for(monitor: Monitor) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(monitor))
    return registry
