"""Dashboard pages of calls: the list, a call's timeline, its recording and transcript exports."""

from __future__ import annotations

import mimetypes
import re

from django.core.files.base import File
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_safe

from calls.access import access_call_by_public_id
from calls.dashboard import listing, timeline
from calls.forms import KNOWN_END_REASONS, CallFilterForm
from tenants.dashboard.base import AuthedRequest, Workspace, is_htmx, page, tenant_page

RANGE_HEADER = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_RANGE_BYTES = 4 * 1024 * 1024  # an open-ended range is answered in chunks of this size


@require_safe
@tenant_page()
def call_list(request: AuthedRequest, ws: Workspace) -> HttpResponse:
    form = CallFilterForm(request.GET or None, tenant=ws.tenant)
    if form.is_bound and not form.is_valid():
        result = listing.CallPage([], None, None)
    else:
        calls = listing.filtered_calls(tenant=ws.tenant, filters=form.cleaned_data if form.is_bound else {})
        result = listing.call_page(
            calls,
            after=listing.Cursor.decode(request.GET.get("after")),
            before=listing.Cursor.decode(request.GET.get("before")),
        )
    query = request.GET.copy()
    for key in ("after", "before"):
        query.pop(key, None)
    context = {
        "form": form,
        "page": result,
        "filter_query": query.urlencode(),
        "end_reasons": KNOWN_END_REASONS,
    }
    template = "dashboard/calls/_results.html" if is_htmx(request) else "dashboard/calls/list.html"
    return page(request, ws, template, context, section="calls")


@require_safe
@tenant_page()
def call_detail(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    call = access_call_by_public_id(tenant=ws.tenant, public_id=public_id)
    segments = timeline.call_segments(call)
    events = timeline.call_events(call)
    latencies = timeline.turn_latencies(events)
    context = {
        "call": call,
        "items": timeline.timeline(call, segments, events),
        "summary": timeline.call_summary(call),
        "latencies": latencies,
        "latency_bars": timeline.latency_bars(latencies),
        "tool_calls": sum(1 for e in events if e.type == "tool_call"),
        "interruptions": sum(1 for e in events if e.type == "interruption"),
    }
    return page(request, ws, "dashboard/calls/detail.html", context, section="calls")


@require_safe
@tenant_page()
def call_recording(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponseBase:
    """The call's recording, only through this tenant-checked view (never a public media URL).
    Supports a single byte range so the audio player can seek."""
    call = access_call_by_public_id(tenant=ws.tenant, public_id=public_id)
    if not call.recording:
        raise Http404("This call has no recording.")
    try:
        size = call.recording.size
        handle = call.recording.open("rb")
    except (OSError, ValueError):
        raise Http404("The recording file is missing.") from None
    content_type = mimetypes.guess_type(call.recording.name)[0] or "audio/wav"
    filename = f"call-{call.public_id}{mimetypes.guess_extension(content_type) or '.wav'}"
    match = RANGE_HEADER.match(request.headers.get("Range", ""))
    if match is None or match.groups() == ("", ""):
        response: HttpResponseBase = FileResponse(handle, content_type=content_type, filename=filename)
    else:
        response = _range_response(handle, size, match[1], match[2], content_type)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _range_response(handle: File, size: int, first: str, last: str, content_type: str) -> HttpResponse:
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else min(size - 1, start + MAX_RANGE_BYTES - 1)
    else:  # a suffix range: the last N bytes
        start, end = max(0, size - int(last)), size - 1
    with handle:
        if start >= size or end < start:
            refused = HttpResponse(status=416)
            refused["Content-Range"] = f"bytes */{size}"
            return refused
        handle.seek(start)
        data = handle.read(end - start + 1)
    response = HttpResponse(data, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{size}"
    return response


@require_safe
@tenant_page()
def call_transcript_txt(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    call = access_call_by_public_id(tenant=ws.tenant, public_id=public_id)
    text = timeline.transcript_text(call, timeline.call_segments(call), timeline.call_summary(call))
    response = HttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="call-{call.public_id}.txt"'
    return response


@require_safe
@tenant_page()
def call_transcript_json(request: AuthedRequest, ws: Workspace, public_id: str) -> HttpResponse:
    call = access_call_by_public_id(tenant=ws.tenant, public_id=public_id)
    data = timeline.transcript_json(
        call, timeline.call_segments(call), timeline.call_events(call), timeline.call_summary(call)
    )
    response = JsonResponse(data, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="call-{call.public_id}.json"'
    return response
