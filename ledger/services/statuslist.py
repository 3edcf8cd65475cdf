"""W3C Bitstring Status List v1.0 for exported credentials: one list per (department, batch root, purpose).

A credential exported with ``ledger export --vc`` carries, next to its ``PlCertChainStatus`` entry, two
``BitstringStatusListEntry`` entries (purposes ``revocation`` and ``suspension``) whose ``statusListIndex`` is the
certificate's leaf index in its batch and whose ``statusListCredential`` is the gateway's public URL
``{base}/public/status-lists/{department}/{root}/{purpose}``. The list credential (:func:`list_credential`,
``ledger status-list``) states the chain as of one block: bit i is set when the certificate at leaf i of the batch
is revoked or superseded (``revocation``) or suspended (``suspension``) in the department's status events up to
that block. ``encodedList`` is multibase ``u`` + base64url (no padding) of the GZIP-compressed bitstring of
``LIST_BITS`` bits (16 KiB: every batch's list has the same size, so its length tells nothing), bit 0 being the
most significant bit of the first byte.

Its proof is *anchored* (``PlCertStatusListAnchor``), not a signature: it names the chain, contract, department,
root and block the list states, and a verifier (:func:`check_entries`, run by ``ledger verify``) checks the bit of
its own certificate against the chain's status as of that block. docs/format.md §11 is the specification.
"""

from __future__ import annotations

import http.client
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ..errors import InputError, NotFoundError, StateError

# re-exported: callers keep saying statuslist.encode, statuslist.PURPOSES, ... (formats/bitstring.py)
from ..formats.bitstring import (
    ENTRY_TYPE,
    LIST_TYPE,
    PROOF_TYPE,
    PURPOSES,
    bit,
    decode,
    encode,
    entries,
    entry_base_and_index,
    list_url,
    parse_url,
)
from ..formats.canonical import hex32, parse_hex32
from ..storage import generations

if TYPE_CHECKING:
    from ..client import Ledger

# The most a status list credential may be, read from a file (``ledger verify --status-list``) or fetched from its
# URL: its bitstring is at most 16 KiB before compression; a file past this is refused before it is parsed, not read
# to its end (red team round 54)
MAX_LIST_BYTES = 4_000_000
# ... and the most time its answer may take to arrive from the verifier's gateway: a socket's timeout bounds each
# read, so a list trickled a byte at a time held `ledger verify` for as long as whoever answered kept talking
LIST_SECONDS = 30.0

# Stored leaves found to lead to their root, kept by (department, root), at most MAX_KEPT_LEAF_BYTES of them (the
# least recently used go first). Every answer read the batch's whole leaves blob (3.2 MB at 100,000 certificates)
# and hashed it - round 64's memo was keyed by the blob's SHA-256, which needs the blob - a cost any anonymous client
# could ask for again and again (red team round 67). Leaves need no freshness: the root, anchored on chain, fixes
# them (another blob leading to it would be a hash collision), so kept leaves change nothing a list says. What may
# change is read on every answer: the row's existence and state (the store), and every status bit (the chain).
MAX_KEPT_LEAF_BYTES = 64 * 2**20
_kept_leaves: OrderedDict[tuple[str, bytes], bytes] = OrderedDict()
_kept_bytes = 0
_kept_guard = threading.Lock()


def _kept(department: str, root: bytes) -> bytes | None:
    with _kept_guard:
        leaves = _kept_leaves.get((department, root))
        if leaves is not None:
            _kept_leaves.move_to_end((department, root))
        return leaves


def _keep(department: str, root: bytes, leaves: bytes) -> None:
    global _kept_bytes
    if len(leaves) > MAX_KEPT_LEAF_BYTES:
        return
    with _kept_guard:
        if (department, root) not in _kept_leaves:
            _kept_leaves[(department, root)] = leaves
            _kept_bytes += len(leaves)
        while _kept_bytes > MAX_KEPT_LEAF_BYTES:
            _, dropped = _kept_leaves.popitem(last=False)
            _kept_bytes -= len(dropped)


def _forget(department: str, root: bytes) -> None:
    global _kept_bytes
    with _kept_guard:
        dropped = _kept_leaves.pop((department, root), None)
        if dropped is not None:
            _kept_bytes -= len(dropped)


def _leaves_lead_to(leaves: bytes, root: bytes) -> bool:
    """Whether ``leaves`` (a batch's stored leaf digests) lead to ``root``."""
    from ..storage.store import batch_tree

    return bool(leaves) and not len(leaves) % 32 and batch_tree(leaves).root == root


def _indices_of(leaves: bytes, digests: frozenset[bytes]) -> list[tuple[int, bytes]]:
    """(leaf index, digest) of every leaf of ``leaves`` that is one of ``digests``: a search of the blob per digest
    when they are few next to the leaves (a native scan each), one pass over the leaves otherwise."""
    count = len(leaves) // 32
    if len(digests) * 64 > count:
        return [(i, leaves[32 * i : 32 * i + 32]) for i in range(count) if leaves[32 * i : 32 * i + 32] in digests]
    found = []
    for digest in digests:
        at = leaves.find(digest)
        while at != -1:
            if not at % 32:
                found.append((at // 32, digest))
            at = leaves.find(digest, at + 1)
    return sorted(found)


# The format's names callers reach through this module (statuslist.encode, .entries, ...), and the module's own.
__all__ = [
    "ENTRY_TYPE",
    "LIST_TYPE",
    "MAX_LIST_BYTES",
    "PROOF_TYPE",
    "PURPOSES",
    "bit",
    "check_entries",
    "checked_report",
    "decode",
    "default_base",
    "encode",
    "entries",
    "entry_base_and_index",
    "fetch",
    "leaf_index",
    "list_credential",
    "list_url",
    "own_leaf",
]


def list_credential(
    ledger: Ledger,
    department: str,
    root: str | bytes,
    purpose: str,
    *,
    base: str,
    block: int | None = None,
    view: Any = None,
) -> dict[str, Any]:
    """The BitstringStatusListCredential of ``department``'s batch ``root`` for ``purpose``, as of ``block``
    (default: the head): bits from the department's status event stream on chain, leaf positions from the batch's
    stored leaves, which must lead to its root (the certificate rows' issuer and leaf index are not read: an insider
    editing one would clear a revoked certificate's bit). NotFoundError for a batch this ledger did not issue,
    StateError for stored leaves that do not lead to the root and for a batch the chain holds no anchoring of by
    ``department`` (whatever the store's state: a list of a root nobody anchored would say every bit clear).
    ``view``: a long-lived ChainView (the gateway's), whose department streams are read once and then only brought
    up to new heads. Every read of the chain is within the time limit (``LEDGER_VERIFY_SECONDS``; red team round
    67: a slow node held the gateway's worker thread for the list's reads times 30 s)."""
    from ..onchain.deadline import chain_limit

    chain = view.chain if view is not None else ledger.chain
    with chain_limit(chain):
        return _list_credential(ledger, department, root, purpose, base=base, block=block, view=view)


def _list_credential(
    ledger: Ledger, department: str, root: str | bytes, purpose: str, *, base: str, block: int | None, view: Any
) -> dict[str, Any]:
    from ..formats.vc import PL_CERT_V1, VC_V2, _issuer_id
    from ..onchain.chain import department_id_bytes
    from ..storage.models import BatchState
    from ..storage.store import Batch, stored_blob
    from .verify import ChainView

    dept = department_id_bytes(department)  # before the store is asked: PostgreSQL refuses a NUL in a query
    root_bytes = parse_hex32(root, "root") if isinstance(root, str) else root
    url = list_url(base, department, root_bytes, purpose)
    row = (Batch.root == hex32(root_bytes)) & (Batch.department_id == department)
    leaves = _kept(department, root_bytes)
    stored = None
    if leaves is not None:  # the row's state and its leaves' length on every answer (no blob is read for either)
        with ledger.engine.connect() as conn:
            stored = conn.execute(select(Batch.state, func.length(Batch.leaves)).where(row)).first()  # type: ignore[call-overload]
        if stored is not None and stored[1] != len(leaves):
            # the blob was edited past the ledger (cut, padded, retyped): read it again, to refuse it as below
            _forget(department, root_bytes)
            leaves = None
    if leaves is None:
        with ledger.engine.connect() as conn:
            read = conn.execute(select(Batch.state, Batch.leaves).where(row)).first()  # type: ignore[call-overload]
        if read is None or not read[1]:
            raise NotFoundError(f"no batch {hex32(root_bytes)} of department {department} in this ledger's store")
        leaves = stored_blob(read[1])
        if not _leaves_lead_to(leaves, root_bytes):
            raise StateError(
                f"the stored leaves of batch {hex32(root_bytes)} do not lead to its root: the batch was altered in "
                "the database (ledger reconcile names it), so no status list of it is published"
            )
        _keep(department, root_bytes, leaves)
        stored = read
    if stored is None:
        raise NotFoundError(f"no batch {hex32(root_bytes)} of department {department} in this ledger's store")
    state = stored[0]
    chain = ledger.chain
    if view is None:
        view = ChainView(chain, ledger.settings.confirmations, status_lookup="herd")
    head = view.head()
    upto = head if block is None else block
    if type(upto) is not int or not 0 <= upto <= head:
        raise InputError(f"block {block!r} is not between 0 and the head {head}")
    if view.batch(department, root_bytes, head) is None:
        if state == BatchState.CONFIRMED:
            # the store says the batch was anchored, but not by this department: the row names another department
            # than the one that anchored it, whose status history (read below) has no change of its certificates
            raise StateError(
                f"the store records batch {hex32(root_bytes)} as anchored by {department}, but the chain has no "
                f"anchoring of it by {department}: the batch was altered in the database (ledger reconcile names "
                "it), so no status list of it is published"
            )
        # Whatever the store's state says: a root its department never anchored has no status on chain, so its
        # list would have every bit clear on the word of whoever wrote the row (an insider's batch row holding a
        # revoked certificate's digest, or an anchored batch relabelled prepared and moved to another department).
        raise StateError(
            f"batch {hex32(root_bytes)} is not anchored on chain by {department} (the store says {state}): no status "
            "list of it is published until it is"
        )
    stream = view.department_stream(department, upto)
    codes = PURPOSES[purpose]
    set_bits = set()
    # only a leaf whose digest the department changed (under any root) can have a status: the others are not looked
    # up, so a request's work grows with the batch's changes, not its size (red team round 64)
    changed = stream.changed_digests()
    if changed:
        for index, leaf in _indices_of(leaves, changed):
            code = _status_code(stream, dept, root_bytes, leaf, upto)
            if code is not None and code in codes:
                set_bits.add(index)
    anchor = {"chain_id": chain.chain_id, "registry": chain.deployment.registry}
    return {
        "@context": [VC_V2, PL_CERT_V1],
        "id": url,
        "type": ["VerifiableCredential", LIST_TYPE],
        "issuer": {"id": _issuer_id(anchor, department), "name": department},
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encode(set_bits),
        },
        "proof": {
            "type": PROOF_TYPE,
            "chainId": chain.chain_id,
            "contract": chain.deployment.anchor,
            "department": department,
            "root": hex32(root_bytes),
            "block": upto,
        },
    }


def check_entries(
    credential: Mapping[str, Any],
    lists: Mapping[str, Any],
    view: Any,
    *,
    fetch_from: str | None = None,
    leaf: int | None = None,
) -> tuple[bool, str]:
    """Check a credential's BitstringStatusListEntry entries against the list credentials in ``lists`` (by URL;
    a missing one is fetched from its URL when that URL is on the gateway ``fetch_from``, the verifier's own
    setting, never one the credential chose): each list is the one of this certificate's batch and purpose,
    decodes, and its bit at the index agrees with the chain's status of the certificate as of the block the list
    states. ``leaf``: the certificate's leaf index when the verifier's store knows it (the entries must name it:
    the proof's sorted pairs do not fix a leaf's position). (ok, detail); ok is False with the reason when a list
    lies or cannot be read."""
    from ..formats.certificate import load_document
    from .verify import STATUS_NAMES

    status = credential.get("credentialStatus")
    found = (
        [e for e in status if isinstance(e, Mapping) and e.get("type") == ENTRY_TYPE]
        if isinstance(status, list)
        else []
    )
    if not found:
        return True, f"no {ENTRY_TYPE} in the credential"
    try:
        doc = load_document(credential)  # the envelope checks, entries included (vc.to_document)
        department = str(doc.anchor.get("department") or doc.fields["issuer"])
        root = parse_hex32(doc.anchor["root"], "anchor.root")
        digest = doc.digest()
        base, index = entry_base_and_index(found, department, root)
        head = view.head()
        batch = view.batch(department, root, head)  # the chain's count, not the document's (the holder's to edit)
        if batch is None:
            return False, f"{department} anchored no batch {hex32(root)} on this chain"
        if index >= batch.count:
            return False, f"statusListIndex {index} is outside the certificate's batch of {batch.count}"
        if leaf is not None and index != leaf:
            return False, (
                f"statusListIndex {index} is not this certificate's leaf in its batch ({leaf}): the entries "
                "name another certificate's status bit; ask the holder for the issuer's export"
            )
        said = []
        for entry in found:
            url, purpose = entry["statusListCredential"], entry["statusPurpose"]
            listed = lists.get(url)
            if listed is None:
                if fetch_from is None or base != fetch_from.rstrip("/"):
                    # The entries are the holder's to edit: fetching whatever host they name would let a holder
                    # learn who verifies and when, or aim the verifier's machine at its own network.
                    return True, (
                        f"not checked: the credential's status lists are on {base}, not on this "
                        f"verifier's gateway {fetch_from}; download them from a source you trust and "
                        "give them with --status-list FILE"
                    )
                try:
                    listed = fetch(url)
                except _Unreachable as exc:  # the chain's status (the status check) still decides
                    return True, f"not checked: {exc}"
            block = _check_list(listed, url, purpose, department, root, view.chain, head)
            stream = view.department_stream(department, block)
            from ..onchain.chain import department_id_bytes

            code = _status_code(stream, department_id_bytes(department), root, digest, block)
            on_chain = code is not None and code in PURPOSES[purpose]
            in_list = bit(decode(listed["credentialSubject"]["encodedList"]), index)
            if in_list != on_chain:
                name = STATUS_NAMES[code] if code is not None else "valid"
                return False, (
                    f"the {purpose} status list of {url} says bit {index} is {int(in_list)}, but the chain "
                    f"says the certificate was {name} at block {block}: the list lies; do not trust it"
                )
            said.append(f"{purpose} bit {int(in_list)} as of block {block}")
        return True, f"statusListIndex {index}: " + ", ".join(said) + ", as on chain"
    except (InputError, NotFoundError) as exc:
        return False, str(exc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return False, f"a status list is malformed ({type(exc).__name__}: {exc})"


def _status_code(stream: Any, dept: bytes, root: bytes, digest: bytes, upto: int) -> int | None:
    """The status code in force at block ``upto`` of certificate ``digest`` of batch ``root`` (None: never changed),
    from its department's stream: its own last change, unless the department revoked or superseded the same digest
    under another of its roots by then (anchored again: the same certificate, ended; red team round 42), or holds
    it suspended under another (red team round 46)."""
    last = stream.last((dept, root, digest), upto)
    code = None if last is None else int(last[0])
    if code not in (2, 3):
        ended, held = stream.elsewhere(dept, digest, upto)
        if ended is not None and ended[0] != root:
            return int(ended[1])
        if held is not None and held[0] != root and held[1] == 1:  # a suspension under another root (round 46)
            return 1
    return code


def _check_list(listed: Any, url: str, purpose: str, department: str, root: bytes, chain: Any, head: int) -> int:
    """The block a list credential states, after checking it is the list at ``url``; InputError otherwise."""
    if not isinstance(listed, Mapping) or LIST_TYPE not in (listed.get("type") or []):
        raise InputError(f"the status list for {url} is not a {LIST_TYPE}")
    subject, proof = listed.get("credentialSubject"), listed.get("proof")
    if not isinstance(subject, Mapping) or not isinstance(proof, Mapping) or proof.get("type") != PROOF_TYPE:
        raise InputError(f"the status list for {url} has no BitstringStatusList subject and {PROOF_TYPE} proof")
    wanted = {
        "chainId": chain.chain_id,
        "contract": chain.deployment.anchor,
        "department": department,
        "root": hex32(root),
    }
    wrong = sorted(k for k, v in wanted.items() if str(proof.get(k)).lower() != str(v).lower())
    if listed.get("id") != url or subject.get("statusPurpose") != purpose or wrong:
        raise InputError(
            f"the status list given for {url} is another list (its id, statusPurpose or "
            f"{', '.join(wrong) or 'proof'} differ): give the list of this certificate's batch"
        )
    block = proof.get("block")
    if type(block) is not int or not 0 <= block <= head:
        raise InputError(
            f"the status list for {url} states block {block!r}, which this chain (head {head}) has not reached"
        )
    return block


class _Unreachable(InputError):
    """A status list URL that could not be fetched (as opposed to a list that was fetched and is wrong)."""


def fetch(url: str, timeout: float = 10.0) -> Any:
    """GET a list credential from its URL; InputError when it cannot be had (give the file with --status-list).

    Whatever answers at the gateway's address (a relay in front of it) writes the answer: a redirect is not followed
    (the URL is on the verifier's own gateway, and a ``Location`` would aim the verifier's machine at any host the
    relay named), and the list is read within :data:`MAX_LIST_BYTES` and :data:`LIST_SECONDS`, not for as long as
    it keeps trickling (red team round 76; ledger/services/_remote.py)."""
    import urllib.error

    from ..formats.canonical import strict_json_loads
    from ._remote import AnswerRefused, AnswerTooLarge, bounded_read, open_url, quoted

    try:
        with open_url(url, timeout=timeout) as answer:  # http(s) only, by parse_url
            raw = bounded_read(answer, MAX_LIST_BYTES, LIST_SECONDS)
    except urllib.error.HTTPError as exc:
        why = "a redirect, which is not followed" if 300 <= exc.code < 400 else quoted(str(exc.reason))
        raise _Unreachable(
            f"could not fetch the status list {url} (HTTP {exc.code}: {why}); download it and give it with "
            "--status-list FILE"
        ) from None
    except AnswerTooLarge:
        raise InputError(
            f"the status list at {url} is over {MAX_LIST_BYTES} bytes, the most a status list may be"
        ) from None
    except AnswerRefused as exc:  # too slow: the chain's status (the status check) still decides
        raise _Unreachable(
            f"could not fetch the status list {url} ({exc}); download it and give it with --status-list FILE"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Unreachable(
            f"could not fetch the status list {url} ({quoted(str(exc) or type(exc).__name__)}); download it and "
            "give it with --status-list FILE"
        ) from None
    try:
        return strict_json_loads(raw)  # a key named twice would mean two lists
    except ValueError as exc:
        raise InputError(f"the status list at {url} is not JSON ({exc})") from None


def checked_report(ledger: Ledger, report: Any, credential: Any, view: Any, *, base: str) -> Any:
    """``report`` with the ``status_list`` check ``ledger verify`` adds (:func:`check_entries`), for a verifier that
    holds the store and serves the lists itself (the gateway): the entries must name the certificate's own leaf
    when the store holds it, and a list on ``base`` is this ledger's own, built here (never fetched); a list on any
    other host is not checked, as ``ledger verify`` says. ``report`` unchanged for anything but a readable
    credential with ``BitstringStatusListEntry`` entries. Without it a holder's credential whose entries name a
    neighbour's leaf was verified by the gateway and refused by ``ledger verify`` (red team round 33)."""
    import dataclasses

    from ..errors import LedgerError
    from ..formats import vc
    from .verify import Check

    status = credential.get("credentialStatus") if vc.is_credential(credential) else None
    found = (
        [e for e in status if isinstance(e, Mapping) and e.get("type") == ENTRY_TYPE] if type(status) is list else []
    )
    if not found or report.digest is None or not report.check("format").ok:
        return report
    leaf = own_leaf(ledger, report.digest)
    lists: dict[str, Any] = {}
    try:
        for entry in found:
            url = entry.get("statusListCredential")
            try:
                on, department, root, purpose = parse_url(url)
            except InputError:
                continue  # check_entries names the problem
            if on == base.rstrip("/") and isinstance(url, str) and url not in lists:
                lists[url] = list_credential(ledger, department, root, purpose, base=base, view=view)
        ok, detail = check_entries(credential, lists, view, fetch_from=base, leaf=leaf)
    except LedgerError as exc:
        ok, detail = False, f"the status lists could not be checked: {exc.local_message()}"
    return dataclasses.replace(report, checks=(*report.checks, Check("status_list", ok, detail)))


def own_leaf(ledger: Ledger, digest: str) -> int | None:
    """:func:`leaf_index` of a certificate this store holds, or None for one it does not: the leaf a
    credential's entries must name when the verifier holds the store (``ledger verify``, the gateway)."""
    try:
        return leaf_index(ledger, digest)
    except (NotFoundError, InputError):
        return None


def leaf_index(ledger: Ledger, digest: str) -> int:
    """The leaf index of a stored certificate (``0x`` + 64 hex) in its batch: its statusListIndex."""
    from ..storage.store import Certificate

    with ledger.engine.connect() as conn:
        found = conn.execute(
            select(Certificate.leaf_index).where(  # type: ignore[call-overload]
                generations.digest_in(conn, [hex32(parse_hex32(digest, "digest"))])
            )
        ).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"certificate {digest} is not in this ledger's store")
    return int(found)


def default_base(settings: Any) -> str:
    """The gateway URL status list entries point at: LEDGER_API_PUBLIC_URL (the gateway's own setting, read once in
    ``Settings``) or the gateway's default."""
    return (settings.api_public_url or "http://127.0.0.1:8000").rstrip("/")
