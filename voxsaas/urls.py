from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from agents import api as agents_api
from agents import api_contacts, api_tools
from agents.knowledge import api as knowledge_api
from agents.scheduling import api as scheduling_api
from calls.api import views as calls_api
from calls.outbound import views as outbound_views
from calls.webhooks import api as webhooks_api
from tenants import api_views as tenants_api
from voxsaas.rest import schema as _schema_extensions  # noqa: F401 - registers the API-key scheme

handler404 = "voxsaas.rest.problems.not_found"
handler500 = "voxsaas.rest.problems.server_error"


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


router = SimpleRouter(trailing_slash=False)
router.register("agents", agents_api.AgentViewSet, basename="agent")
router.register("tools", api_tools.ToolViewSet, basename="tool")
router.register("contacts", api_contacts.ContactViewSet, basename="contact")
router.register("corpora", knowledge_api.CorpusViewSet, basename="corpus")
router.register("documents", knowledge_api.DocumentViewSet, basename="document")
router.register("phone-numbers", tenants_api.PhoneNumberViewSet, basename="phone-number")
router.register("telephony-accounts", tenants_api.TelephonyAccountViewSet, basename="telephony-account")
router.register("calls", calls_api.CallViewSet, basename="call")
router.register("webhook-endpoints", webhooks_api.WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("webhook-deliveries", webhooks_api.WebhookDeliveryViewSet, basename="webhook-delivery")

api_v1 = [
    *router.urls,
    path("usage", calls_api.UsageView.as_view(), name="usage"),
    # Scheduling writes (the resource list, bookings and cancel live in agents.scheduling.urls).
    path(
        "scheduling/resources/<str:public_id>",
        scheduling_api.ResourceDetail.as_view(),
        name="scheduling-resource-detail",
    ),
    path(
        "scheduling/resources/<str:public_id>/hours",
        scheduling_api.ResourceHours.as_view(),
        name="scheduling-resource-hours",
    ),
    path("scheduling/time-off", scheduling_api.TimeOffList.as_view(), name="scheduling-time-off-list"),
    path(
        "scheduling/time-off/<str:public_id>",
        scheduling_api.TimeOffDetail.as_view(),
        name="scheduling-time-off-detail",
    ),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (?script): no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("twilio/amd", outbound_views.amd_callback, name="twilio-amd"),
    path("twilio/", include("calls.urls")),
    path("", include("agents.scheduling.urls")),
    # Live calls and the softphone (tenant pages of their own namespace, "live").
    path("t/<slug:slug>/", include("calls.dashboard_live")),
    path("", include("tenants.urls")),
]
