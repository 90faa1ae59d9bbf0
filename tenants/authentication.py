"""DRF authentication with tenant API keys: ``Authorization: Bearer vx_live_...``.

A key is pinned to its tenant: ``request.auth`` is the ``ApiKey`` and views take the tenant from
it (never from the URL or the body). ``request.user`` is an ``ApiKeyPrincipal``, not a Django
user, so session-only views never accept a key.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from tenants.models import ApiKey, ApiKeyScope, Tenant
from tenants.services import api_key_authenticate


@dataclass(frozen=True)
class ApiKeyPrincipal:
    api_key: ApiKey

    @property
    def tenant(self) -> Tenant:
        return self.api_key.tenant

    @property
    def can_write(self) -> bool:
        return self.api_key.scope == ApiKeyScope.WRITE

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, ApiKey] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: expected 'Bearer <key>'.")
        try:
            presented = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid API key.") from None
        key = api_key_authenticate(presented=presented)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        return ApiKeyPrincipal(key), key

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
