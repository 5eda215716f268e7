"""The trust boundary: documents, names and files users and jobs hand the registry,
validated once, with every problem reported as one line."""
