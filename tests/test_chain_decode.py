"""The chain's fast view-call decoding gives what web3's own path gives: ``Chain._decoded`` reshapes the decoded
outputs itself (``chain._result_shape``) instead of walking them through ``map_abi_data`` with web3's return
normalisers, for every output that holds no address. Compared here on every view function of the shipped
contracts, and on nested shapes none of them has yet, value for value and type for type."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eth_abi import encode
from eth_abi.tools import get_abi_strategy
from eth_utils.abi import get_abi_output_types
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3._utils.abi import map_abi_data
from web3._utils.normalizers import BASE_RETURN_NORMALIZERS

from ledger.onchain import chain
from ledger.onchain.toolchain import ARTIFACTS_FILE


def _view_output_types() -> list[tuple[str, ...]]:
    contracts = json.loads(ARTIFACTS_FILE.read_text())["contracts"]
    found = {
        tuple(get_abi_output_types(item))
        for artifact in contracts.values()
        for item in artifact["abi"]
        if item.get("type") == "function" and item.get("stateMutability") in ("view", "pure")
    }
    return sorted(found)


_NESTED = [
    ("(uint8,uint32[],(bool,bytes32)[2])",),
    ("uint256[][]", "bytes", "string"),
    ("((bytes32,uint64)[],bool)[]",),
    ("(string,(bytes,int8[3]))",),
    (),
]


def _typed(value: Any) -> Any:
    """The value with every container's type kept (a list is no tuple), for an exact comparison."""
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_typed(v) for v in value])
    return (type(value).__name__, value)


def test_the_shipped_contracts_have_view_outputs_both_ways() -> None:
    kinds = _view_output_types()
    assert any(chain._result_shape(t) is None for t in kinds)  # an address: web3's own path
    assert sum(chain._result_shape(t) is not None for t in kinds) >= 10  # none: the reshaping


@pytest.mark.parametrize("types", _view_output_types() + _NESTED, ids=lambda t: ",".join(t) or "none")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reshaping_gives_what_web3s_normalisers_give(types: tuple[str, ...], data: st.DataObject) -> None:
    values = tuple(data.draw(get_abi_strategy(t)) for t in types)
    raw = Web3().codec.decode(types, encode(types, values))  # what an eth_call answer decodes to
    reference = map_abi_data(BASE_RETURN_NORMALIZERS, types, raw)
    shape = chain._result_shape(types)
    if shape is None:
        assert any("address" in t for t in types)
        return
    assert _typed(shape(raw)) == _typed(reference)
