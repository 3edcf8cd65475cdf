"""Write the published JSON Schemas (docs/schema/) from the typed models in ledger/formats/schemas.py; ``--check``
exits 1 when a committed file differs from what the models generate."""

import sys

from ledger.formats.schemas import SCHEMA_DIR, SCHEMAS, render_schema


def main(argv: list[str]) -> int:
    stale = []
    for name, build in SCHEMAS.items():
        path, text = SCHEMA_DIR / name, render_schema(build())
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    if stale:
        print(
            f"stale: {', '.join(stale)}; run `python scripts/build_schemas.py` and commit docs/schema/", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
