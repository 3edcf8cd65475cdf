"""Print ``ledger/formats/lookalikes.py``'s table from Unicode's confusables.txt (UTS #39's data file).

    python scripts/lookalikes_table.py confusables.txt

Taken: each line mapping one letter of the Cyrillic, Greek or Latin script (by its name and category in this
interpreter's Unicode database), not ASCII and left as it is by NFKC, to a prototype of ASCII letters and digits
only. A capital (category Lu) whose prototype holds ``l`` gets ``I`` there: the prototype of I, l and 1 is ``l``, and
premises are compared case-folded, so a Cyrillic capital I must fold as a Latin capital I does. Run it again on a
newer file (and a newer interpreter) to bring the table up; tests/test_redteam_round84p.py checks the table's shape.
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from pathlib import Path


def table(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        source, prototype = (part.split() for part in line.split(";")[:2])
        if len(source) != 1:
            continue
        char = chr(int(source[0], 16))
        target = "".join(chr(int(code, 16)) for code in prototype)
        name = unicodedata.name(char, "")
        if (
            not name.startswith(("CYRILLIC ", "GREEK ", "LATIN "))
            or not unicodedata.category(char).startswith("L")
            or char.isascii()
            or unicodedata.normalize("NFKC", char) != char
            or not (target.isascii() and target.isalnum())
        ):
            continue
        out[char] = target.replace("l", "I") if unicodedata.category(char) == "Lu" else target
    return out


def main(path: str) -> None:
    data = Path(path).read_bytes()
    text = data.decode("utf-8")
    version = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# Version:")), "?")
    print(f"# confusables.txt Version {version}, SHA-256 {hashlib.sha256(data).hexdigest()}")
    print(f"# names from Unicode {unicodedata.unidata_version}")
    for char, target in sorted(table(text).items()):
        code = f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"
        print(f'    "{code}": "{target}",  # {unicodedata.name(char)}')


if __name__ == "__main__":
    main(sys.argv[1])
