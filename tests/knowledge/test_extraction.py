"""Type detection (extension AND content) and text extraction for each accepted format."""

from __future__ import annotations

import codecs

import pytest

from agents.knowledge.extraction import (
    HTML,
    MARKDOWN,
    PDF,
    TEXT,
    DocumentRejected,
    decode_text,
    detect_kind,
    extract_text,
)
from tests.knowledge.pdfs import make_encrypted_pdf, make_pdf


@pytest.mark.parametrize(
    ("filename", "data", "kind"),
    [
        ("faq.txt", b"Opening hours", TEXT),
        ("FAQ.MD", b"# Hours", MARKDOWN),
        ("page.htm", b"<p>Hours</p>", HTML),
        ("page.html", b"<!doctype html><p>Hours</p>", HTML),
        ("menu.pdf", make_pdf([["Menu"]]), PDF),
        ("utf16.txt", codecs.BOM_UTF16_LE + "Hours".encode("utf-16-le"), TEXT),
    ],
)
def test_accepted_types_are_recognised(filename: str, data: bytes, kind: object) -> None:
    assert detect_kind(filename, data) is kind


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("report.docx", b"PK\x03\x04rest", "Files of this type (.docx) can't be used"),
        ("notes", b"hello", "Files of this type (no extension) can't be used"),
        ("notes.txt", b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive or an Office document"),
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image, not .txt text"),
        ("menu.txt", make_pdf([["Menu"]]), "is a PDF document but is named .txt"),
        ("menu.pdf", b"<html><p>not a pdf</p></html>", "named .pdf but is not a PDF"),
        ("data.md", b"abc\x00\x01\x02def", "contains binary data"),
        ("empty.txt", b"  \n ", "The file is empty"),
    ],
)
def test_wrong_types_are_rejected_with_a_clear_message(filename: str, data: bytes, message: str) -> None:
    with pytest.raises(DocumentRejected) as raised:
        detect_kind(filename, data)
    assert message in raised.value.message


def test_text_decoding_falls_back_from_utf8_to_detection() -> None:
    assert decode_text("Café prices: crème brûlée €8".encode()) == "Café prices: crème brûlée €8"
    legacy = (
        "Le café est fermé le dimanche. Prix très élevés à Noël, désolé pour les clients fidèles.".encode(
            "cp1252"
        )
    )
    assert "fermé le dimanche" in decode_text(legacy)
    assert decode_text(codecs.BOM_UTF8 + b"Hours") == "Hours"


def test_html_keeps_headings_and_paragraphs_and_drops_scripts_styles_and_navigation() -> None:
    html = (
        b"<html><head><title>T</title><style>p{color:red}</style></head><body>"
        b"<nav><a href='/'>Home</a> <a href='/x'>Menu link</a></nav>"
        b"<h1>Opening hours</h1><p>Mon&ndash;Fri <b>9</b> to 5.</p>"
        b"<script>var secret = 'tracking';</script><h2>Parking</h2><ul><li>Free lot</li><li>Bus 12</li></ul>"
        b"<table><tr><td>Cleaning</td><td>$95</td></tr></table></body></html>"
    )
    text = extract_text(HTML, html)
    assert text.split("\n\n") == [
        "# Opening hours",
        "Mon\u2013Fri 9 to 5.",
        "## Parking",
        "Free lot",
        "Bus 12",
        "Cleaning $95",
    ]
    assert "tracking" not in text and "color" not in text and "Menu link" not in text


def test_markdown_loses_its_markup_but_keeps_headings() -> None:
    source = (
        b"Hours\n=====\n\nWe are **open** [every day](https://x.example/hours).\n\n"
        b"| Day | Time |\n|---|---|\n| Sun | closed |\n"
    )
    text = extract_text(MARKDOWN, source)
    assert "# Hours" in text
    assert "We are open every day." in text
    assert "Sun closed" in text
    assert "https://" not in text and "**" not in text and "---" not in text


def test_pdf_text_is_extracted_from_every_page() -> None:
    text = extract_text(
        PDF, make_pdf([["Opening hours (summer)", "Monday to Friday 9 to 5."], ["Sunday closed."]])
    )
    assert "Opening hours (summer)" in text
    assert "Sunday closed." in text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (make_pdf([["Hours"]])[:180], "The PDF could not be read: it seems damaged"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 200, "The PDF could not be read: it seems damaged"),
        (make_encrypted_pdf("secret"), "The PDF is password-protected"),
        (make_pdf([[]]), "No text was found in the document (a scanned PDF needs OCR"),
    ],
    ids=["truncated", "garbage", "encrypted", "no-text"],
)
def test_unreadable_pdfs_fail_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(DocumentRejected) as raised:
        extract_text(PDF, data)
    assert message in raised.value.message
