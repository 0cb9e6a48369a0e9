"""Active health checks: probe every instance and record the verdict in the instances table."""
