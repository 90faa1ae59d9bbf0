from __future__ import annotations

from django.urls import path

from calls import views

app_name = "twilio"

urlpatterns = [
    path("voice", views.voice_webhook, name="voice"),
    path("status", views.status_webhook, name="status"),
    path("dial-action", views.dial_action_webhook, name="dial-action"),
]
