from __future__ import annotations

import pytest

from agents import templating


def test_render_substitutes_known_variables_and_blanks_missing_values() -> None:
    text = "Hi {{ contact.name }}, thanks for calling {{tenant_name}} at {{ local_time }}."
    assert templating.render(text, {"contact.name": "Ann", "tenant_name": "Acme"}) == (
        "Hi Ann, thanks for calling Acme at ."
    )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("Hello {{ tenant_nam }}", "Unknown variable 'tenant_nam'"),
        ("Hello {{ contact.shoe_size }}", "Unknown contact field 'contact.shoe_size'"),
        ("Hello {{ __import__('os') }}", "is not a variable name"),
        ("Hello {{ caller_number.__class__ }}", "is not a variable name"),
        ("Hello {{ tenant_name }", "Unbalanced"),
        ("Hello {% if x %}", None),  # no tag syntax exists: it's plain text
    ],
)
def test_validate_rejects_unknown_and_malformed_placeholders(template: str, message: str | None) -> None:
    if message is None:
        templating.validate(template)
        assert templating.render(template, {}) == template
        return
    with pytest.raises(templating.TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        templating.validate(template)


def test_custom_variables_and_contact_fields_are_allowed_when_declared() -> None:
    templating.validate(
        "{{ plan }} for {{ contact.tier }}", extra_variables=["plan"], contact_fields=["tier"]
    )
