#!/usr/bin/env bash
# The whole story on the embedded default (own anvil node + SQLite), with the real `ledger` command:
# a council registers departments, one issues 1,000 certificates in one batch, another verifies one, a tampered
# copy fails naming the failing check, a revoked one shows as revoked, a holder discloses only some fields,
# approval decisions are taken and replayed by an auditor, and a court checks an evidence bundle with the
# standalone verifier and the keys of two independent witnesses (a court and a notary office) that cosigned
# the chain's history as it went (docs/witness.md). Installs what it needs first. Data: $LEDGER_DATA_DIR (default .ledger/demo, recreated).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export LEDGER_DATA_DIR="${LEDGER_DATA_DIR:-$PWD/.ledger/demo}"
export LEDGER_PASSPHRASE="${LEDGER_PASSPHRASE:-demo passphrase - use a real one in production}"
work="$LEDGER_DATA_DIR/files"
rm -rf "$LEDGER_DATA_DIR" && mkdir -p "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Start the embedded chain (anvil, state kept in $LEDGER_DATA_DIR/chain)"
ledger node > "$LEDGER_DATA_DIR/node.log" 2>&1 &
node_pid=$!
witness_pids=()
trap 'kill $node_pid "${witness_pids[@]}" 2>/dev/null; wait $node_pid "${witness_pids[@]}" 2>/dev/null || true' EXIT
for _ in $(seq 900); do grep -q "embedded chain at" "$LEDGER_DATA_DIR/node.log" 2>/dev/null && break; sleep 0.1; done
cat "$LEDGER_DATA_DIR/node.log"
rpc=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['url'])" "$LEDGER_DATA_DIR/chain/node.json")

step "Two independent witnesses (a court, a notary office), each with its own key and store, follow the chain"
declare -A witness_key witness_url
for w in court notary; do
  store="$LEDGER_DATA_DIR/witness-$w"
  # each witness keeps its key encrypted under a passphrase of its own (a real witness runs on its own machine)
  export LEDGER_WITNESS_PASSPHRASE="witness $w: use a real passphrase"
  witness_key[$w]=$(ledger witness keygen --store "$store" --name "$w.example/witness")
  ledger witness serve --store "$store" --rpc "$rpc" --interval 5 > "$store.log" 2> "$store.err" &
  witness_pids+=($!)
  for _ in $(seq 900); do grep -q " listening on " "$store.log" 2>/dev/null && break; sleep 0.1; done
  witness_url[$w]=$(sed -n 's/.* listening on \([^ ]*\).*/\1/p' "$store.log")
  echo "witness $w.example/witness at ${witness_url[$w]}, key ${witness_key[$w]}"
done
unset LEDGER_WITNESS_PASSPHRASE

step "The council (2 of 3 members) registers departments; contracts deploy on first use"
# The embedded demo creates the three member keys for convenience, each in its own keystore (keys/council-N) under
# its own passphrase. A real council never keeps its keys together: each member runs `ledger council` on their own
# machine with their own key (docs/governance.md).
export LEDGER_DEMO_COUNCIL_PASSPHRASE_1="${LEDGER_DEMO_COUNCIL_PASSPHRASE_1:-member one: use a real one}"
export LEDGER_DEMO_COUNCIL_PASSPHRASE_2="${LEDGER_DEMO_COUNCIL_PASSPHRASE_2:-member two: use a real one}"
export LEDGER_DEMO_COUNCIL_PASSPHRASE_3="${LEDGER_DEMO_COUNCIL_PASSPHRASE_3:-member three: use a real one}"
member() {  # member N ARGS...: `ledger council ARGS` as council member N, with N's keystore and passphrase
  local n=$1; shift
  local var="LEDGER_DEMO_COUNCIL_PASSPHRASE_$n"
  printf '$ [member %s] ledger council %s\n' "$n" "$*" >&2
  LEDGER_COUNCIL_PASSPHRASE="${!var}" ledger council "$@" --member-keystore "$LEDGER_DATA_DIR/keys/council-$n"
}
field() { python -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
ledger departments > /dev/null  # first use: deploys the contracts with the demo council
id=$(member 1 register MKT --name "Market Regulation Bureau" --roles issuer,verifier | field proposal)
member 2 approve "$id" | field state
id=$(member 2 register HOSP --name "City Hospital" --roles issuer,verifier | field proposal)
run ledger council list
member 3 show "$id"
member 3 sign "$id" --out "$work/approval-hosp.json" > /dev/null   # off line: a file, nothing sent
member 1 submit "$id" "$work/approval-hosp.json" | field state    # anyone submits the collected signature
id=$(member 3 register PSB --name "Public Security Bureau" --roles verifier,auditor | field proposal)
member 1 approve "$id" | field state
id=$(member 1 register GOV --name "Government Service Centre" --roles approver,verifier,issuer | field proposal)
member 3 approve "$id" | field state
id=$(member 2 suspend HOSP | field proposal)
member 1 reject "$id" | field state
member 3 reject "$id" | field state   # defeated: it can never execute
run ledger council history
run ledger departments

step "Every department trusts both witnesses and needs both cosignatures (2 of 2); anchoring collects them"
run ledger witness trust "${witness_url[court]}" "${witness_key[court]}"
run ledger witness trust "${witness_url[notary]}" "${witness_key[notary]}"
run ledger witness quorum 2
run ledger witness collect > /dev/null

step "Market regulation issues 1,000 business licences in one batch (one transaction)"
python - "$work/licences.jsonl" <<'PY'
import json, random, sys
rng = random.Random(7)
surnames = ["Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou"]
with open(sys.argv[1], "w") as out:
    for i in range(1000):
        out.write(json.dumps({
            "id": f"BL-2026-{i:06d}", "type": "business-licence",
            "subject": {"enterprise_name": f"{rng.choice(surnames)} Trading Co. {i}",
                        "credit_code": f"91440300MA5{rng.randrange(10**7):07d}",
                        "legal_representative": f"{rng.choice(surnames)} {rng.choice('Wei Fang Na Min Jie Lei'.split())}",
                        "representative_id": f"4403{rng.randrange(10**14):014d}",
                        "registered_capital_cny": rng.choice([100000, 500000, 1000000, 5000000])},
            # about 3% ran out in mid-2026: still authentic, no longer valid
            "valid_from": "2021-07-01" if i % 33 == 5 else "2026-01-01",
            "valid_until": "2026-06-30" if i % 33 == 5 else "2036-12-31"}) + "\n")
PY
run ledger issue "$work/licences.jsonl" -d MKT --batch-size 10000 --out "$work/issued.jsonl"
sed -n 1p "$work/issued.jsonl" > "$work/licence-1.json"
sed -n 2p "$work/issued.jsonl" > "$work/licence-2.json"

step "Public security verifies a licence it was given, without calling the issuer"
run ledger verify "$work/licence-1.json"

step "A tampered copy (enterprise name changed) fails, naming the failing checks"
python - "$work/licence-1.json" "$work/tampered.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); doc["fields"]["subject.enterprise_name"] = "Forged Holdings Ltd."
json.dump(doc, open(sys.argv[2], "w"))
PY
if ledger verify "$work/tampered.json"; then echo "demo: a tampered certificate verified!" >&2; exit 1; fi

step "Market regulation revokes licence 2; verification now shows it revoked"
digest=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['digest'])" "$work/licence-2.json")
run ledger revoke "$digest" --reason fraud
if ledger verify "$work/licence-2.json"; then echo "demo: a revoked certificate verified!" >&2; exit 1; fi

step "Market regulation revokes five more licences and suspends five (reasons are codes; notes stay off chain)"
for n in 11 12 13 14 15; do
  d=$(sed -n "${n}p" "$work/issued.jsonl" | python -c "import json,sys; print(json.load(sys.stdin)['digest'])")
  ledger revoke "$d" --reason entity-dissolved --note "deregistered at the owner's request" > /dev/null
done
for n in 21 22 23 24 25; do
  d=$(sed -n "${n}p" "$work/issued.jsonl" | python -c "import json,sys; print(json.load(sys.stdin)['digest'])")
  ledger suspend "$d" --reason under-investigation > /dev/null
done

step "The holder discloses only the enterprise name; the rest stay salted hashes, and it still verifies"
run ledger present "$work/licence-1.json" --reveal subject.enterprise_name --out "$work/presentation.json"
run ledger verify "$work/presentation.json"

step "The service centre publishes its approve-in-seconds rule set, then decides 10,000 applications citing those licences"
# Applications cite licences by digest only; the ledger verifies each against the chain at decision time (some are
# revoked, suspended or expired, a few cite digests nobody issued), and the rules read what it found.
run ledger demo-data --items 200 --applications 10000 --licences "$work/issued.jsonl" --out "$work/applications.jsonl"
run ledger rules publish rules/ss-eligibility.yaml --department GOV
run ledger decide "$work/applications.jsonl" --department GOV --rules rules/ss-eligibility.yaml

step "An auditor replays the whole decision history: every record against its anchor, every decision re-run"
run ledger replay --department GOV --json "$work/replay.json"

step "A court checks evidence: a self-contained bundle, verified by a standalone script that trusts only the chain"
run ledger evidence "$work/licence-1.json" --out "$work/evidence.json"
anchor=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['anchor'])" "$LEDGER_DATA_DIR/deployment.json")
run python scripts/verify_evidence.py "$work/evidence.json" --rpc "$rpc" --anchor "$anchor" \
    --witness-key "${witness_key[court]}" --witness-key "${witness_key[notary]}"
case_id=$(python -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['case_id'])" "$work/applications.jsonl")
run ledger evidence --decision "$case_id" --department GOV --out "$work/decision-evidence.json"
run python scripts/verify_evidence.py "$work/decision-evidence.json" --rpc "$rpc" --anchor "$anchor" \
    --witness-key "${witness_key[court]}" --witness-key "${witness_key[notary]}"

step "The chain against what the witnesses cosigned and what the database recorded: no rollback, no rewrite"
run ledger audit-chain

step "The applicant gets a decision notice: outcome, reasons in words, legal basis, how to ask for review; verifiable"
run ledger notice "$case_id" --department GOV --out "$work/notice.json"
run ledger verify "$work/notice.json"

step "An approval produces its result: a food business permit, issued at once, signed by GOV and anchored with the decision"
# The rule set names what an approval produces (`produces`); the applicant is handed the permit itself. The permit
# names the decision that produced it and the decision names the permit; replay checks the link both ways.
python - "$work/issued.jsonl" "$work/permit-applications.jsonl" <<'PY'
import json, sys
licences = [json.loads(line) for line in open(sys.argv[1])]
with open(sys.argv[2], "w") as out:
    for n, licence in enumerate((licences[0], licences[2], licences[3]), start=1):
        out.write(json.dumps({
            "case_id": f"FBP-2026-{n:06d}", "service_item": "440300-SCJG-0107",
            "applicant_ref": licence["fields"]["subject.credit_code"],
            "item": {"onsite_reason": 0, "materials_required": 3},
            "application": {"applicant_type": "enterprise", "online": True, "materials_submitted": 3,
                            "business_name": licence["fields"]["subject.enterprise_name"],
                            "premises": f"Shop {n}, Keyuan Road, Nanshan District",
                            "business_scope": "prepackaged-food-sales" if n < 3 else "cooked-food"},
            "applicant": {"blacklisted": False}, "certificates": [licence["digest"]]}) + "\n")
PY
run ledger rules publish rules/food-business-permit.yaml --department GOV
run ledger decide "$work/permit-applications.jsonl" --department GOV --rules rules/food-business-permit.yaml \
    --certificates-out "$work/permits.jsonl"
sed -n 1p "$work/permits.jsonl" > "$work/permit-1.json"
run ledger verify "$work/permit-1.json"
permit=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['digest'])" "$work/permit-1.json")
run ledger produced-by "$permit"
run ledger replay --department GOV --case FBP-2026-000001

step "Reconcile: certificates, statuses, and the decision and access logs, all against the chain"
run ledger reconcile

step "Done. Everything above is in $LEDGER_DATA_DIR; start the gateway with: scripts/gateway.sh"
