"""The contact directory: search and pages, the editor (E.164 numbers, write-only secrets), and
the CSV import (check and preview, then the background import; bad rows, bad files)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents import contacts_import_jobs as jobs
from agents.access import access_contact_by_public_id
from agents.contacts_import import COLUMNS, ImportRejected, contacts_import_csv
from agents.models import Contact
from agents.services import contact_create
from tenants.access import TenantObjectNotFound
from tests.dashboard.areas.contacts import seed_contacts
from tests.dashboard.conftest import World, signed_in
from voxsaas.celery import app as celery_app

LIST = reverse("dashboard:contacts", args=["acme"])
NEW = reverse("dashboard:contact-new", args=["acme"])
IMPORT = reverse("dashboard:contact-import", args=["acme"])
CONFIRM = reverse("dashboard:contact-import-confirm", args=["acme"])
HEADER = "name,phone,email,account_number,pin,date_of_birth\n"


@pytest.fixture(autouse=True)
def _eager_celery() -> Iterator[None]:
    """Run the import job in-process even when REDIS_URL gives Celery a real broker (CI)."""
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.task_eager_propagates)
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


def confirm(client: Client, token: str, capture: Callable[..., Any], **kwargs: Any) -> Any:
    """Confirm a preview; the job is queued when the request's transaction commits."""
    with capture(execute=True):
        return client.post(CONFIRM, {"token": token}, **kwargs)


def contact_url(contact: Contact) -> str:
    return reverse("dashboard:contact", args=["acme", contact.public_id])


def form(**changes: Any) -> dict[str, Any]:
    return {"name": "Grace Hopper", "phones": "+15551239999", "email": "grace@example.com"} | changes


def upload(content: bytes | str, name: str = "contacts.csv") -> dict[str, Any]:
    data = content.encode() if isinstance(content, str) else content
    return {"file": SimpleUploadedFile(name, data, content_type="text/csv")}


def html_of(response: Any) -> str:
    return str(response.content.decode())


def names(tenant: Any) -> set[str]:
    return set(Contact.objects.filter(tenant=tenant).values_list("name", flat=True))


# ------------------------------------------------------------------------------ list, search
@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ada contact", True),  # name, any case
        ("ADA-A@EXAMPLE", True),  # email
        ("acc-a", True),  # account number
        ("+15551110001", True),  # a whole number
        ("555 111 0001", True),  # digits as people type them
        ("(555) 777-0000", True),  # the contact's second number
        ("nobody", False),
        ("555 999", False),
    ],
)
def test_search_looks_in_name_email_account_and_numbers(
    client: Client, world: World, query: str, found: bool
) -> None:
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(LIST, {"q": query}))
    assert ("Ada Contact a" in html) is found
    assert "Ada Contact b" not in html  # never another tenant's directory
    if not found:
        assert "No contact matches" in html


def test_the_list_shows_numbers_and_verification_state_never_secrets(client: Client, world: World) -> None:
    contact_create(tenant=world.a.tenant, name="No Secret Sam", phones=["+15550004444"])
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(LIST))
    row = html[html.index("Ada Contact a") :]
    assert "+15551110001" in row and "+15557770000" in row
    assert ">PIN<" in row and ">Date of birth<" in row
    assert "No secret" in html[html.index("No Secret Sam") :]
    assert "4821" not in html and "1990-03-14" not in html and "pbkdf2" not in html.lower()


def test_the_list_paginates(client: Client, world: World) -> None:
    seed_contacts(world, 55)
    total = Contact.objects.filter(tenant=world.a.tenant).count()
    assert 50 < total <= 100
    seeded = Contact.objects.filter(tenant=world.a.tenant, name__startswith="Seed").order_by("name")
    first_seed, last_seed = seeded.first(), seeded.last()
    assert first_seed is not None and last_seed is not None
    signed_in(client, world.cast.viewer_a)
    first = html_of(client.get(LIST))
    assert f"1–50 of {total} contacts" in first and "Page 1 of 2" in first
    second = html_of(client.get(LIST, {"page": 2}))
    assert f"51–{total} of {total} contacts" in second and last_seed.name in second
    assert first_seed.name not in second and first_seed.name in first  # sorted by name
    assert f"51–{total} of {total}" in html_of(client.get(LIST, {"page": 99}))  # out of range: the last
    recent = html_of(client.get(LIST, {"sort": "recent"}))
    assert last_seed.name in recent and first_seed.name not in recent  # newest first


def test_htmx_search_answers_the_results_fragment(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(LIST, {"q": "ada"}, headers={"HX-Request": "true"}))
    assert "Ada Contact a" in html and "<html" not in html and 'class="sidebar"' not in html


# ----------------------------------------------------------------------------------- editor
def test_create_validates_with_clear_messages_and_keeps_nothing(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    before = names(world.a.tenant)
    html = html_of(
        client.post(
            NEW,
            form(
                name="",
                phones="555-1234\n+15551239999\n+1 555 123 9999",
                email="not-an-email",
                pin="12",
                custom_fields="Plan Level: gold\nnocolon",
            ),
        )
    )
    assert "This field is required." in html
    assert "&#x27;555-1234&#x27; is not an international number: start with + and the country code" in html
    assert "+15551239999 is listed twice." in html  # "+1 555 123 9999" is the same number
    assert "Enter a valid email address." in html
    assert "Line 1: &#x27;Plan Level&#x27; is not a field name" in html
    assert "Line 2: write each field as name: value." in html
    assert names(world.a.tenant) == before
    # Rules only the service knows come back on their fields too.
    html = html_of(client.post(NEW, form(pin="12")))
    assert "A PIN is 4 to 12 digits." in html
    html = html_of(client.post(NEW, form(date_of_birth="someday")))
    assert "Use a date like 1990-03-14." in html
    assert 'value="someday"' not in html  # a secret is never rendered back
    assert names(world.a.tenant) == before


def test_create_hashes_the_secrets_and_never_shows_them(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    response = client.post(
        NEW,
        form(
            phones="+1 (555) 123-9999, +442071234567",
            pin="24 68",
            date_of_birth="1906-12-09",
            custom_fields="plan: gold\ntier_code: B7",
            notes="Prefers mornings.",
        ),
    )
    contact = Contact.objects.get(tenant=world.a.tenant, name="Grace Hopper")
    assert response.status_code == 302 and response["Location"] == contact_url(contact)
    assert sorted(contact.phones.values_list("number", flat=True)) == ["+15551239999", "+442071234567"]
    assert check_password("2468", contact.pin_hash) and check_password("1906-12-09", contact.dob_hash)
    assert (
        contact.custom_fields == {"plan": "gold", "tier_code": "B7"} and contact.notes == "Prefers mornings."
    )
    html = html_of(client.get(contact_url(contact)))
    assert "is in the directory" in html
    assert "2468" not in html and "1906-12-09" not in html and contact.pin_hash not in html
    assert html.count('<span class="badge ok">set</span>') == 2
    assert "plan: gold" in html  # custom fields are not secrets


def test_edit_keeps_replaces_or_removes_each_secret(client: Client, world: World) -> None:
    contact = world.a.extra["contact"]
    original_pin = Contact.objects.get(pk=contact.pk).pin_hash
    signed_in(client, world.cast.editor_a)
    url = contact_url(contact)
    base = form(name=contact.name, phones="+15551110001")

    assert client.post(url, base).status_code == 302  # empty boxes keep both secrets
    stored = Contact.objects.get(pk=contact.pk)
    assert stored.pin_hash == original_pin and check_password("1990-03-14", stored.dob_hash)

    assert client.post(url, base | {"pin": "97531"}).status_code == 302
    stored = Contact.objects.get(pk=contact.pk)
    assert check_password("97531", stored.pin_hash) and stored.dob_hash

    assert client.post(url, base | {"clear_date_of_birth": "on"}).status_code == 302
    stored = Contact.objects.get(pk=contact.pk)
    assert stored.dob_hash == "" and check_password("97531", stored.pin_hash)

    html = html_of(client.post(url, base | {"pin": "1111", "clear_pin": "on"}))
    assert "Either type a new PIN or remove it, not both." in html
    assert check_password("97531", Contact.objects.get(pk=contact.pk).pin_hash)


def test_edit_replaces_the_numbers_and_keeps_custom_fields_the_api_named(
    client: Client, world: World
) -> None:
    contact = world.a.extra["contact"]
    Contact.objects.filter(pk=contact.pk).update(custom_fields={"Member Since": "2019"})
    signed_in(client, world.cast.editor_a)
    html = html_of(client.get(contact_url(contact)))
    assert "Member Since: 2019" in html and "+15557770000" in html
    response = client.post(
        contact_url(contact),
        form(name="Ada Renamed", phones="+15552220000", custom_fields="Member Since: 2019\nplan: gold"),
    )
    assert response.status_code == 302
    stored = Contact.objects.get(pk=contact.pk)
    assert stored.name == "Ada Renamed"
    assert list(stored.phones.values_list("number", flat=True)) == ["+15552220000"]
    assert stored.custom_fields == {"Member Since": "2019", "plan": "gold"}
    html = html_of(client.post(contact_url(contact), form(custom_fields="Another Bad: x")))
    assert "is not a field name" in html  # a new name must be usable in prompts


def test_a_viewer_sees_the_contact_read_only(client: Client, world: World) -> None:
    signed_in(client, world.cast.viewer_a)
    html = html_of(client.get(contact_url(world.a.extra["contact"])))
    assert "<fieldset disabled>" in html and "Save contact" not in html and ">Delete<" not in html
    assert "Editors, admins and owners can change it." in html
    assert "4821" not in html


def test_delete_removes_the_contact_and_its_numbers(client: Client, world: World) -> None:
    contact = world.a.extra["contact"]
    signed_in(client, world.cast.editor_a)
    response = client.post(reverse("dashboard:contact-delete", args=["acme", contact.public_id]))
    assert response.status_code == 302 and response["Location"] == LIST
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert "is deleted from the directory" in html_of(client.get(LIST))
    assert Contact.objects.filter(pk=world.b.extra["contact"].pk).exists()


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "6f1c3a52-3f57-4d7e-9a55-44f1d0a7c001"])
def test_malformed_and_unknown_contact_ids_are_404(client: Client, world: World, bad_id: str) -> None:
    signed_in(client, world.cast.owner_a)
    assert client.get(reverse("dashboard:contact", args=["acme", bad_id])).status_code == 404


# ----------------------------------------------------------------------------------- import
def _preview(client: Client, content: bytes | str) -> str:
    response = client.post(IMPORT, upload(content))
    assert response.status_code == 200
    return html_of(response)


def _token(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match is not None, "no import button on the preview"
    return match.group(1)


def test_a_good_file_is_previewed_then_imported_in_the_background(
    client: Client, world: World, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    signed_in(client, world.cast.editor_a)
    before = names(world.a.tenant)
    html = _preview(
        client,
        HEADER
        + "Linus Example,+15558880001;+15558880002,linus@example.com,L-1,1234,1969-12-28\n"
        + "\n"  # blank lines are skipped
        + "Margaret Example,+15558880003,,,,\n",
    )
    assert "Preview of contacts.csv" in html and "Nothing has been imported yet." in html
    assert "Import 2 contacts" in html and "Rows that will be skipped" not in html
    assert "+15558880001, +15558880002" in html and "1234" not in html and "1969-12-28" not in html
    assert names(world.a.tenant) == before  # the preview writes nothing

    response = confirm(client, _token(html), django_capture_on_commit_callbacks)
    assert response.status_code == 302
    status = html_of(client.get(response["Location"]))
    assert "Imported 2 contacts." in status and "Skipped rows" not in status
    linus = Contact.objects.get(tenant=world.a.tenant, name="Linus Example")
    assert check_password("1234", linus.pin_hash) and check_password("1969-12-28", linus.dob_hash)
    assert sorted(linus.phones.values_list("number", flat=True)) == ["+15558880001", "+15558880002"]
    assert names(world.a.tenant) == before | {"Linus Example", "Margaret Example"}


def test_bad_rows_are_listed_with_their_lines_and_skipped(
    client: Client, world: World, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    signed_in(client, world.cast.editor_a)
    html = _preview(
        client,
        HEADER
        + "Good One,+15558880001,,,,\n"  # line 2
        + ",+15558880002,,,,\n"  # line 3: no name
        + "Bad Phone,555-1234,,,,\n"  # line 4
        + "Bad Pin,+15558880004,,,12,\n"  # line 5
        + "\n"  # line 6
        + "Bad Date,,,,,someday\n"  # line 7
        + "Too,Many,Values,,,,,\n"  # line 8
        + "Good Two,,two@example.com,,,\n",  # line 9
    )
    rows = re.findall(
        r'<tr><td class="num">(\d+)</td><td class="mono small">([^<]*)</td><td>([^<]*)</td></tr>', html
    )
    assert [(int(line), column) for line, column, _ in rows] == [
        (3, "name"),
        (4, "phone"),
        (5, "pin"),
        (7, "date_of_birth"),
        (8, "(row)"),
    ]
    assert "A contact needs a name." in html and "Expected 6 values, found 8." in html
    assert "Import 2 contacts and skip 5 rows with problems?" in html
    assert not Contact.objects.filter(tenant=world.a.tenant, name__startswith="Good").exists()

    response = confirm(client, _token(html), django_capture_on_commit_callbacks)
    status = html_of(client.get(response["Location"]))
    assert "Imported 2 contacts." in status and "5 rows skipped" in status
    assert "&#x27;555-1234&#x27; is not an E.164 number" in status
    assert set(
        Contact.objects.filter(tenant=world.a.tenant, name__startswith=("G")).values_list("name", flat=True)
    ) == {
        "Good One",
        "Good Two",
    }
    assert not Contact.objects.filter(name__startswith="Bad").exists()


def test_a_file_with_no_valid_row_offers_no_import(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    html = _preview(client, HEADER + ",+15558880001,,,,\nX,12,,,,\n")
    assert "Nothing to import" in html and 'name="token"' not in html


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "nom,telephone\nAda,+15551230001\n",
            "The first line must name the columns, once each, from: name, phone",
        ),
        ("phone,email\n+15551230001,a@example.com\n", "(name is required)"),
        ("name,name\nAda,Ada\n", "once each"),
        ("name;phone;email\nAda;+15551230001;a@example.com\n", "The columns are separated by semicolons"),
        ("Nom,Phone\nZoë,+15551230001\n".encode("latin-1"), "The file is not UTF-8 text"),
        (b"\xff\xfe\x00b\x00a\x00d", "The file is not UTF-8 text"),
        (b"name\n" + b"x" * (2 * 1024 * 1024 + 10), "larger than 2048 KB"),
        (b"", "The submitted file is empty."),
    ],
    ids=["wrong-columns", "no-name", "twice", "semicolons", "latin-1", "utf-16", "huge", "empty"],
)
def test_unreadable_files_are_refused_with_a_clear_message(
    client: Client, world: World, content: bytes | str, message: str
) -> None:
    signed_in(client, world.cast.editor_a)
    before = names(world.a.tenant)
    response = client.post(IMPORT, upload(content))
    html = html_of(response)
    assert response.status_code == 200 and "Import contacts from CSV" in html
    assert message in html, html[html.index("CSV file") : html.index("CSV file") + 800]
    assert 'name="token"' not in html
    assert names(world.a.tenant) == before


def test_likely_duplicates_are_flagged_in_the_preview(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    html = _preview(
        client,
        HEADER
        + "Ada Again,+15551110001,,,,\n"  # a number already in the directory
        + "Twin One,+15558880009,,,,\n"
        + "Twin Two,+15558880009,,,,\n"  # the same number as line 3
        + "Account Twin,,,ACC-a,,\n",  # an account number already in the directory
    )
    assert "A contact with +15551110001 is already in the directory." in html
    assert "Line 3 has the same number +15558880009." in html
    assert "A contact with account number ACC-a is already in the directory." in html
    assert "Import 4 contacts" in html  # flagged, not refused: an import always adds contacts


def test_a_preview_imports_once_and_only_in_its_own_workspace(
    client: Client, world: World, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    signed_in(client, world.cast.editor_a)
    token = _token(_preview(client, HEADER + "Once Only,+15558880001,,,,\n"))
    first = confirm(client, token, django_capture_on_commit_callbacks)
    second = confirm(client, token, django_capture_on_commit_callbacks)
    assert first["Location"] == second["Location"]  # the same job, not a second import
    assert Contact.objects.filter(tenant=world.a.tenant, name="Once Only").count() == 1

    theirs = jobs.contact_import_stage(
        tenant=world.b.tenant, data=b"name\nTheirs\n", filename="b.csv", rows=1
    )
    response = client.post(CONFIRM, {"token": theirs}, follow=True)
    assert "This preview has expired or was already used" in html_of(response)
    assert not Contact.objects.filter(name="Theirs").exists()
    status = reverse("dashboard:contact-import-status", args=["acme", theirs])
    assert client.get(status).status_code == 404


def test_an_expired_preview_asks_for_the_file_again(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    token = _token(_preview(client, HEADER + "Late Larry,+15558880001,,,,\n"))
    cache.delete(jobs._pending_key(world.a.tenant.pk, token))
    response = client.post(CONFIRM, {"token": token}, follow=True)
    assert "This preview has expired or was already used; upload the file again." in html_of(response)
    assert not Contact.objects.filter(name="Late Larry").exists()


def test_the_staged_file_is_encrypted_and_dropped_when_the_job_starts(
    world: World, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    token = jobs.contact_import_stage(
        tenant=world.a.tenant, data=HEADER.encode() + b"Secret Sue,,,,4821,\n", filename="s.csv", rows=1
    )
    staged = cache.get(jobs._pending_key(world.a.tenant.pk, token))
    assert b"4821" not in staged["file"] and b"Secret Sue" not in staged["file"]
    with django_capture_on_commit_callbacks(execute=True):
        queued = jobs.contact_import_start(tenant=world.a.tenant, token=token)
    assert queued is not None and queued.state == jobs.QUEUED
    job = jobs.contact_import_job(tenant=world.a.tenant, token=token)
    assert job.state == jobs.DONE and job.created == 1 and job.finished_at is not None
    assert cache.get(jobs._pending_key(world.a.tenant.pk, token)) is None
    jobs.contact_import_run(tenant_id=world.a.tenant.pk, token=token)  # a redelivered task
    assert Contact.objects.filter(tenant=world.a.tenant, name="Secret Sue").count() == 1


def test_the_job_is_queued_only_when_the_request_commits(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    token = _token(_preview(client, HEADER + "Patient Pat,+15558880001,,,,\n"))
    response = client.post(CONFIRM, {"token": token})  # the test's transaction never commits
    assert "Waiting to start" in html_of(client.get(response["Location"]))
    assert not Contact.objects.filter(name="Patient Pat").exists()


def test_a_job_whose_file_vanished_fails_with_a_message(world: World) -> None:
    token = jobs.contact_import_stage(tenant=world.a.tenant, data=b"name\nX\n", filename="x.csv", rows=1)
    raw = {"state": jobs.QUEUED, "filename": "x.csv", "total": 1, "done": 0, "created": 0, "error_rows": 0}
    raw |= {
        "errors": [],
        "message": "",
        "started_at": None,
        "finished_at": None,
        "updated_at": "2026-01-01T00:00:00+00:00",
    }
    cache.set(jobs._status_key(world.a.tenant.pk, token), raw)
    cache.delete(jobs._pending_key(world.a.tenant.pk, token))
    jobs.contact_import_run(tenant_id=world.a.tenant.pk, token=token)
    job = jobs.contact_import_job(tenant=world.a.tenant, token=token)
    assert job.state == jobs.FAILED and "upload it again" in job.message
    assert not Contact.objects.filter(name="X").exists()


def test_the_status_page_polls_until_the_job_is_done(client: Client, world: World) -> None:
    token = jobs.contact_import_stage(tenant=world.a.tenant, data=b"name\nX\n", filename="x.csv", rows=40)
    running = jobs.ImportJob(token=token, state=jobs.RUNNING, filename="x.csv", total=40, done=10)
    jobs._save(world.a.tenant.pk, running)
    signed_in(client, world.cast.editor_a)
    url = reverse("dashboard:contact-import-status", args=["acme", token])
    html = html_of(client.get(url, headers={"HX-Request": "true"}))
    assert 'hx-trigger="every 2s"' in html and "10 of 40 rows" in html and 'value="25"' in html
    jobs._save(
        world.a.tenant.pk,
        jobs.ImportJob(token=token, state=jobs.DONE, filename="x.csv", total=40, created=40),
    )
    html = html_of(client.get(url))
    assert "every 2s" not in html and "Imported 40 contacts." in html


def test_the_template_has_the_expected_columns_and_imports_as_is(client: Client, world: World) -> None:
    signed_in(client, world.cast.editor_a)
    response = client.get(reverse("dashboard:contact-import-template", args=["acme"]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="contacts-template.csv"' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    html = _preview(client, text)
    assert "Import 1 contact" in html and "Rows that will be skipped" not in html


# ------------------------------------------------------------------------ the import service
def test_checking_a_file_writes_and_hashes_nothing(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_hashing(value: str) -> str:
        raise AssertionError("a preview must not hash secrets")

    monkeypatch.setattr("agents.services.hash_secret", no_hashing)
    text = HEADER + "Ada,+15558880001,,,1234,1990-03-14\n" * 3
    result = contacts_import_csv(tenant=world.a.tenant, upload=io.BytesIO(text.encode()), check_only=True)
    assert result.ready == 3 and result.created == [] and len(result.preview) == 3
    assert result.preview[0].has_pin and result.preview[0].has_date_of_birth
    assert not Contact.objects.filter(name="Ada").exists()


def test_too_many_rows_refuse_the_file_before_anything_is_created(world: World) -> None:
    text = "name\n" + "".join(f"Row {i}\n" for i in range(5))
    with pytest.raises(ImportRejected, match="At most 4 contacts per file"):
        contacts_import_csv(tenant=world.a.tenant, upload=io.BytesIO(text.encode()), max_rows=4)
    assert not Contact.objects.filter(name__startswith="Row ").exists()


def test_the_import_reports_its_progress(world: World) -> None:
    seen: list[int] = []
    text = "name\n" + "".join(f"Row {i}\n" for i in range(60))
    result = contacts_import_csv(
        tenant=world.a.tenant, upload=io.BytesIO(text.encode()), progress=seen.append
    )
    assert len(result.created) == 60
    assert seen == [25, 50, 60]


def test_the_contact_door_is_tenant_scoped(world: World) -> None:
    mine, theirs = world.a.extra["contact"], world.b.extra["contact"]
    found = access_contact_by_public_id(tenant=world.a.tenant, public_id=mine.public_id)
    assert found.pk == mine.pk
    assert [p.number for p in found.phones.all()] == ["+15551110001", "+15557770000"]  # sorted, prefetched
    for public_id in (theirs.public_id, "not-a-uuid"):
        with pytest.raises(TenantObjectNotFound):
            access_contact_by_public_id(tenant=world.a.tenant, public_id=public_id)
