"""403 means "your role may not do this inside your own tenant": a viewer's forged POST, an
editor's POST to the team or API keys. The refused request changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.dashboard.catalogue import ACTIONS, RANK, ROLE_USERS, snapshot
from tests.dashboard.conftest import World, signed_in


@pytest.mark.parametrize("name", list(ACTIONS))
def test_a_viewers_forged_post_is_403_and_changes_nothing(client: Client, world: World, name: str) -> None:
    signed_in(client, world.cast.viewer_a)
    action = ACTIONS[name]
    before = snapshot()
    assert client.post(action.url("acme", world.a), action.data(world.a)).status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("name", [n for n, a in ACTIONS.items() if a.write == "admin"])
def test_an_editor_may_not_manage_the_team_or_keys(client: Client, world: World, name: str) -> None:
    signed_in(client, world.cast.editor_a)
    action = ACTIONS[name]
    before = snapshot()
    assert client.post(action.url("acme", world.a), action.data(world.a)).status_code == 403
    assert snapshot() == before


# The member actions target the owner, whom only an owner may change (see test_team.py).
GATE_CASES = [
    (name, role)
    for name in ACTIONS
    for role in ROLE_USERS
    if not (name in ("member-role", "member-remove") and role == "admin")
]


@pytest.mark.parametrize(("name", "role"), GATE_CASES)
def test_allowed_roles_get_past_the_gate(client: Client, world: World, name: str, role: str) -> None:
    """Not a 403 for the roles that may (the request itself may still be refused as invalid)."""
    signed_in(client, getattr(world.cast, ROLE_USERS[role]))
    action = ACTIONS[name]
    status = client.post(action.url("acme", world.a), action.data(world.a)).status_code
    if RANK[role] >= RANK[action.write]:
        assert status != 403
    else:
        assert status == 403
