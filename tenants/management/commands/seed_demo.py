"""Create (idempotently) the demo tenant, its owner and a demo agent for `make run`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from agents.models import Agent, BuiltinTool
from agents.services import agent_publish, agent_tool_enable
from tenants.models import Membership, Role, Tenant

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "voxsaas-demo"  # noqa: S105 - printed on purpose: a local demo account

DEMO_TOOLS = (
    BuiltinTool.QUERY_KNOWLEDGE_BASE,
    BuiltinTool.CHECK_AVAILABILITY,
    BuiltinTool.SCHEDULE_MEETING,
    BuiltinTool.CANCEL_MEETING,
    BuiltinTool.TRANSFER_TO_HUMAN,
    BuiltinTool.CURRENT_TIME,
    BuiltinTool.END_CALL,
)
DEMO_MAIN_PROMPT = (
    "You are the friendly phone receptionist of {{ tenant_name }}. Answer questions from the "
    "knowledge base, book appointments, and transfer to a human when asked. Keep answers short: "
    "the caller is on the phone."
)
DEMO_VERIFICATION_PROMPT = (
    "Before helping, verify the caller: ask for their four-digit PIN and check it with verify_caller."
)
DEMO_SUMMARY_PROMPT = "Summarise the call in two sentences: why the caller called and what was done."


class Command(BaseCommand):
    help = "Create the demo tenant, owner user and agent (safe to run repeatedly)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            tenant, _ = Tenant.objects.get_or_create(slug="demo", defaults={"name": "Demo Dental Clinic"})
            user_model = get_user_model()
            user, created = user_model.objects.get_or_create(
                username=DEMO_USERNAME, defaults={"email": "demo@example.com"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": Role.OWNER})
            agent, agent_created = Agent.objects.get_or_create(
                tenant=tenant,
                name="Receptionist",
                defaults={
                    "engine": settings.DEFAULT_ENGINE,
                    "greeting": "Thanks for calling Demo Dental Clinic. How can I help you today?",
                    "verification_prompt": DEMO_VERIFICATION_PROMPT,
                    # Off in the demo: a browser test call has no caller ID to look a contact
                    # up by. Turn it on (and add contacts) to try the verification stage.
                    "verification_enabled": False,
                    "main_prompt": DEMO_MAIN_PROMPT,
                    "summary_prompt": DEMO_SUMMARY_PROMPT,
                },
            )
            if agent_created:
                for builtin in DEMO_TOOLS:
                    agent_tool_enable(tenant=tenant, agent=agent, builtin=builtin)
                _seed_knowledge_and_calendar(tenant, agent)
            if agent.published_revision_id is None:
                agent_publish(tenant=tenant, agent=agent, user=user, note="Demo agent")
        # Ingest right away (idempotent): without a Celery worker the demo answers from the FAQ
        # the moment the server starts.
        from agents.knowledge.models import Document
        from agents.knowledge.tasks import ingest_document

        for document_id in (
            Document.objects.filter(tenant=tenant).exclude(status="ready").values_list("pk", flat=True)
        ):
            ingest_document(document_id)
        password = DEMO_PASSWORD if user.check_password(DEMO_PASSWORD) else "(changed since it was created)"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "VoxSaaS demo is ready.",
                    f"  Sign in at: {settings.PUBLIC_BASE_URL}/login/",
                    f"  Username:   {DEMO_USERNAME}",
                    f"  Password:   {password}",
                    "",
                ]
            )
        )


DEMO_FAQ = """# Demo Dental Clinic

## Opening hours
We are open Monday to Friday from 8 am to 6 pm and on Saturday from 9 am to 1 pm.
We are closed on Sundays and public holidays.

## Services and prices
A check-up with cleaning costs 95 dollars. Teeth whitening costs 250 dollars.
A filling starts at 120 dollars. We accept most dental insurance plans.

## Location and parking
We are at 12 Harbour Street, next to the central library. Free parking is behind the building.

## Emergencies
For a dental emergency outside opening hours, call the emergency line at 555 0199.
"""


def _seed_knowledge_and_calendar(tenant: Tenant, agent: Agent) -> None:
    import datetime as dt

    from agents.knowledge.services import corpus_create, document_add_text
    from agents.scheduling.services import hours_set, resource_create
    from agents.services import agent_corpora_set

    corpus = corpus_create(tenant=tenant, name="Clinic FAQ", description="Hours, prices, location.")
    document_add_text(tenant=tenant, corpus=corpus, title="Clinic FAQ", text=DEMO_FAQ)
    agent_corpora_set(tenant=tenant, agent=agent, corpus_ids=[str(corpus.public_id)])
    resource = resource_create(tenant=tenant, name="Dr. Rivera", slot_minutes=30)
    hours_set(tenant=tenant, resource=resource, week={day: [(dt.time(9), dt.time(17))] for day in range(5)})
