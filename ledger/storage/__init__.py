"""The database (``store``: every table) and the secrets at rest (``vault``: sealed bodies, ``keys``: keystores)."""
