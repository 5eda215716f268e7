"""The trust boundary for documents users hand in: eval results and model card files.

Each reader is bounded (a few MiB), decodes UTF-8, and turns every problem into a one-line
:class:`~registry_pipeline.errors.BadInput` (or :class:`~registry_pipeline.errors.NotFound`
for a missing file) that names the file.
"""
