"""Chain access: the anvil node, the shipped contracts (``contracts.json``), the ``Chain`` client and the one
typed, chunked event-scan policy (``chainread``).
"""
