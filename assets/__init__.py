"""Dagster assets of the registry: one asset per catalog entry and its checks, the ledger,
the inventory and exports, the launchpad jobs, and the run requests the sensors send.

This folder ships as ``registry_pipeline.assets`` (``[tool.setuptools.package-dir]`` in
``pyproject.toml``), so modules here import each other by that name. Keys are built in
``asset_keys.py`` only; the rules the assets and sensors follow live in the service
(``registry_pipeline/core/automation.py``).
"""
