"""Domain services: issuance, status, logs, decisions, replay, sharing, consent, erasure, evidence, verification,
provenance, reconciliation, supervision, permits, reports, governance and witnessing. They compose the
layers below through the ``Ledger`` object (``ledger.client``); the CLI and the gateway call them.
"""
