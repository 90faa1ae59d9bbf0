"""Tools: the editor validates the JSON Schema; secrets are write-only; "test this tool"
validates sample arguments and shows the request (and the response when it can be sent)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from agents.models import Tool
from tests.dashboard.catalogue import _tool_form
from tests.dashboard.conftest import World, signed_in
from tests.fakes.webhook_receiver import FakeWebhookReceiver, Reply

NEW = reverse("dashboard:tool-new", args=["acme"])


def test_new_tool_form_starts_from_an_example_schema(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    html = client.get(NEW).content.decode()
    assert "Example schema" in html and "additionalProperties" in html
    assert "&quot;order_number&quot;" in html  # prefilled into the parameters field


def test_create_validates_with_clear_messages(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    data = _tool_form(world.a) | {
        "name": "1bad name",
        "parameters": '{"type": "array"}',
        "url": "not a url",
        "headers": '{"X-Team": 5}',
        "secret_headers_input": "{nope",
        "timeout_s": "99",
    }
    html = client.post(NEW, data).content.decode()
    assert "Letters, digits, _ and -, starting with a letter" in html
    assert "must be a JSON object with &quot;type&quot;: &quot;object&quot;" in html
    assert "Enter a valid URL." in html
    assert "header names and text values" in html
    assert "Enter a valid JSON object." in html
    assert "less than or equal to 30.0" in html
    broken_schema = client.post(
        NEW, _tool_form(world.a) | {"parameters": '{"type": "object", "properties": 3}'}
    )
    assert "Invalid JSON Schema" in broken_schema.content.decode()
    clash = client.post(NEW, _tool_form(world.a) | {"name": world.a.tool.name})
    assert "Another tool already has this name." in clash.content.decode()
    assert list(Tool.objects.filter(tenant=world.a.tenant)) == [world.a.tool]


def test_a_new_tool_gets_a_signing_secret_shown_once(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    response = client.post(NEW, _tool_form(world.a) | {"name": "book_table"})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store, private"
    secret = re.search(r'id="signing-secret" type="text" readonly value="([^"]+)"', response.content.decode())
    assert secret is not None
    tool = Tool.objects.get(tenant=world.a.tenant, name="book_table")
    assert tool.signing_secret == secret.group(1) and len(secret.group(1)) >= 40
    assert (
        secret.group(1)
        not in client.get(reverse("dashboard:tool", args=["acme", tool.public_id])).content.decode()
    )


def test_secrets_are_write_only(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    url = reverse("dashboard:tool", args=["acme", world.a.tool.public_id])
    html = client.get(url).content.decode()
    assert "signing-secret-a" not in html and "hidden-header-a" not in html
    data = _tool_form(world.a) | {
        "name": world.a.tool.name,
        "parameters": json.dumps(world.a.tool.parameters),
    }
    assert client.post(url, data).status_code == 302
    world.a.tool.refresh_from_db()
    assert world.a.tool.signing_secret == "signing-secret-a-0123456789"  # kept
    assert "hidden-header-a" in world.a.tool.secret_headers
    client.post(url, data | {"signing_secret_input": "new-secret", "clear_secret_headers": "on"})
    world.a.tool.refresh_from_db()
    assert world.a.tool.signing_secret == "new-secret" and world.a.tool.secret_headers == ""


def _test(client: Client, world: World, arguments: Any, *, htmx: bool = True) -> str:
    url = reverse("dashboard:tool-test", args=["acme", world.a.tool.public_id])
    headers = {"HX-Request": "true"} if htmx else {}
    body = arguments if isinstance(arguments, str) else json.dumps(arguments)
    response = client.post(url, {"arguments": body}, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def receiver(settings: Any) -> Iterator[FakeWebhookReceiver]:
    settings.ALLOW_PRIVATE_WEBHOOK_ADDRESSES = True  # the fake listens on 127.0.0.1
    with FakeWebhookReceiver(default=Reply(200, b'{"status": "shipped", "eta": "tomorrow"}')) as fake:
        yield fake


def test_arguments_are_validated_against_the_schema(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    html = _test(client, world, {"order_number": "A" * 20, "colour": "red"})
    assert "do not match the schema" in html
    assert "order_number: &#x27;AAAAAAAAAAAAAAAAAAAA&#x27; is too long" in html
    assert "Additional properties are not allowed (&#x27;colour&#x27; was unexpected)" in html
    assert "not valid JSON" in _test(client, world, "{oops")
    assert "must be a JSON object" in _test(client, world, "[1, 2]")


def test_a_valid_test_sends_the_signed_request_and_shows_the_response(
    client: Client, world: World, receiver: FakeWebhookReceiver
) -> None:
    Tool.objects.filter(pk=world.a.tool.pk).update(url=receiver.url)
    signed_in(client, world.cast.editor_a)
    html = _test(client, world, {"order_number": "A-1"})
    assert len(receiver.requests) == 1
    sent = receiver.requests[0]
    assert json.loads(sent.body)["arguments"] == {"order_number": "A-1"}
    assert sent.headers["authorization"] == "Bearer hidden-header-a"
    assert "x-voxsaas-signature" in sent.headers
    assert f"POST {receiver.url}" in html
    assert "Authorization: ••••••" in html and "hidden-header-a" not in html  # masked on the page
    assert "X-VoxSaaS-Signature: v1=" in html
    assert "&quot;eta&quot;: &quot;tomorrow&quot;" in html and ">200</span>" in html
    full_page = _test(client, world, {"order_number": "A-2"}, htmx=False)
    assert "Test this tool" in full_page and "&quot;status&quot;: &quot;shipped&quot;" in full_page


def test_an_unreachable_endpoint_is_reported(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    Tool.objects.filter(pk=world.a.tool.pk).update(url="http://127.0.0.1:9/hooks")  # private: refused
    html = _test(client, world, {"order_number": "A-1"})
    assert "Validated request" in html and 'class="callout bad small"' in html


def test_without_the_sender_module_the_validated_request_is_a_preview(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "calls.toolbox.webhook", None)  # importing it now raises ImportError
    signed_in(client, world.cast.editor_a)
    html = _test(client, world, {"order_number": "A-1"})
    assert "Preview only" in html
    assert "&quot;order_number&quot;: &quot;A-1&quot;" in html
    assert "Response" not in html


def test_delete_a_tool(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    response = client.post(reverse("dashboard:tool-delete", args=["acme", world.a.tool.public_id]))
    assert response.status_code == 302
    assert not Tool.objects.filter(pk=world.a.tool.pk).exists()
    assert Tool.objects.filter(pk=world.b.tool.pk).exists()
