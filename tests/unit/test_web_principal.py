from __future__ import annotations

import pytest

from tests.unit.support import ID_A, ID_B
from warlockd.errors import InvalidInput, NotFound
from warlockd.web.principal import Forbidden, Principal, Scope, validate_instances


def test_scopes_are_ordered_read_below_operate_below_admin() -> None:
    admin = Principal("key:a", Scope.ADMIN)
    read = Principal("key:r", Scope.READ)
    assert admin.can(Scope.READ) and admin.can(Scope.OPERATE) and admin.can(Scope.ADMIN)
    assert read.can(Scope.READ) and not read.can(Scope.OPERATE)
    assert Scope.parse(" Operate ") is Scope.OPERATE and str(Scope.OPERATE) == "operate"


def test_an_unknown_scope_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidInput, match="unknown scope") as e:
        Scope.parse("root")
    assert e.value.hint == "one of: read, operate, admin"


def test_a_principal_restricted_to_instance_a_is_told_b_does_not_exist() -> None:
    p = Principal("key:a-only", Scope.ADMIN, frozenset({ID_A}))
    assert p.sees(ID_A) and not p.sees(ID_B)
    p.require(Scope.OPERATE, ID_A)
    with pytest.raises(NotFound) as e:
        p.require(Scope.READ, ID_B)
    assert e.value.message == f"no instance {ID_B}"  # the registry's own wording


def test_a_hidden_instance_is_404_even_when_the_scope_is_too_low_too() -> None:
    p = Principal("key:r", Scope.READ, frozenset({ID_A}))
    with pytest.raises(NotFound):
        p.require(Scope.ADMIN, ID_B)
    with pytest.raises(Forbidden, match="has scope read; this needs admin"):
        p.require(Scope.ADMIN, ID_A)


def test_listings_show_only_what_the_principal_sees() -> None:
    assert Principal("k", Scope.READ, frozenset({ID_B})).visible([ID_A, ID_B]) == [ID_B]
    assert Principal("k", Scope.READ).visible([ID_A, ID_B]) == [ID_A, ID_B]


def test_host_wide_actions_need_a_principal_without_an_instance_list() -> None:
    Principal("user:root", Scope.ADMIN).require_host(Scope.ADMIN)
    with pytest.raises(Forbidden, match="restricted to some instances"):
        Principal("key:a", Scope.ADMIN, frozenset({ID_A})).require_host(Scope.ADMIN)


def test_instance_lists_are_validated_deduplicated_and_never_empty() -> None:
    assert validate_instances(None) is None
    assert validate_instances([ID_B, ID_A, ID_B]) == (ID_A, ID_B)
    assert validate_instances("default") == ("default",)
    with pytest.raises(InvalidInput, match="empty"):
        validate_instances([])
    with pytest.raises(InvalidInput, match="invalid instance id"):
        validate_instances(["../etc"])
