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
# wait_for PATTERN FILE PID WHAT: wait (up to 120 s: a loaded machine starts slowly) until FILE shows PATTERN;
# stop with the process's own words if it died or never got there.
wait_for() {
  for _ in $(seq 1200); do
    grep -q "$1" "$2" 2>/dev/null && return 0
    if ! kill -0 "$3" 2>/dev/null; then echo "demo: $4 exited before it was ready:" >&2; cat "$2" "${2%.log}.err" 2>/dev/null >&2; exit 1; fi
    sleep 0.1
  done
  echo "demo: $4 was not ready after 120 s; see $2" >&2; exit 1
}

step "Start the embedded chain (anvil, state kept in $LEDGER_DATA_DIR/chain)"
ledger node > "$LEDGER_DATA_DIR/node.log" 2>&1 &
node_pid=$!
witness_pids=()
trap 'kill $node_pid "${witness_pids[@]}" 2>/dev/null; wait $node_pid "${witness_pids[@]}" 2>/dev/null || true' EXIT
wait_for "embedded chain at" "$LEDGER_DATA_DIR/node.log" "$node_pid" "the embedded chain"
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
  wait_for " listening on " "$store.log" "${witness_pids[-1]}" "witness $w"
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
# Each issuer may issue only the certificate types the council grants it (docs/governance.md): a department
# anchoring another type in its own name fails every verifier's type_authority check.
for grant in "MKT business-licence" "HOSP birth-certificate" "GOV decision-notice food-business-permit"; do
  id=$(member 1 grant-type $grant | field proposal)
  member 2 approve "$id" | field state
done
# Each approver decides only the service items the council grants it (red team round 85s): its screen for every
# item ("*") and the food business permit; a rule set for another item is refused by the chain.
id=$(member 1 grant-item GOV '*' 440300-SCJG-0107 | field proposal)
member 2 approve "$id" | field state
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
            "subject": {"name": f"{rng.choice(surnames)} Trading Co. {i}",
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
doc = json.load(open(sys.argv[1])); doc["fields"]["subject.name"] = "Forged Holdings Ltd."
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

step "Licence 2 as a W3C Verifiable Credential: its batch's Bitstring Status Lists show the revocation to any wallet"
run ledger export "$digest" --vc --out "$work/credential-2.json"
root=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['anchor']['root'])" "$work/licence-2.json")
run ledger status-list MKT "$root" --purpose revocation --out "$work/revocation-list.json"
run ledger status-list MKT "$root" --purpose suspension --out "$work/suspension-list.json"
echo "\$ ledger verify $work/credential-2.json --status-list revocation-list.json --status-list suspension-list.json"
ledger verify "$work/credential-2.json" --json --status-list "$work/revocation-list.json" \
  --status-list "$work/suspension-list.json" > "$work/credential-2.report.json" || true
python - "$work/credential-2.report.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
failed = [c["name"] for c in report["checks"] if not c["ok"] and not c["skipped"]]
lists = next(c for c in report["checks"] if c["name"] == "status_list")
assert not report["verified"] and failed == ["status"] and lists["ok"], report
print(f"verified: false (status: revoked); status_list: {lists['detail']}")
PY

step "The holder discloses only the enterprise name; the rest stay salted hashes, and it still verifies"
run ledger present "$work/licence-1.json" --reveal subject.name --out "$work/presentation.json"
run ledger verify "$work/presentation.json"

step "Sharing with the service centre needs the enterprise's own consent; withdrawn, it ends at once"
# The enterprise signs in with the login service Market Regulation already uses (here played by a key made up for
# the demo); that service shows it the request it is making and hands it a short-lived assertion it signs, bound to
# exactly that request (a relay cannot change the recipient, fields or expiry, or turn a withdrawal into a consent).
# Only then can the licence's fields be shared.
provider_key=$(python -c "import secrets; print('0x' + secrets.token_hex(32))")
export LEDGER_CONSENT_PROVIDERS="legal-person-login=$(python -c "import sys; from eth_account import Account; print(Account.from_key(sys.argv[1]).address)" "$provider_key")@substantial"
assert_for() {  # assert_for REQUEST FILE: the login service's assertion for licence 1's enterprise, bound to the
  # request `ledger consent ... --request-only` printed (one use each)
  python - "$provider_key" "$work/licence-1.json" "$1" "$2" <<'PY'
import json, sys
from datetime import UTC, datetime
from eth_account import Account
from ledger.services import consent
from ledger.client import Ledger
doc = json.load(open(sys.argv[2]))
asked = json.load(open(sys.argv[3]))
assert asked["digest"] == consent.request_digest(asked["request"])
with Ledger.open() as ledger:
    signed = consent.sign_assertion(Account.from_key(sys.argv[1]), provider="legal-person-login",
                                    subject=doc["fields"]["subject.credit_code"], assurance="substantial",
                                    audience=consent.audience(ledger), issued_at=datetime.now(UTC),
                                    request=asked["request"])
open(sys.argv[4], "w").write(signed.model_dump_json())
PY
}
digest1=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['digest'])" "$work/licence-1.json")
consent_until=$(python -c "from datetime import UTC, datetime, timedelta; print((datetime.now(UTC) + timedelta(days=30)).isoformat())")
share=(ledger share "$digest1" --to GOV --purpose "subsidy application 2026-17" --reveal subject.name,subject.credit_code --until "$consent_until")
printf '$ %s\n' "${share[*]}"
if "${share[@]}"; then echo "demo: shared personal fields without consent!" >&2; exit 1; fi
give=(ledger consent give "$digest1" --to GOV --purpose-code subsidy --purpose-text "subsidy application 2026-17" \
    --fields subject.name,subject.credit_code --until "$consent_until")
echo '$ ledger consent give '"$digest1"' --to GOV --purpose-code subsidy ... --request-only > request-1.json' >&2
"${give[@]}" --request-only > "$work/request-1.json"
assert_for "$work/request-1.json" "$work/assertion-1.json"
# a relay that adds a field on the way is refused: the assertion binds the request the enterprise saw
echo '$ ledger consent give '"$digest1"' ... --fields ...,subject.legal_representative --assertion assertion-1.json' >&2
if ledger consent give "$digest1" --to GOV --purpose-code subsidy --purpose-text "subsidy application 2026-17" \
    --fields subject.name,subject.credit_code,subject.legal_representative --until "$consent_until" \
    --assertion "$work/assertion-1.json"; then
  echo "demo: a consent request changed on the way was accepted!" >&2; exit 1
fi
echo '$ ledger consent give '"$digest1"' --to GOV --purpose-code subsidy ... --assertion assertion-1.json' >&2
consent_id=$("${give[@]}" --assertion "$work/assertion-1.json" | field id)
echo "\$ ${share[*]} --consent $consent_id --purpose-code subsidy" >&2
grant_id=$("${share[@]}" --consent "$consent_id" --purpose-code subsidy | field id)
echo "grant $grant_id relies on consent $consent_id"
ledger consent withdraw "$consent_id" --request-only > "$work/request-2.json"
assert_for "$work/request-2.json" "$work/assertion-2.json"
echo "\$ ledger consent withdraw $consent_id --assertion assertion-2.json" >&2
ledger consent withdraw "$consent_id" --assertion "$work/assertion-2.json" | field withdrawn_at
run ledger consent check -d MKT

step "The service centre publishes its approve-in-seconds rule set, then decides 10,000 applications citing those licences"
# Applications cite licences by digest only; the ledger verifies each against the chain at decision time (some are
# revoked, suspended or expired, a few cite digests nobody issued), and the rules read what it found.
# The screen publishes the department's catalogue of its 200 items (items): the rules read each item's attributes from
# it, never from the application (red team round 60b)
run ledger demo-data --items 200 --applications 10000 --licences "$work/issued.jsonl" --out "$work/applications.jsonl" \
    --rules rules/ss-eligibility.yaml --rules-out "$work/ss-eligibility.json"
run ledger rules publish "$work/ss-eligibility.json" --department GOV
run ledger decide "$work/applications.jsonl" --department GOV --rules "$work/ss-eligibility.json"

step "An auditor replays the whole decision history: every record against its anchor, every decision re-run"
run ledger replay --department GOV --json "$work/replay.json"

step "The auditor's report: outcomes over time, reasons, officers' overrides, rule sets, replay; Chinese and English"
run ledger report --department GOV --from "$(date -u -d yesterday +%F)" --to "$(date -u +%F)" --out "$work/report"

step "A court checks evidence: a self-contained bundle, verified by a standalone script that trusts only the chain"
run ledger evidence "$work/licence-1.json" --out "$work/evidence.json"
anchor=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['anchor'])" "$LEDGER_DATA_DIR/deployment.json")
# the decision log contract too: a decision bundle is anchored there, and the court pins it from the operator's
# publication as it pins the anchor contract (docs/evidence.md)
log=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['log'])" "$LEDGER_DATA_DIR/deployment.json")
run python -I -S scripts/verify_evidence.py "$work/evidence.json" --rpc "$rpc" --anchor "$anchor" \
    --witness-key "${witness_key[court]}" --witness-key "${witness_key[notary]}"
case_id=$(python -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['case_id'])" "$work/applications.jsonl")
# the complete decision bundle: the court re-runs the decision on its input and on facts it reads from the chain;
# the applicant's identity is disclosed to it so it can tell whether the cited licence is the applicant's own
applicant=$(python -c "import json,sys; print(json.loads(open(sys.argv[1]).readline())['applicant_ref'])" "$work/applications.jsonl")
run ledger evidence --decision "$case_id" --department GOV --applicant "$applicant" --out "$work/decision-evidence.json"
run python -I -S scripts/verify_evidence.py "$work/decision-evidence.json" --rpc "$rpc" --anchor "$anchor" --log "$log" \
    --witness-key "${witness_key[court]}" --witness-key "${witness_key[notary]}"

step "The chain against what the witnesses cosigned and what the database recorded: no rollback, no rewrite"
run ledger audit-chain

step "The applicant gets a decision notice: outcome, reasons in words, legal basis, how to ask for review; verifiable"
run ledger notice "$case_id" --department GOV --out "$work/notice.json"
run ledger notice "$case_id" --department GOV --lang zh-CN --out "$work/notice-zh-CN.json"   # the same, in Chinese
run ledger verify "$work/notice.json"

step "Approval on a commitment (notify-and-commit): the decision records the promise, its deadline and the check"
# Three notify-and-commit applications whose applicants sign the commitment; approved now, checked within 30 days.
python - "$work/applications.jsonl" "$work/commitments.jsonl" <<'PY'
import json, sys
apps = [json.loads(line) for line in open(sys.argv[1])]
chosen = [a for a in apps if a["item"].get("notify_commit") == 1 and a["item"].get("onsite_reason", 9) < 3
          and a["application"].get("online") and a["application"]["applicant_type"] == "individual"][:3]
with open(sys.argv[2], "w") as out:
    for i, a in enumerate(chosen, 1):
        a["case_id"] = f"COMMIT-{i:04d}"
        a["application"]["commitment_signed"] = True
        out.write(json.dumps(a) + "\n")
PY
python - "$work/ss-eligibility.json" rules/notify-and-commit.yaml "$work/notify-and-commit.json" <<'PY'
import json, sys, yaml
screen = yaml.safe_load(open(sys.argv[2])) | {"items": json.load(open(sys.argv[1]))["items"]}  # the same catalogue
open(sys.argv[3], "w").write(json.dumps(screen, ensure_ascii=False, indent=1) + "\n")
PY
run ledger rules publish "$work/notify-and-commit.json" --department GOV
run ledger decide "$work/commitments.jsonl" --department GOV --rules "$work/notify-and-commit.json"
run ledger supervision due --department GOV --today "$(date -u -d '+31 days' +%F)"
run ledger supervision check COMMIT-0001 --department GOV --broken --officer officer-0042 --finding MATERIALS_NOT_SUBMITTED

step "A random inspection nobody can steer: announced with a future block, drawn with that block's hash"
save() { local out=$1; shift; printf '$ %s > %s\n' "$*" "$out"; "$@" > "$out"; cat "$out"; }  # run, keep the JSON
run ledger inspect inspectors --department GOV --list-id inspectors-2026 \
    --inspector inspector-01 --inspector inspector-02 --inspector inspector-03
since=$(date -u -d '-1 day' +%FT00:00:00Z); until=$(date -u -d '+1 minute' +%FT%TZ)
save "$work/announcement.json" ledger inspect announce --department GOV --since "$since" --until "$until" \
    --rate 0.02 --inspectors inspectors-2026
announcement=$(field seq < "$work/announcement.json")
save "$work/draw.json" ledger inspect draw "$announcement" --department GOV --wait 120
draw=$(field seq < "$work/draw.json")
python -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"drawn with block {d['target_block']} ({d['block_hash']}): {len(d['sample'])} of {d['population']['count']} approvals\")" "$work/draw.json"
# the first drawn case of the main batch (the commitment cases are checked on their own)
inspected=$(python -c "import json,sys; print(next(s['case_id'] for s in json.load(open(sys.argv[1]))['sample'] if s['case_id'].startswith('CASE-')))" "$work/draw.json")
for who in inspector-01 inspector-02 inspector-03; do
  [[ $(ledger inspect assigned "$draw" --department GOV --inspector "$who") == *"\"$inspected\""* ]] && inspector=$who
done

step "The inspector finds case $inspected non-conforming; the approval is withdrawn and the applicant credit-listed"
save "$work/finding.json" ledger inspect finding --department GOV --draw "$draw" --case "$inspected" \
    --inspector "$inspector" --non-conforming --finding PREMISES_NOT_AS_DECLARED
finding=$(field seq < "$work/finding.json")
run ledger inspect withdraw --department GOV --finding "$finding" --officer officer-0042 \
    --reason APPROVAL_OBTAINED_BY_FALSE_STATEMENT --legal-basis ADMIN-LICENSING-LAW-ART-69-2 --credit-days 365
run ledger supervision credit list --department GOV

step "The same applicant applies again, claiming a clean record: the ledger's credit list refuses the fast track"
python - "$work/applications.jsonl" "$inspected" "$work/again.jsonl" <<'PY'
import json, sys
original = next(json.loads(line) for line in open(sys.argv[1]) if json.loads(line)["case_id"] == sys.argv[2])
original.update(case_id=sys.argv[2] + "-AGAIN", applicant={"blacklisted": False})  # the application's own claim
open(sys.argv[3], "w").write(json.dumps(original) + "\n")
PY
save "$work/again-result.json" ledger decide "$work/again.jsonl" --department GOV --rules "$work/ss-eligibility.json"
python -c "import json,sys; o=json.load(open(sys.argv[1]))['outcomes']; sys.exit(0 if 'approve' not in o else 'demo: a credit-listed applicant was approved!')" "$work/again-result.json"

step "The auditor replays again: every decision re-run on the credit list as of its block, the sample re-drawn"
run ledger replay --department GOV --json "$work/replay-supervision.json"
ledger supervision summary --department GOV > "$work/supervision.json"
echo "supervision summary (commitments, inspections, withdrawals, credit list; what reports read): $work/supervision.json"

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
                            "business_name": licence["fields"]["subject.name"],
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
