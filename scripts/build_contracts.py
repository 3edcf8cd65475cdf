"""Compile contracts/src with the pinned compiler and write the package's ledger/onchain/contracts.json (``--write``),
or check that the committed file equals a fresh compile (``--check``, exit 1 when it does not)."""

import sys

from ledger.onchain.toolchain import main

if __name__ == "__main__":
    sys.exit(main())
