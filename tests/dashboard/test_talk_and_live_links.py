"""The agent page offers 'Talk to this agent' to editors of a published agent, and every page
links to live calls."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from tests.conftest import Cast


def test_editors_see_talk_to_this_agent_and_viewers_do_not(client: Client, cast: Cast) -> None:
    page = reverse("dashboard:agent", args=["acme", cast.agent_a.public_id])
    talk = reverse("live:talk", args=["acme", cast.agent_a.public_id]).encode()
    client.force_login(cast.editor_a)
    assert talk in client.get(page).content
    client.force_login(cast.viewer_a)
    content = client.get(page).content
    assert talk not in content
    assert reverse("live:calls", args=["acme"]).encode() in content  # the navigation link
