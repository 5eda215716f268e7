"""Print the server's OpenAPI document (committed as ``docs/openapi.json``).

Run: ``python -m registry_pipeline.server.openapi > docs/openapi.json``.
"""

import json
import sys
from typing import Any

from registry_pipeline.server.app import ServerConfig, create_app


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API (no database is opened)."""
    return create_app(ServerConfig(database="sqlite:///unused.db")).openapi()


if __name__ == "__main__":
    sys.stdout.write(json.dumps(document(), indent=2, sort_keys=True) + "\n")
