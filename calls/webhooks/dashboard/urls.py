"""Webhook pages (endpoints, deliveries, replay), included under ``/t/<slug>/`` in the
``dashboard`` namespace."""

from __future__ import annotations

from django.urls import URLPattern, path

from calls.webhooks.dashboard import views

urlpatterns: list[URLPattern] = [
    path("webhooks/", views.webhook_list, name="webhooks"),
    path("webhooks/new/", views.webhook_new, name="webhook-new"),
    # Before "webhooks/<id>/": "deliveries" is not an endpoint id.
    path("webhooks/deliveries/", views.delivery_list, name="webhook-deliveries"),
    path("webhooks/deliveries/<str:public_id>/", views.delivery_detail, name="webhook-delivery"),
    path(
        "webhooks/deliveries/<str:public_id>/replay/", views.delivery_replay, name="webhook-delivery-replay"
    ),
    path("webhooks/<str:public_id>/", views.webhook_detail, name="webhook"),
    path("webhooks/<str:public_id>/test/", views.webhook_test, name="webhook-test"),
    path("webhooks/<str:public_id>/disable/", views.webhook_disable, name="webhook-disable"),
    path("webhooks/<str:public_id>/enable/", views.webhook_enable, name="webhook-enable"),
    path(
        "webhooks/<str:public_id>/rotate-secret/", views.webhook_rotate_secret, name="webhook-rotate-secret"
    ),
    path("webhooks/<str:public_id>/delete/", views.webhook_delete, name="webhook-delete"),
]
