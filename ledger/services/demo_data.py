"""Deterministic demo data: service items and decision inputs that look like the real published population.

Shares follow the "all items (4,427)" column of the 2023 Shenzhen study (service-item attribute codes and shares
as published with the study).
Every function takes a seed and uses its own ``random.Random``; the module never touches global randomness.

Attribute names (snake_case) and the study's table rows they stand for; values are the study's codes:

=====================  ==================================  ============================================
attribute              study row                           generated share (study figure unless noted)
=====================  ==================================  ============================================
item_type              item type (complexity) 1-4          1: 49.4%, 2: 42.8%, 3: 4.9%*, 4: 2.9%*
promised_limit_days    promised time limit (working days)  1 day: 48.4%, mean ~13.2
legal_limit_days       legal time limit (working days)     mean ~38.6*
onsite_visits          on-site visits (count)              0: 90.5%, else 1-2*
onsite_reason          reason on-site is required 0-6      0: 90.5%, 1-2: 6.1%*, 3-6: 3.4% (4,277 < 3)
handling_type          handling type 1 instant, 2 commit.  instant 47.2%
notify_commit          notify-and-commit 0/1               no 88.3%
implementing_body      1 entrusted org., 2 statutory       statutory 80.6%
in_service_hall        in the service hall 0/1             yes 85.8%
courier                courier delivery 0/1                yes 77.1%
appointment            appointment booking 0/1             yes 69.3%
handling_form          handling forms 1-6                  1: 48.2%, 3: 38.2%, 2/4/5/6: 3/4/1.6/5%*
joint_bodies           joint-handling bodies (count)       none 97.7%, else 1-3*
item_version           item version (revisions)            mean ~20.85 (gamma shape*)
online_depth           online depth 1-4 for I-IV           IV: 79.9%, I/II/III: 4/6/10.1%*
entrusted              entrusted department 0/1            yes 10.7%
materials_required     required materials (count)          mean ~5.37 (gamma shape*)
=====================  ==================================  ============================================

``*`` marks approximations: the study gives only the head share or the mean, so the split of the remainder, the
shape of the distribution (value lists / gamma) and the caps are our choice. Correlations are approximated too:
instant items always promise 1 working day and mostly have short legal limits; on-site visits are 0 exactly when
the on-site reason is 0. Everything else is drawn independently, so fewer items show all typical features together
than the study's 192 of 4,427 — good enough for demos and load tests, not for statistics.

Applications: ~3% of applicants are blacklisted; enterprises (60%) carry a business licence, ~2% revoked, ~1%
suspended, ~2% unverified, ~1% missing, ~2% expired; ~90% have a tax-clearance certificate; ~5% submit fewer
materials than required; ~92% apply online.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

__all__ = ["catalogue", "generate_applications", "generate_service_items"]

# Non-1-day promised limits: mean of the list ~24.6, so 48.4% x 1 + 51.6% x 24.6 ~ 13.2 (study: 13.18).
_PROMISED_LONGER = (3, 5, 7, 10, 14, 20, 20, 30, 40, 60, 62)
# Legal limits: instant items mean ~20, commitment items mean ~50 (then raised to at least the promised limit), so
# the overall mean is ~38.6 (study: 38.57).
_LEGAL_INSTANT = (1, 5, 10, 15, 20, 20, 30, 60)
_LEGAL_COMMITMENT = (5, 10, 20, 30, 43, 60, 60, 60, 80, 90, 90)


def _pick(rng: random.Random, shares: Mapping[int, float]) -> int:
    return rng.choices(tuple(shares), weights=tuple(shares.values()))[0]


def _flag(rng: random.Random, share_yes: float) -> int:
    return 1 if rng.random() < share_yes else 0


def _service_item(rng: random.Random, index: int) -> dict[str, Any]:
    handling_type = 1 if rng.random() < 0.472 else 2
    if handling_type == 1:
        promised = 1
        legal = rng.choice(_LEGAL_INSTANT)
    else:
        # 48.4% of all items promise 1 day; 47.2 points are instant items, the other 1.2 points commitment items.
        promised = 1 if rng.random() < 0.012 / 0.528 else rng.choice(_PROMISED_LONGER)
        legal = max(promised, rng.choice(_LEGAL_COMMITMENT))
    onsite_reason = _pick(rng, {0: 90.5, 1: 3.5, 2: 2.6, 3: 1.2, 4: 1.0, 5: 0.8, 6: 0.4})
    return {
        "code": f"440300-{index:06d}",
        "name": f"Service item {index}",
        "item_type": _pick(rng, {1: 49.4, 2: 42.8, 3: 4.9, 4: 2.9}),
        "promised_limit_days": promised,
        "legal_limit_days": legal,
        "onsite_visits": 0 if onsite_reason == 0 else rng.choice((1, 1, 2)),
        "onsite_reason": onsite_reason,
        "handling_type": handling_type,
        "notify_commit": _flag(rng, 0.117),
        "implementing_body": 2 if rng.random() < 0.806 else 1,
        "in_service_hall": _flag(rng, 0.858),
        "courier": _flag(rng, 0.771),
        "appointment": _flag(rng, 0.693),
        "handling_form": _pick(rng, {1: 48.2, 2: 3.0, 3: 38.2, 4: 4.0, 5: 1.6, 6: 5.0}),
        "joint_bodies": 0 if rng.random() < 0.977 else rng.randint(1, 3),
        "item_version": min(80, 1 + int(rng.gammavariate(4.0, 5.1))),
        "online_depth": _pick(rng, {1: 4.0, 2: 6.0, 3: 10.1, 4: 79.9}),
        "entrusted": _flag(rng, 0.107),
        "materials_required": min(30, 1 + int(rng.gammavariate(2.5, 1.95))),
    }


def catalogue(items: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The department's catalogue of ``items`` as a screen for every item publishes it (``items`` of a ``*`` rule
    set, docs/rules.md): code -> the attributes its applications state, which the rules read in their place (red
    team round 60b)."""
    return {str(item["code"]): {k: v for k, v in item.items() if k not in ("code", "name")} for item in items}


def generate_service_items(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` service items (plain dicts: ``code``, ``name`` and the attributes above), the same for the same seed."""
    rng = random.Random(f"service-items/{seed}")
    return [_service_item(rng, i + 1) for i in range(n)]


def _digest(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(256):064x}"


def _business_licence(rng: random.Random) -> dict[str, Any] | None:
    roll = rng.random()
    certificate = {
        "type": "business-licence",
        "digest": _digest(rng),
        "verified": True,
        "status": "valid",
        "expired": False,
        "holder": True,
        "issuer": "MKT",
    }
    if roll < 0.01:
        return None
    if roll < 0.03:
        certificate["status"] = "revoked"
    elif roll < 0.04:
        certificate["status"] = "suspended"
    elif roll < 0.06:
        certificate["verified"] = False
        certificate["status"] = "unknown"
    elif roll < 0.08:
        certificate["expired"] = True
    return certificate


def _cited_licence(rng: random.Random, licences: Sequence[tuple[str, str]]) -> tuple[dict[str, Any] | None, str | None]:
    """A citation of a real issued licence by digest (the ledger establishes its facts at decision time) and the
    applicant identity that holds it, with the gaps real applications have: 1% cite none, 2% cite a digest nobody
    issued, 2% cite somebody else's licence."""
    roll = rng.random()
    if roll < 0.01:
        return None, None
    if roll < 0.03:
        return {"digest": _digest(rng)}, None
    digest, holder = rng.choice(licences)
    if roll < 0.05:
        return {"digest": digest}, None  # borrowed: the applicant is not its holder
    return {"digest": digest}, holder


def generate_applications(
    n: int, items: Sequence[Mapping[str, Any]], seed: int, *, licences: Sequence[tuple[str, str]] | None = None
) -> Iterator[dict[str, Any]]:
    """Stream ``n`` decision inputs (shape in ``ledger.formats.rules``) for items drawn from ``items``, deterministic
    per seed.

    ``applicant_ref`` is a placeholder ("applicant-<n>") for the caller to salt-hash; there is no personal data.
    With ``licences`` ((digest, holder identity) of business licences issued on this ledger), enterprise
    applications cite one of them by digest and nothing else, and apply as its holder (``applicant_ref`` is the
    holder's credit code): whether it is theirs, revoked, suspended or expired is for the ledger to find out.
    Without, certificates carry the claims the rule engine alone reads (for testing rule sets in isolation).
    """
    if not items:
        raise ValueError("generate_applications needs at least one service item")
    rng = random.Random(f"applications/{seed}")
    for number in range(1, n + 1):
        item = rng.choice(items)
        enterprise = rng.random() < 0.60
        certificates: list[dict[str, Any]] = []
        holder: str | None = None
        if licences:
            cited, holder = _cited_licence(rng, licences) if enterprise else (None, None)
            if cited is not None:
                certificates.append(cited)
        else:
            if enterprise and (licence := _business_licence(rng)) is not None:
                certificates.append(licence)
            if rng.random() < 0.90:
                certificates.append(
                    {
                        "type": "tax-clearance",
                        "digest": _digest(rng),
                        "verified": True,
                        "status": "valid",
                        "expired": False,
                    }
                )
        required = item["materials_required"]
        yield {
            "case_id": f"CASE-{number:06d}",
            "service_item": item["code"],
            "applicant_ref": holder or f"applicant-{rng.randrange(1, max(2, n // 2) + 1)}",
            "item": {k: v for k, v in item.items() if k not in ("code", "name")},
            "application": {
                "applicant_type": "enterprise" if enterprise else "individual",
                "online": rng.random() < 0.92,
                "materials_submitted": rng.randint(0, required - 1) if rng.random() < 0.05 else required,
            },
            "applicant": {"blacklisted": rng.random() < 0.03},
            "certificates": certificates,
        }
