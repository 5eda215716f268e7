"""``python -m registry_pipeline.cli``: the same as the ``registry`` command."""

from registry_pipeline.cli import main

main()
