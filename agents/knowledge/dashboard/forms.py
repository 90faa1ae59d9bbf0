"""Forms of the knowledge-base pages. They check shape and size; the services decide the rest
(duplicates, file types sniffed from the content) and the views report what they said."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from agents.knowledge.extraction import ACCEPTED_EXTENSIONS
from agents.knowledge.retrieval import MAX_QUERY_CHARS

MAX_FILES_PER_UPLOAD = 20
# Results a test search may ask for: the agent's knowledge tool allows at most 5 per call.
SEARCH_RESULT_CHOICES = [(str(n), str(n)) for n in range(1, 6)]
DEFAULT_SEARCH_RESULTS = 3
# Room for the form's other fields and multipart framing inside DATA_UPLOAD_MAX_MEMORY_SIZE.
PASTE_FORM_OVERHEAD = 64 * 1024


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


def paste_limit_bytes() -> int:
    """The largest pasted text: the document limit, and what Django accepts as a form body
    (beyond ``DATA_UPLOAD_MAX_MEMORY_SIZE`` the request is refused before any view runs)."""
    limits = [settings.KNOWLEDGE_MAX_UPLOAD_BYTES]
    if settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None:
        limits.append(max(1024, settings.DATA_UPLOAD_MAX_MEMORY_SIZE - PASTE_FORM_OVERHEAD))
    return min(limits)


class CorpusForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        help_text="Unique in this workspace, e.g. “Opening hours and prices”.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    description = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For your team: what it holds and who keeps it up to date.",
    )
    is_private = forms.BooleanField(
        required=False,
        label="Private",
        help_text="Searched only once the caller has passed the agent's verification stage.",
    )


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files. An empty, oversized or wrongly-typed file is NOT refused here: each becomes
    a failed document carrying the reason, and the other files of the upload go through."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        uploads = [item for item in (data if isinstance(data, list | tuple) else [data]) if item]
        if not uploads:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        if any(not getattr(upload, "name", "") for upload in uploads):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if len(uploads) > MAX_FILES_PER_UPLOAD:
            raise forms.ValidationError(
                f"You chose {len(uploads)} files: upload at most {MAX_FILES_PER_UPLOAD} at a time.",
                code="too_many",
            )
        return uploads


class DocumentUploadForm(forms.Form):
    uploads = MultipleFileField(
        label="Files",
        widget=MultipleFileInput(attrs={"multiple": True, "accept": ",".join(ACCEPTED_EXTENSIONS)}),
        error_messages={"required": "Choose at least one file to upload."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["uploads"].help_text = (
            f".txt, .md, .html or .pdf, up to {human_size(settings.KNOWLEDGE_MAX_UPLOAD_BYTES)} each; "
            f"at most {MAX_FILES_PER_UPLOAD} files at a time."
        )


class DocumentTextForm(forms.Form):
    title = forms.CharField(
        max_length=200, help_text="Shown with every passage the agent finds in it.", label="Title"
    )
    text = forms.CharField(
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        label="Text",
        help_text="Plain text or Markdown; # headings become the passages' context.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = paste_limit_bytes()
        self.fields["text"].widget.attrs["data-max-bytes"] = str(limit)
        self.fields["text"].help_text += f" Up to {human_size(limit)}; upload longer text as a .txt file."

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        if not text.strip():
            raise forms.ValidationError("The text is empty.")
        size, limit = len(text.encode("utf-8")), paste_limit_bytes()
        if size > limit:
            raise forms.ValidationError(
                f"The text is {human_size(size)}; the limit is {human_size(limit)}. "
                "Split it, or save it as a .txt file and upload that."
            )
        return text


class ReturnToForm(forms.Form):
    """Where a document action sends the admin back to."""

    return_to = forms.ChoiceField(choices=[("corpus", "corpus"), ("document", "document")], required=False)


CALLER_CHOICES = [
    ("verified", "Verified caller"),
    ("unverified", "Caller not yet verified"),
]


class SearchForm(forms.Form):
    """A test question, run through the agent's own knowledge search."""

    q = forms.CharField(
        max_length=MAX_QUERY_CHARS,
        label="Question",
        error_messages={"required": "Type a question."},
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "e.g. Are you open on Saturdays?", "autocomplete": "off"}
        ),
    )
    caller = forms.ChoiceField(
        choices=CALLER_CHOICES,
        required=False,
        label="Search as",
        help_text="Private knowledge bases answer only a verified caller.",
    )
    max_results = forms.ChoiceField(
        choices=SEARCH_RESULT_CHOICES, required=False, label="Passages", initial=str(DEFAULT_SEARCH_RESULTS)
    )

    def clean_q(self) -> str:
        question: str = self.cleaned_data["q"].strip()
        if not question:
            raise forms.ValidationError("Type a question.")
        return question

    def clean_max_results(self) -> int:
        return int(self.cleaned_data.get("max_results") or DEFAULT_SEARCH_RESULTS)

    @property
    def include_private(self) -> bool:
        return self.cleaned_data.get("caller") != "unverified"


class ScopedSearchForm(SearchForm):
    """The search of the corpora list: every knowledge base, or exactly those an agent searches."""

    scope = forms.ChoiceField(label="Knowledge bases", required=False)

    def __init__(self, *args: Any, agents: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["scope"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            ("", "All knowledge bases"),
            *((pid, f"Those of agent {name}") for pid, name in agents),
        ]
        self.order_fields(["q", "scope", "caller", "max_results"])
