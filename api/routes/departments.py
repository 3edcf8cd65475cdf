"""The department registry as the chain has it (non-personal: codes, names, keys, roles, status)."""

from __future__ import annotations

from fastapi import APIRouter

from ledger.services.departments import list_departments

from ..deps import CurrentDepartment, LedgerDep
from ..limits import GuardedRoute
from ..models import DepartmentPublic
from ..problems import AUTHED

router = APIRouter(prefix="/departments", tags=["departments"], route_class=GuardedRoute)


@router.get("", response_model=list[DepartmentPublic], responses=AUTHED)
def read_departments(caller: CurrentDepartment, ledger: LedgerDep) -> list[DepartmentPublic]:
    """Every registered department with its current key, roles, status, certificate types and service items, read
    from the registry contract."""
    return [DepartmentPublic(**d.to_json()) for d in list_departments(ledger.chain)]
