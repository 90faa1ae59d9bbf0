"""OpenAPI schema extensions: the API-key security scheme, and the problem-details error
responses every operation can give (so generated clients and contract tests know them)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from voxsaas.rest.problems import PROBLEM_CONTENT_TYPE


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "vx_live_<id>_<secret>",
            "description": "A tenant API key. Read keys may only use GET; write keys may do everything. "
            "The key decides the tenant: there is no tenant in URLs or bodies.",
        }


SESSION_DESCRIPTION = (
    "For the dashboard's own use: the session cookie of a signed-in user plus the CSRF token for "
    "writes. Name the tenant with the X-Tenant header (its slug). Viewers may only read; editors, "
    "admins and owners may write."
)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem details document.",
    "properties": {
        "type": {
            "type": "string",
            "description": "A URI reference naming the problem type.",
            "example": "about:blank",
        },
        "title": {"type": "string", "description": "The HTTP status phrase."},
        "status": {"type": "integer", "description": "The HTTP status code."},
        "detail": {"type": "string", "description": "What went wrong, for a human."},
        "code": {"type": "string", "description": "A stable machine-readable error code."},
        "errors": {
            "type": "array",
            "description": "Validation errors, one per problem in the request body.",
            "items": {
                "type": "object",
                "properties": {
                    "pointer": {"type": "string", "description": "JSON Pointer to the field, e.g. #/to."},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["pointer", "detail", "code"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    "400": "The request is not valid (problem details, with errors).",
    "401": "No credentials, or an invalid, revoked or expired API key.",
    "403": "Your API key or role may not do this.",
    "404": "Not found (an object of another tenant is not found either).",
    "429": "Too many requests for this key; retry after Retry-After seconds.",
}


def _problem_response(code: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[code],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if code == "429":
        response["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
        }
    return response


def add_problem_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    schemes = components.get("securitySchemes", {})
    if "cookieAuth" in schemes:
        schemes["cookieAuth"]["description"] = SESSION_DESCRIPTION
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if not operation.get("security") or operation["security"] == [{}]:
                continue  # public endpoints (the schema itself)
            codes = ["400", "401", "403", "429"]
            if "{" in path:
                codes.append("404")
            for code in codes:
                operation["responses"].setdefault(code, _problem_response(code))
    return result
