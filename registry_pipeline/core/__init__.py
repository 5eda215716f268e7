"""Pure domain: entities, digests, stages, policy and gates, ledger hashing, cards.

Nothing here does I/O or imports Dagster; every other layer builds on these values.
"""
