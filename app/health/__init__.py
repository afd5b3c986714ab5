"""Liveness, readiness and the full /health report."""
