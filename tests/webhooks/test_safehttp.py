"""The SSRF guard: address forms, pinning, redirects, size and time bounds."""

from __future__ import annotations

import ipaddress
import ssl

import pytest

from tests.fakes.webhook_receiver import HANG, FakeWebhookReceiver, Reply
from voxsaas import safehttp

REFUSED = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://0x7f000001/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:7f00:1::]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://224.0.0.251/",
    "http://240.0.0.1/",
    "http://localhost:8000/",
]


@pytest.mark.parametrize("url", REFUSED)
def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(safehttp.BlockedAddress):
        safehttp.check_url(url, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_metadata_and_unspecified_stay_refused_when_private_is_allowed(url: str) -> None:
    with pytest.raises(safehttp.BlockedAddress):
        safehttp.check_url(url, allow_private=True)


def test_public_addresses_pass_and_private_ones_when_allowed() -> None:
    assert safehttp.check_url("https://8.8.8.8/x", allow_private=False) == ipaddress.ip_address("8.8.8.8")
    assert safehttp.check_url("http://[2606:4700::1111]/", allow_private=False).version == 6
    assert str(safehttp.check_url("http://10.0.0.5/", allow_private=True)) == "10.0.0.5"


def test_a_name_with_any_refused_answer_is_refused() -> None:
    def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "127.0.0.1"]

    with pytest.raises(safehttp.BlockedAddress):
        safehttp.check_url("https://rebind.example.com/", allow_private=False, resolver=rebinding)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "https://user:pw@example.com/", "http:///nohost", "https://example.com:99999/"],
)
def test_malformed_urls(url: str) -> None:
    with pytest.raises(safehttp.SafeHttpError):
        safehttp.split_url(url)


def test_request_goes_to_the_checked_address_with_the_original_host() -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    with FakeWebhookReceiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        response = safehttp.request(
            "POST",
            f"http://hooks.example.test:{port}/in?x=1",
            content=b"{}",
            allow_private=True,
            resolver=resolver,
        )
    assert response.status_code == 200 and response.address == "127.0.0.1"
    assert lookups == ["hooks.example.test"]  # resolved once, by us
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example.test:{port}" and request.path == "/in?x=1"


def test_refused_without_allow_private_sends_nothing() -> None:
    with FakeWebhookReceiver() as receiver:
        with pytest.raises(safehttp.BlockedAddress):
            safehttp.request("POST", receiver.url, content=b"{}", allow_private=False)
        assert receiver.requests == []


def test_redirects_are_not_followed() -> None:
    with FakeWebhookReceiver() as receiver:
        receiver.script(Reply(302, b"", headers=(("Location", receiver.url + "/elsewhere"),)))
        response = safehttp.request("POST", receiver.url, content=b"{}", allow_private=True)
        assert response.status_code == 302
        assert len(receiver.requests) == 1


def test_body_is_bounded() -> None:
    with FakeWebhookReceiver() as receiver:
        receiver.script(Reply(200, b"x" * 100_000))
        response = safehttp.request("POST", receiver.url, content=b"{}", allow_private=True, max_bytes=1000)
    assert response.truncated and len(response.body) == 1000


def test_timeout_is_enforced() -> None:
    with FakeWebhookReceiver() as receiver:
        receiver.script(HANG)
        with pytest.raises(safehttp.SafeHttpTimeout):
            safehttp.request("POST", receiver.url, content=b"{}", allow_private=True, timeout_s=0.3)


async def test_async_twin_pins_and_refuses_the_same_way() -> None:
    with FakeWebhookReceiver() as receiver:
        response = await safehttp.request_async("POST", receiver.url, content=b"{}", allow_private=True)
        assert response.status_code == 200
        with pytest.raises(safehttp.BlockedAddress):
            await safehttp.request_async("POST", receiver.url, content=b"{}", allow_private=False)
        receiver.script(HANG)
        with pytest.raises(safehttp.SafeHttpTimeout):
            await safehttp.request_async(
                "POST", receiver.url, content=b"{}", allow_private=True, timeout_s=0.3
            )
    assert len(receiver.requests) == 2


def test_one_verifying_tls_context_is_shared_by_every_client() -> None:
    """Loading the CA bundle costs 50-150 ms of CPU: done once per process, not per request
    (bench/webhook_drain.py measured a client per delivery capping a worker at a few per second)."""
    first, second = safehttp._client_options(1.0)["verify"], safehttp._client_options(5.0)["verify"]
    assert first is second
    assert isinstance(first, ssl.SSLContext)
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname
    assert first.cert_store_stats()["x509_ca"] > 0  # the certifi bundle is loaded
