"""Every pattern the gateway's request models document is enforced.

the regex argument of sqlmodel's ``Field`` is accepted and shown in the OpenAPI document but not enforced (sqlmodel
0.0.50 with pydantic 2): a client could send ``"rule_set": "rules/some-file.yaml"`` where a digest is documented, and
the library would have read that file from the server's disk. Adversary: an anonymous or signed-in client sending
what the schema says is impossible."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api import models

ROOT = Path(__file__).resolve().parent.parent


def test_no_model_declares_a_pattern_that_is_not_enforced() -> None:
    for folder in ("api", "ledger"):
        for path in (ROOT / folder).rglob("*.py"):
            found = re.findall(r"\bregex\s*=", path.read_text(encoding="utf-8"))
            assert not found, (
                f"{path.relative_to(ROOT)} gives Field a regex argument (not enforced): declare the pattern on the type"
            )


@pytest.mark.parametrize(
    ("model", "values", "bad"),
    [
        (models.PublicVerifyCreate, {}, {"digest": "rules/ss-eligibility.yaml"}),
        (models.SupersedeCreate, {}, {"successor": "0x1234"}),
        (models.ChallengeCreate, {"department": "MKT"}, {"address": "not an address"}),
        (
            models.DecisionCreate,
            {"case_id": "C-1", "service_item": "S-1", "applicant_ref": "a", "input": {}},
            {"rule_set": "rules/food-business-permit.yaml"},
        ),
        (
            models.DecisionCreate,
            {"service_item": "S-1", "rule_set": "0x" + "ab" * 32, "applicant_ref": "a", "input": {}},
            {"case_id": "two words"},
        ),
    ],
)
def test_documented_patterns_refuse(model: Any, values: dict[str, Any], bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        model.model_validate({**values, **bad})
    schema = model.model_json_schema()
    (name,) = bad
    field = schema["properties"][name]
    patterns = [field.get("pattern")] + [option.get("pattern") for option in field.get("anyOf", [])]
    assert any(patterns), f"{model.__name__}.{name}: the pattern is not in the published schema"
