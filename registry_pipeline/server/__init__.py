"""The registry server (``registry serve``): the HTTP API, the one writer of the store."""
