"""Every page renders for every role; a viewer sees no edit controls; roles gate the controls."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.dashboard.catalogue import HTML_PAGES, PAGES, RANK, ROLE_USERS
from tests.dashboard.conftest import World, signed_in

# The sign-out button is the one POST form every page has.
SIGN_OUT_FORMS = 1


@pytest.mark.parametrize("role", list(ROLE_USERS))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_for_every_role(client: Client, world: World, name: str, role: str) -> None:
    page = PAGES[name]
    signed_in(client, getattr(world.cast, ROLE_USERS[role]))
    response = client.get(page.url("acme", world.a))
    expected = 200 if RANK[role] >= RANK[page.read] else 403
    assert response.status_code == expected, response.content[:500]
    if expected == 200 and name in HTML_PAGES:
        html = response.content.decode()
        assert "Acme Plumbing" in html
        assert "Globex" not in html
        assert 'aria-current="page"' in html  # the left navigation marks where we are


@pytest.mark.parametrize("name", [n for n in HTML_PAGES if PAGES[n].read == "viewer"])
def test_a_viewer_gets_no_edit_controls(client: Client, world: World, name: str) -> None:
    signed_in(client, world.cast.viewer_a)
    html = client.get(PAGES[name].url("acme", world.a)).content.decode()
    assert html.count('method="post"') == SIGN_OUT_FORMS
    assert "Save draft" not in html and "Publish</button>" not in html


@pytest.mark.parametrize(
    ("name", "control"),
    [
        ("agent", "Save draft"),
        ("agent", "Publish</button>"),
        ("agent", "Save tools"),
        ("tool", "Save tool"),
        ("tool", "Send test request"),
        ("number", ">Save</button>"),
        ("agents", "New agent"),
        ("numbers", "Connect a number"),
    ],
)
def test_an_editor_gets_the_edit_controls(client: Client, world: World, name: str, control: str) -> None:
    signed_in(client, world.cast.editor_a)
    assert control in client.get(PAGES[name].url("acme", world.a)).content.decode()


@pytest.mark.parametrize(("name", "control"), [("team", "Send invitation"), ("api-keys", "Create key")])
@pytest.mark.parametrize(("role", "shown"), [("editor", False), ("admin", True), ("owner", True)])
def test_team_and_key_controls_are_for_admins(
    client: Client, world: World, name: str, control: str, role: str, shown: bool
) -> None:
    signed_in(client, getattr(world.cast, ROLE_USERS[role]))
    html = client.get(PAGES[name].url("acme", world.a)).content.decode()
    assert (control in html) is shown
    assert (html.count('method="post"') > SIGN_OUT_FORMS) is shown


def test_anonymous_visitors_are_sent_to_sign_in(client: Client, world: World) -> None:
    for page in PAGES.values():
        response = client.get(page.url("acme", world.a))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("dashboard:login"))


def test_navigation_lists_every_section_and_the_later_ones(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = client.get(reverse("dashboard:overview", args=["acme"])).content.decode()
    for label in ("Overview", "Calls", "Agents", "Tools", "Phone numbers", "Team", "API keys", "Usage"):
        assert f"{label}</a>" in html
    for later in ("Knowledge", "Contacts", "Calendar", "Live calls", "Webhooks"):
        assert later in html


def test_vendored_assets_are_local_and_no_cdn_is_referenced(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = client.get(reverse("dashboard:overview", args=["acme"])).content.decode()
    assert "/static/vendor/htmx/htmx.min.js" in html
    assert "/static/vendor/uplot/uPlot.iife.min.js" in html
    assert "://cdn" not in html and "unpkg" not in html and "jsdelivr" not in html
    assert " onclick=" not in html and " onchange=" not in html and " onsubmit=" not in html
