"""Capability URLs for a resource's .ics feed.

Calendar apps subscribe without logging in, so the URL itself is the credential: the token is an
HMAC (``django.core.signing``, keyed by SECRET_KEY) over the resource's public id and its feed
generation. A token of one resource never opens another, and ``resource_feed_rotate`` (which
bumps the generation) revokes every URL handed out before.
"""

from __future__ import annotations

import uuid

from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare

from agents.scheduling.models import Resource
from tenants.access import TenantObjectNotFound

_SALT = "agents.scheduling.ics-feed"


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def feed_token(resource: Resource) -> str:
    return _signer().signature(f"{resource.public_id}:{resource.feed_generation}")


def feed_path(resource: Resource) -> str:
    return reverse(
        "scheduling:ics-feed", kwargs={"resource_id": str(resource.public_id), "token": feed_token(resource)}
    )


def access_resource_by_feed_token(*, public_id: str, token: str) -> Resource:
    """The entry point of a feed request: the signed URL names the resource (and so the tenant).
    A wrong token, an unknown resource and an inactive tenant are the same 404."""
    try:
        parsed = uuid.UUID(public_id)
    except ValueError:
        raise TenantObjectNotFound("No calendar found.") from None
    resource = (
        Resource.objects.select_related("tenant").filter(public_id=parsed, tenant__is_active=True).first()
    )
    if resource is None or not constant_time_compare(feed_token(resource), token):
        raise TenantObjectNotFound("No calendar found.")
    return resource
