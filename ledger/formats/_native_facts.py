"""Replay's facts check's native fast path (``_hashcore.facts_check``): one call per decision.

``replay._Facts.check_reference`` is the reference. The native check answers a decision with exactly its findings
(kinds, order, texts) and its rules' view of the facts, or declines (None), and then the reference checks the whole
decision from its start, never part of it: a value of another type than the reference's own (a subclass, another
mapping), a decision moment or facts the reference has not worked out yet for the chunk (it parses and establishes
them; the next decisions of the chunk find them), a citation of an erased certificate (its fact is re-established
from the store), a holding through another disclosed field than its type's (``held_by_other_field``), a finding that
would show a recorded list or object, any error (a callback's included: they are pure, and the reference calls them
again and meets the same error). What needs the chain or the applicant secret stays Python, called back from C in
the reference's order: when and by whom the decision was taken (``_Facts._judge``), a certificate's status as of the
decision block (``_Facts._status_of``), the applicant's salted reference (``applicant_reference``).
tests/test_native_facts.py compares the two on generated facts and records.
"""

from __future__ import annotations

from typing import Any

from ._native import NATIVE

# facts_check(body, decision_input, department, anchor, moments, judged, judge, cache, erased, shredded, status_of,
# reference) -> (findings, views | None) | None
facts_check: Any = getattr(NATIVE, "facts_check", None)
