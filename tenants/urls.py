"""The dashboard's URLs (namespace ``dashboard``): sign-in and account pages at the root, every
tenant page under ``/t/<slug>/`` (the agents and calls apps contribute their own pages)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from agents.dashboard.contacts_urls import urlpatterns as contact_pages
from agents.dashboard.urls import urlpatterns as agent_pages
from agents.knowledge.dashboard.urls import urlpatterns as knowledge_pages
from agents.scheduling.dashboard.urls import urlpatterns as calendar_pages
from calls.dashboard.urls import urlpatterns as call_pages
from calls.webhooks.dashboard.urls import urlpatterns as webhook_pages
from tenants.dashboard import account, keys, numbers, overview, team, usage

app_name = "dashboard"

AUTH = "dashboard/auth/"

auth_pages = [
    path("login/", auth_views.LoginView.as_view(template_name="dashboard/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name=AUTH + "password_reset_form.html",
            email_template_name=AUTH + "password_reset_email.txt",
            subject_template_name=AUTH + "password_reset_subject.txt",
            success_url=reverse_lazy("dashboard:password_reset_done"),
            # Links in the email point at the public address, not at whatever Host the request had.
            extra_email_context={"base_url": settings.PUBLIC_BASE_URL},
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name=AUTH + "password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name=AUTH + "password_reset_confirm.html",
            success_url=reverse_lazy("dashboard:password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name=AUTH + "password_reset_complete.html"),
        name="password_reset_complete",
    ),
]

tenant_pages = [
    path("", overview.overview, name="overview"),
    path("numbers/", numbers.number_list, name="numbers"),
    path("numbers/connect/", numbers.number_connect, name="number-connect"),
    path("numbers/<str:public_id>/", numbers.number_edit, name="number"),
    path("numbers/accounts/<str:public_id>/", numbers.account_edit, name="telephony-account"),
    path("team/", team.team, name="team"),
    path("team/invite/", team.invite, name="team-invite"),
    path("team/invitations/<str:public_id>/revoke/", team.invitation_revoke, name="invitation-revoke"),
    path("team/<str:public_id>/role/", team.member_role, name="member-role"),
    path("team/<str:public_id>/remove/", team.member_remove, name="member-remove"),
    path("api-keys/", keys.api_keys, name="api-keys"),
    path("api-keys/new/", keys.api_key_new, name="api-key-new"),
    path("api-keys/<str:public_id>/revoke/", keys.api_key_revoke_view, name="api-key-revoke"),
    path("usage/", usage.usage, name="usage"),
    *agent_pages,
    *call_pages,
    *knowledge_pages,
    *contact_pages,
    *calendar_pages,
    *webhook_pages,
]

urlpatterns = [
    path("", account.home, name="home"),
    *auth_pages,
    path("invite/<str:token>/", account.accept_invitation, name="invitation-accept"),
    path("t/<slug:slug>/", include(tenant_pages)),
]
