"""Shared fixtures: the standard cast is two tenants and users with different roles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

# Django imports stay inside the fixtures: the bridge tests run without Django
# (`pytest -p no:django tests/bridge`), and this conftest is loaded for them too.
if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from agents.models import Agent
    from tenants.models import Tenant

PASSWORD = "correct horse battery staple"


@dataclass
class Cast:
    tenant_a: Tenant
    tenant_b: Tenant
    owner_a: User
    admin_a: User
    editor_a: User
    viewer_a: User
    owner_b: User
    agent_a: Agent
    agent_b: Agent


def make_user(username: str) -> User:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD
    )


@pytest.fixture
def cast(db: None) -> Cast:
    from agents.models import Agent
    from agents.services import agent_publish
    from tenants.models import Role
    from tenants.services import membership_set, tenant_create

    tenant_a = tenant_create(slug="acme", name="Acme Plumbing")
    tenant_b = tenant_create(slug="globex", name="Globex Dental")
    users = {name: make_user(name) for name in ("owner_a", "admin_a", "editor_a", "viewer_a", "owner_b")}
    for name, role in (
        ("owner_a", Role.OWNER),
        ("admin_a", Role.ADMIN),
        ("editor_a", Role.EDITOR),
        ("viewer_a", Role.VIEWER),
    ):
        membership_set(tenant=tenant_a, user=users[name], role=role)
    membership_set(tenant=tenant_b, user=users["owner_b"], role=Role.OWNER)
    agent_a = Agent.objects.create(tenant=tenant_a, name="Acme desk", main_prompt="Help Acme callers.")
    agent_b = Agent.objects.create(tenant=tenant_b, name="Globex desk", main_prompt="Help Globex callers.")
    agent_publish(tenant=tenant_a, agent=agent_a)
    agent_publish(tenant=tenant_b, agent=agent_b)
    return Cast(tenant_a, tenant_b, agent_a=agent_a, agent_b=agent_b, **users)


@pytest.fixture(autouse=True)
def _plain_static_storage(request: pytest.FixtureRequest) -> None:
    """Production uses the hashed-manifest storage, which needs collectstatic; tests don't."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    settings = request.getfixturevalue("settings")
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
