"""Pure formats and crypto: canonical hashing, certificate documents, Merkle trees, EIP-712 signing, the rule
engine, reason codes, published schemas, translations, W3C credential and status list formats.

Nothing here reads the chain, the database, the keystore or the environment (import-linter keeps it so).
"""
