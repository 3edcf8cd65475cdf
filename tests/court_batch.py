"""Test support: scripts/verify_evidence.py (the court's verifier) run on many bundles in one interpreter.

The mutation tests of tests/test_evidence.py hand the court's verifier a few hundred bundles, each changed in one
element. A process per bundle spent most of its time starting the interpreter and compiling the 3,000-line script
(which, run as a file, is compiled anew every time). This runner loads the script once and calls its ``main`` with
each bundle's arguments in turn: the same code, as independent of the library as ever (it is started with ``-I
-S``, so nothing but the standard library can be imported), in a process of its own. The script keeps no state
between calls (no module-level cache), so each verdict is the one a fresh process gives.

Protocol: one JSON array of arguments per line on standard input; one JSON array ``[exit code, stdout, stderr]``
per line on standard output, in the same order. Given arguments instead, it runs ``main`` once with them, on the
process's own streams and exit status, as ``python scripts/verify_evidence.py ARGS`` does, from the script's cached
bytecode (tests/evidence_support.py ``standalone``: a process per verification, without compiling the script anew
each time).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "verify_evidence.py"


def main() -> int:
    spec = importlib.util.spec_from_file_location("verify_evidence", SCRIPT)
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    if len(sys.argv) > 1:
        sys.argv[0] = str(SCRIPT)  # argparse names the script in its messages, as when it is run itself
        return int(script.main(sys.argv[1:]))
    answers = sys.stdout
    for line in sys.stdin:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = script.main(json.loads(line))
            except SystemExit as exc:  # argparse's exit on bad arguments
                code = exc.code if isinstance(exc.code, int) else 2
        answers.write(json.dumps([code, out.getvalue(), err.getvalue()]) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
