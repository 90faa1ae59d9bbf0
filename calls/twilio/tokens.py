"""The signed, short-lived call token passed to the media stream in a TwiML <Parameter>.

It binds a WebSocket stream to exactly one Call of one tenant: the stream's ``start`` must carry
a token whose call, tenant and Twilio CallSid all match, within ``max_age`` seconds of the
webhook answer (Twilio connects the stream immediately after reading the TwiML).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing

_SALT = "voxsaas.calls.stream-token"
DEFAULT_MAX_AGE_S = 120


@dataclass(frozen=True)
class CallToken:
    call_public_id: str
    tenant_id: int
    call_sid: str


class InvalidCallToken(Exception):
    pass


def make_call_token(*, call_public_id: str, tenant_id: int, call_sid: str) -> str:
    return signing.dumps({"c": call_public_id, "t": tenant_id, "s": call_sid}, salt=_SALT, compress=False)


def read_call_token(token: str, *, max_age_s: int = DEFAULT_MAX_AGE_S) -> CallToken:
    try:
        data = signing.loads(token, salt=_SALT, max_age=max_age_s)
        return CallToken(call_public_id=str(data["c"]), tenant_id=int(data["t"]), call_sid=str(data["s"]))
    except signing.SignatureExpired:
        raise InvalidCallToken("call token expired") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidCallToken("call token invalid") from None


_DIAL_SALT = "voxsaas.calls.dial-action"
DIAL_TOKEN_MAX_AGE_S = 6 * 3600  # a transferred call may last a while before Twilio reports back


def make_dial_token(*, call_public_id: str, tenant_id: int) -> str:
    """Names the call in the <Dial action> URL of a transfer (Twilio signs the whole URL too)."""
    return signing.dumps({"c": call_public_id, "t": tenant_id}, salt=_DIAL_SALT, compress=False)


def read_dial_token(token: str) -> tuple[str, int]:
    try:
        data = signing.loads(token, salt=_DIAL_SALT, max_age=DIAL_TOKEN_MAX_AGE_S)
        return str(data["c"]), int(data["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidCallToken("dial token invalid") from None
