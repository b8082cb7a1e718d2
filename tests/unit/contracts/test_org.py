"""The org tree: layers, moves without cycles, and a department's enterprise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import domain as d

K = d.UnitKind


def unit(uid: str, parent: str | None, kind: d.UnitKind, layer: int,
         has_board: bool = False) -> d.OrgUnitView:
    return d.OrgUnitView(id=uid, parent_id=parent, name=uid.upper(), kind=kind,
                         category="commercial_competitive", has_board=has_board, layer=layer)


HQ = unit("hq", None, K.GROUP, 1, has_board=True)
SUB = unit("sub", "hq", K.ENTERPRISE, 2, has_board=True)
THIRD = unit("third", "sub", K.ENTERPRISE, 3)
DEPT = unit("dept", "third", K.DEPARTMENT, 4)
TEAM = unit("team", "dept", K.DEPARTMENT, 5)
HQ_DEPT = unit("hq_dept", "hq", K.DEPARTMENT, 2)


def test_the_root_is_layer_one() -> None:
    assert d.layer_for(None) == 1


@pytest.mark.parametrize(("parent_layer", "layer"), [(1, 2), (2, 3), (3, 4), (4, 5)])
def test_each_unit_is_one_layer_below_its_parent(parent_layer: int, layer: int) -> None:
    assert d.layer_for(parent_layer) == layer


def test_a_parent_layer_below_one_is_a_bug() -> None:
    with pytest.raises(ValueError):
        d.layer_for(0)


# --- placement and moves ----------------------------------------------------------------------

def test_the_root_must_be_the_group() -> None:
    d.check_unit_kind(K.GROUP, None)
    with pytest.raises(d.InvalidOrgMove) as info:
        d.check_unit_kind(K.ENTERPRISE, None)
    assert "kind" in info.value.errors


def test_a_unit_with_a_parent_cannot_be_the_group() -> None:
    with pytest.raises(d.InvalidOrgMove) as info:
        d.check_unit_kind("group", "group")
    assert "kind" in info.value.errors


def test_an_enterprise_cannot_sit_in_a_department_but_a_department_can() -> None:
    d.check_unit_kind(K.ENTERPRISE, K.ENTERPRISE)
    d.check_unit_kind(K.DEPARTMENT, K.DEPARTMENT)
    d.check_unit_kind(K.DEPARTMENT, K.GROUP)
    with pytest.raises(d.InvalidOrgMove):
        d.check_unit_kind(K.ENTERPRISE, K.DEPARTMENT)


def test_moving_under_an_unrelated_unit_is_fine() -> None:
    assert d.check_move("third", "hq_dept", ["hq"]) is None


def test_a_unit_cannot_become_its_own_parent() -> None:
    with pytest.raises(d.InvalidOrgMove) as info:
        d.check_move("sub", "sub", ["hq"])
    assert info.value.status == 422 and "parent_id" in info.value.errors


def test_moving_a_unit_under_its_own_descendant_is_a_cycle() -> None:
    # `dept` sits under third under sub: moving sub under dept would loop.
    with pytest.raises(d.InvalidOrgMove, match="cycle"):
        d.check_move("sub", "dept", ["hq", "sub", "third"])


def test_cycle_is_found_when_ancestors_include_the_new_parent_itself() -> None:
    with pytest.raises(d.InvalidOrgMove):
        d.check_move("sub", "third", ["hq", "sub", "third"])


def test_the_root_cannot_be_moved() -> None:
    with pytest.raises(d.InvalidOrgMove, match="root"):
        d.check_move("hq", "sub", ["hq"], unit_is_root=True)


def test_no_unit_can_become_a_second_root() -> None:
    with pytest.raises(d.InvalidOrgMove, match="second root"):
        d.check_move("sub", None, [])


@given(st.integers(min_value=2, max_value=30), st.data())
def test_moving_anywhere_into_the_own_chain_below_is_refused(depth: int,
                                                            data: st.DataObject) -> None:
    chain = [f"u{i}" for i in range(depth)]  # u0 is the root, each the parent of the next
    mover = data.draw(st.integers(min_value=1, max_value=depth - 1))
    target = data.draw(st.integers(min_value=mover, max_value=depth - 1))
    with pytest.raises(d.InvalidOrgMove):
        d.check_move(chain[mover], chain[target], chain[:target])


# --- a department's enterprise ----------------------------------------------------------------

def test_an_enterprise_is_its_own_enterprise() -> None:
    assert d.enterprise_of(THIRD, [HQ, SUB]) is THIRD
    assert d.enterprise_of(HQ, []) is HQ


def test_a_department_belongs_to_the_nearest_enterprise_above() -> None:
    assert d.enterprise_of(DEPT, [HQ, SUB, THIRD]) is THIRD


def test_a_nested_department_skips_departments_and_ignores_the_order_of_ancestors() -> None:
    assert d.enterprise_of(TEAM, [DEPT, HQ, THIRD, SUB]) is THIRD


def test_a_department_of_the_hq_belongs_to_the_group() -> None:
    assert d.enterprise_of(HQ_DEPT, [HQ]) is HQ


def test_a_department_without_an_enterprise_above_is_refused() -> None:
    with pytest.raises(d.InvalidOrgMove):
        d.enterprise_of(TEAM, [DEPT])


def test_a_department_cycle_does_not_loop_forever() -> None:
    a = unit("a", "b", K.DEPARTMENT, 3)
    b = unit("b", "a", K.DEPARTMENT, 3)
    with pytest.raises(d.InvalidOrgMove):
        d.enterprise_of(a, [b])
