"""Dagster sensors of the registry: training outputs, promotion gates, ledger changes.
Shipped as ``registry_pipeline.sensors``."""
