import io, json
from ledger.client import Ledger
from ledger.formats.certificate import validate_record
from ledger.services.issuance import issue_records
from ledger.services import evidence
from ledger.formats import vc
from ledger.formats.canonical import json_depth, strict_json_loads
from .conftest import make_records

def test_probe(ledger: Ledger) -> None:
    rec = make_records(1, prefix="DEEPPROBE2")[0]
    deep: object = "x"
    for _ in range(509):
        deep = [deep]
    rec["subject"]["name"] = deep
    parsed = strict_json_loads(json.dumps(rec))
    out = io.StringIO()
    issue_records(ledger, [validate_record(parsed, 1)], "MKT", out=out)
    text = out.getvalue().splitlines()[0]
    doc = json.loads(text)
    try:
        b = evidence.bundle_for_stored(ledger, doc["digest"])
        bt = json.dumps(b)
        print("bundle depth", json_depth(bt))
        print(evidence.verify_bundle(evidence.load_bundle(bt), ledger.chain).ok if hasattr(evidence, "verify_bundle") else None)
    except Exception as e:
        print("bundle raised", type(e).__name__, e)
    try:
        cred = vc.to_credential(doc)
        print("vc depth", json_depth(json.dumps(cred)))
    except Exception as e:
        print("vc raised", type(e).__name__, e)
