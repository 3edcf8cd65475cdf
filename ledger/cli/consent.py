"""``ledger consent give | withdraw | list | check`` and ``ledger share``: the data subject's consent, and grants
that rely on it (docs/privacy.md#consent-from-the-person)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import InputError
from ..formats.canonical import strict_json_loads
from ..formats.certificate import read_bounded
from ..services import consent, sharing
from ..services.status import stored
from .output import open_ledger, print_json


def register(commands: Any) -> None:
    p = commands.add_parser("consent", help="the data subject's consent to sharing their certificate")
    sub = p.add_subparsers(dest="consent_command", required=True, metavar="ACTION")

    g = sub.add_parser("give", help="record consent the authenticated person gives (signed, logged, anchored)")
    g.add_argument("certificate", help="digest (0x...) of the person's certificate")
    g.add_argument(
        "--assertion",
        type=Path,
        help="the authentication provider's signed subject assertion (JSON: assertion, signature), "
        "bound to exactly this request (see --request-only)",
    )
    g.add_argument("--to", required=True, dest="recipient", help="recipient department code")
    g.add_argument("--purpose-code", required=True, help="the purpose as a code (grants must name it)")
    g.add_argument("--purpose-text", required=True, help="the purpose in words, as shown to the person (off chain)")
    g.add_argument("--fields", required=True, help="comma-separated fields the recipient may see")
    g.add_argument("--until", required=True, help="end of the consent (ISO 8601 with time zone)")
    _request_only(g)
    g.set_defaults(run=_give)

    w = sub.add_parser(
        "withdraw",
        help="withdraw a consent (the person, authenticated again); grants relying on it stop being served at once",
    )
    w.add_argument("consent_id")
    w.add_argument(
        "--assertion",
        type=Path,
        help="a fresh assertion of the same person, bound to this withdrawal (see --request-only)",
    )
    _request_only(w)
    w.set_defaults(run=_withdraw)

    ls = sub.add_parser("list", help="consents of a department, of a certificate, or of the person")
    ls.add_argument("--department", "-d")
    ls.add_argument("--certificate")
    ls.add_argument(
        "--assertion",
        type=Path,
        help="list the consents of the person this assertion authenticates (bound to the listing: see --request-only)",
    )
    _request_only(ls)
    ls.set_defaults(run=_list)

    c = sub.add_parser("check", help="consent rows against the anchored access log (exit 1 on any discrepancy)")
    c.add_argument("--department", "-d", required=True)
    c.set_defaults(run=_check)

    s = commands.add_parser(
        "share",
        help="grant another department access to a certificate (issuing department "
        "only); disclosing personal fields needs the person's consent",
    )
    s.add_argument("certificate", help="digest (0x...) or certificate id with --department")
    s.add_argument("--department", "-d")
    s.add_argument("--to", required=True, dest="grantee")
    s.add_argument("--purpose", required=True, help="why the recipient needs it (recorded with every access)")
    s.add_argument("--purpose-code", help="the consent's purpose code")
    s.add_argument("--consent", help="id of the person's consent the grant relies on")
    s.add_argument("--reveal", help="comma-separated fields to disclose (default: the whole certificate)")
    s.add_argument("--until", required=True, help="end of the grant (ISO 8601 with time zone)")
    s.set_defaults(run=_share)


def _request_only(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--request-only",
        action="store_true",
        help="print the canonical request and its digest, which the person's authentication "
        "provider shows them and signs into the assertion (docs/privacy.md); record nothing",
    )


def _bound(args: argparse.Namespace, request: dict[str, Any]) -> consent.SignedAssertion | None:
    """None when only the request is asked for (printed here); else the assertion file's contents."""
    if args.request_only:
        print_json({"request": request, "digest": consent.request_digest(request)})
        return None
    if args.assertion is None:
        raise InputError(
            "give --assertion FILE (the provider's assertion bound to this request), or "
            "--request-only to print the request for the provider to sign",
            field="--assertion",
        )
    return _assertion(args.assertion)


def _now() -> datetime:
    return datetime.now(UTC)


def _assertion(path: Path) -> consent.SignedAssertion:
    raw = read_bounded(path, consent.MAX_ASSERTION_FILE_BYTES, "assertion file")
    try:
        # strict: a key named twice (a second signature) is refused, not read as its last value
        return consent.SignedAssertion.model_validate(strict_json_loads(raw.decode("utf-8")))
    except InputError as exc:
        raise InputError(f"{path} is refused: {exc}") from None
    except (ValueError, ValidationError) as exc:
        raise InputError(
            f"{path} is not a signed subject assertion (JSON with assertion and signature): {str(exc).splitlines()[0]}"
        ) from None


def _model(cls: Any, **values: Any) -> Any:
    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InputError(first["msg"], field=".".join(str(p) for p in first["loc"])) from None


def _give(args: argparse.Namespace) -> int:
    request = _model(
        consent.ConsentCreate,
        certificate=args.certificate,
        recipient=args.recipient,
        purpose_code=args.purpose_code,
        purpose_text=args.purpose_text,
        fields=[f.strip() for f in args.fields.split(",") if f.strip()],
        expires_at=args.until,
    )
    signed = _bound(args, consent.consent_request(request))
    if signed is None:
        return 0
    now = _now()
    with open_ledger(args) as ledger:
        print_json(consent.give(ledger, assertion=signed, consent=request, now=now).public(now).model_dump(mode="json"))
    return 0


def _withdraw(args: argparse.Namespace) -> int:
    signed = _bound(args, consent.withdrawal_request(args.consent_id))
    if signed is None:
        return 0
    now = _now()
    with open_ledger(args) as ledger:
        row = consent.withdraw(ledger, assertion=signed, consent_id=args.consent_id, now=now)
        print_json(row.public(now).model_dump(mode="json"))
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.request_only:  # the request names this ledger (its consent key): an assertion lists here only
        with open_ledger(args) as ledger:
            _bound(args, consent.listing_request(ledger))
        return 0
    signed = _assertion(args.assertion) if args.assertion else None
    now = _now()
    with open_ledger(args) as ledger:
        rows = consent.list_consents(ledger, issuer=args.department, digest=args.certificate, assertion=signed, now=now)
        print_json([r.model_dump(mode="json") for r in consent.listed(ledger, rows, now)])
    return 0


def _check(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        found = consent.check(ledger, args.department)
    print_json({"department": args.department, "discrepancies": found})
    return 1 if found else 0


def _share(args: argparse.Namespace) -> int:
    now = _now()
    with open_ledger(args) as ledger:
        cert = stored(ledger, args.certificate, args.department)
        body = _model(
            sharing.GrantCreate,
            grantee=args.grantee,
            purpose=args.purpose,
            expires_at=args.until,
            purpose_code=args.purpose_code,
            consent=args.consent,
            reveal=[f.strip() for f in args.reveal.split(",") if f.strip()] if args.reveal else None,
        )
        signer = ledger.department_account(cert.department).address
        grant = sharing.create_grant(
            ledger, issuer=cert.department, signer=signer, digest="0x" + cert.digest.hex(), grant=body, now=now
        )
        print_json(grant.public(now).model_dump(mode="json"))
    return 0
