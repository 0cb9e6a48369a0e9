"""Resilience: breaker, outlier ejection, retries and the fault-injecting upstream."""
