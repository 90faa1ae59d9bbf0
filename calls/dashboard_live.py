"""Dashboard pages of live calls and the softphone (namespace ``live``, under ``/t/<slug>/``).

- ``live/``: the tenant's calls in progress with their transcripts, kept current over
  ``/t/<slug>/live/ws`` (``calls.live.LiveCallsConsumer``) by ``live.js``;
- ``live/<call>/hangup/`` and ``live/<call>/transfer/`` (POST, editor and above): an operator's
  request, sent over the channel layer to whichever worker bridges the call;
- ``agents/<agent>/talk/``: "Talk to this agent", the in-browser softphone (editor and above).

Same conventions as every tenant page (``tenants.dashboard.base``): membership resolved per
request (another tenant's call or agent is a 404), viewers may look but a forged POST is a 403.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST, require_safe

from calls import live
from calls.access import access_call_by_public_id
from calls.models import Call, CallStatus, Direction
from tenants.access import access_agent_by_public_id
from tenants.dashboard.base import AuthedRequest, Workspace, page, tenant_page
from tenants.models import Role

app_name = "live"


def _is_live(call: Call) -> bool:
    return call.status == CallStatus.IN_PROGRESS and call.ended_at is None and bool(call.stream_sid)


@require_safe
@tenant_page()
def live_calls_page(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    context = {"calls": live.live_snapshot(tenant=ws.tenant)}
    return page(request, ws, "dashboard/live/calls.html", context, section="live")


def _control(request: AuthedRequest, ws: Workspace, public_id: str, action: str) -> HttpResponseBase:
    call = access_call_by_public_id(tenant=ws.tenant, public_id=public_id)
    back = redirect("live:calls", slug=ws.tenant.slug)
    if not _is_live(call):
        messages.info(request, "This call has already ended.")
        return back
    if action == live.CONTROL_TRANSFER:
        config = call.agent_revision.config if call.agent_revision else {}
        if call.direction == Direction.WEB:
            messages.error(request, "A web test call cannot be transferred.")
            return back
        if not config.get("transfer_number"):
            messages.error(request, "This call's agent has no transfer number: set one on the agent first.")
            return back
    try:
        async_to_sync(live.send_control)(
            tenant_id=ws.tenant.pk,
            call_public_id=str(call.public_id),
            action=action,
            requested_by=request.user.get_username(),
        )
    except Exception:
        messages.error(request, "The request could not be sent to the call. Try again in a moment.")
        return back
    if action == live.CONTROL_HANGUP:
        messages.success(request, "Hanging up the call.")
    else:
        messages.success(request, "Transferring the call to the agent's transfer number.")
    return back


@require_POST
@tenant_page()
def live_hangup(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponseBase:
    return _control(request, ws, public_id, live.CONTROL_HANGUP)


@require_POST
@tenant_page()
def live_transfer(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponseBase:
    return _control(request, ws, public_id, live.CONTROL_TRANSFER)


@require_safe
@tenant_page(read=Role.EDITOR)
def talk_page(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    agent = access_agent_by_public_id(tenant=ws.tenant, public_id=public_id)
    context = {"agent": agent, "published": agent.published_revision_id is not None}
    return page(request, ws, "dashboard/softphone/talk.html", context, section="agents")


urlpatterns = [
    path("live/", live_calls_page, name="calls"),
    path("live/<str:public_id>/hangup/", live_hangup, name="hangup"),
    path("live/<str:public_id>/transfer/", live_transfer, name="transfer"),
    path("agents/<str:public_id>/talk/", talk_page, name="talk"),
]
