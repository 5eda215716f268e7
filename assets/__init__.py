"""Dagster assets of the registry: one asset per catalog entry, the ledger, the jobs people
launch from the UI. Shipped as ``registry_pipeline.assets``."""
