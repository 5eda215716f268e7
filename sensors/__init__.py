"""Dagster sensors of the registry, one module per sensor and named after it:
``training_outputs``, ``stack_assembly``, ``promotion_gates``, ``ledger_changes`` and
``review_due``. Shipped as ``registry_pipeline.sensors`` (``[tool.setuptools.package-dir]``
in ``pyproject.toml``)."""
