"""Every API error as an RFC 9457 problem details document (``application/problem+json``).

Shape::

    {"type": "about:blank", "title": "Not Found", "status": 404,
     "detail": "No agent found.", "code": "not_found"}

Validation errors add ``errors``: ``[{"pointer": "#/to", "detail": "...", "code": "invalid"}]``
(JSON Pointers into the request body). API exceptions may carry ``problem_extra`` (more
members). The same shape is used for URLs that match nothing under ``/api/`` and for server
errors there (``handler404``/``handler500``). ``instance`` is left out on purpose: a 404 for
another tenant's object must be byte-for-byte the 404 for a missing one.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


def problem(*, status_code: int, detail: str, code: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    body.update(extra)
    return body


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _is_leaf(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"message", "code"}


def flatten_errors(details: Any, pointer: str = "#") -> list[dict[str, str]]:
    """DRF's nested ``get_full_details()`` as a flat list of pointer/detail/code."""
    if _is_leaf(details):
        return [{"pointer": pointer, "detail": str(details["message"]), "code": str(details["code"])}]
    errors: list[dict[str, str]] = []
    if isinstance(details, dict):
        for key, value in details.items():
            child = pointer if key == "non_field_errors" else f"{pointer}/{_escape(str(key))}"
            errors += flatten_errors(value, child)
    elif isinstance(details, list):
        for index, value in enumerate(details):
            errors += flatten_errors(value, pointer if _is_leaf(value) else f"{pointer}/{index}")
    return errors


def _convert(exc: Exception) -> Exception:
    if isinstance(exc, Http404):
        # TenantObjectNotFound is an Http404: keep its message ("No agent found.").
        return exceptions.NotFound(str(exc) or None)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, ProtectedError | RestrictedError):
        return Conflict("Other records still refer to this one; remove or reassign them first.")
    if isinstance(exc, DjangoValidationError):
        # Model/service validation raised in a view: the same 400 as a serializer's.
        return exceptions.ValidationError(get_error_detail(exc))
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _convert(exc)
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response  # a server error: Django's handler500 (below) answers
    code = exc.default_code
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.get_full_details())
        body = problem(
            status_code=response.status_code,
            detail="The request is not valid; see errors.",
            code="invalid",
            errors=errors,
        )
    else:
        detail = exc.detail
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else code
        text = detail if isinstance(detail, str) else json.dumps(detail)
        body = problem(status_code=response.status_code, detail=str(text), code=str(code))
    body.update(getattr(exc, "problem_extra", None) or {})
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _problem_response(status_code: int, detail: str, code: str) -> HttpResponse:
    return HttpResponse(
        json.dumps(problem(status_code=status_code, detail=detail, code=code)),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return _problem_response(404, "There is nothing at this URL.", "not_found")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return _problem_response(500, "Something went wrong on our side; it has been logged.", "server_error")
    return defaults.server_error(request)
