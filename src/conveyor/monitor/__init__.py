"""Monitoring: drift, data quality, live performance."""
