"""Recognising an upload's type and extracting its text.

The type is checked twice: the extension must be one we read (.txt, .md, .html, .pdf) AND the
bytes must agree with it (a PDF starts with ``%PDF-``; text has no NUL bytes and no signature of
a known binary format). A browser's Content-Type is not trusted. Everything is handed on in one
shape: paragraphs separated by blank lines, headings as markdown ``#`` lines (see ``chunking``).

Failures raise ``DocumentRejected`` with a message written for the business admin who uploaded
the file; it fails that document only.
"""

from __future__ import annotations

import codecs
import io
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

from charset_normalizer import from_bytes

logger = logging.getLogger(__name__)

SNIFF_BYTES = 8192


class DocumentRejected(Exception):
    """The document can't be used; ``message`` says why, for the person who uploaded it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DocumentKind:
    name: str
    mime_type: str
    extensions: tuple[str, ...]


TEXT = DocumentKind("text", "text/plain", (".txt", ".text"))
MARKDOWN = DocumentKind("markdown", "text/markdown", (".md", ".markdown"))
HTML = DocumentKind("html", "text/html", (".html", ".htm"))
PDF = DocumentKind("pdf", "application/pdf", (".pdf",))
KINDS = {kind.name: kind for kind in (TEXT, MARKDOWN, HTML, PDF)}
KINDS_BY_MIME = {kind.mime_type: kind for kind in KINDS.values()}
_BY_EXTENSION = {extension: kind for kind in KINDS.values() for extension in kind.extensions}
ACCEPTED_EXTENSIONS = tuple(_BY_EXTENSION)

# Signatures of formats people upload by mistake, so the message can name what it really is.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive or an Office document (.docx, .xlsx)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.doc, .xls)"),
    (b"{\\rtf", "an RTF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"ID3", "an audio file"),
    (b"OggS", "an audio file"),
    (b"RIFF", "an audio or video file"),
)
_TEXT_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ACCEPTED_LIST = ".txt, .md, .html or .pdf"


def _what_binary(head: bytes) -> str | None:
    for signature, what in _BINARY_SIGNATURES:
        if head.startswith(signature):
            return what
    if head[4:8] == b"ftyp":
        return "a video or audio file"
    return None


def detect_kind(filename: str, head: bytes) -> DocumentKind:
    """The kind of an upload from its name and its first bytes; ``DocumentRejected`` otherwise."""
    extension = PurePath(filename).suffix.lower()
    kind = _BY_EXTENSION.get(extension)
    if kind is None:
        shown = extension or "no extension"
        raise DocumentRejected(f"Files of this type ({shown}) can't be used: upload a {_ACCEPTED_LIST} file.")
    head = head[:SNIFF_BYTES]
    if not head.strip():
        raise DocumentRejected("The file is empty.")
    looks_pdf = b"%PDF-" in head[:1024]
    if kind is PDF:
        if not looks_pdf:
            raise DocumentRejected("The file is named .pdf but is not a PDF document.")
        return kind
    if looks_pdf:
        raise DocumentRejected(f"The file is a PDF document but is named {extension}: rename it to .pdf.")
    binary = _what_binary(head)
    if binary is not None:
        raise DocumentRejected(f"The file is {binary}, not {extension} text: upload a {_ACCEPTED_LIST} file.")
    if b"\x00" in head and not any(head.startswith(bom) for bom, _ in _TEXT_BOMS):
        raise DocumentRejected(f"The file contains binary data, not {extension} text.")
    return kind


def decode_text(data: bytes) -> str:
    """Bytes to text: a byte-order mark, then UTF-8, then the most likely legacy encoding."""
    for bom, encoding in _TEXT_BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None:
        raise DocumentRejected("The text encoding could not be recognised: save the file as UTF-8 and retry.")
    return str(best)


# ------------------------------------------------------------------------------------- HTML
_SKIPPED_TAGS = frozenset(
    {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas", "nav", "button"}
)
_BLOCK_TAGS = frozenset(
    {"p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre", "ul", "ol",
     "li", "dl", "dt", "dd", "table", "thead", "tbody", "tr", "form", "fieldset", "figure", "figcaption",
     "address", "details", "summary", "body", "html", "hr", "br"}
)  # fmt: skip
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}
_VOID_TAGS = frozenset({"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "source", "wbr"})


class _HtmlTextParser(HTMLParser):
    """Visible text of a page: headings and blocks become paragraphs; scripts and styles vanish."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._current: list[str] = []
        self._skip_depth = 0
        self._heading_level = 0

    def _flush(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self._current)).strip()
        self._current = []
        if not text:
            return
        self.paragraphs.append(f"{'#' * self._heading_level} {text}" if self._heading_level else text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS and tag not in _VOID_TAGS:
            self._skip_depth += 1
        elif self._skip_depth:
            return
        elif tag in _HEADING_TAGS:
            self._flush()
            self._heading_level = _HEADING_TAGS[tag]
        elif tag in _BLOCK_TAGS:
            self._flush()
        elif tag in {"td", "th"}:
            self._current.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and tag not in _VOID_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif self._skip_depth:
            return
        elif tag in _HEADING_TAGS:
            self._flush()
            self._heading_level = 0
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._current.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_text(markup: str) -> str:
    parser = _HtmlTextParser()
    parser.feed(markup)
    parser.close()
    return "\n\n".join(parser.paragraphs)


# --------------------------------------------------------------------------------- markdown
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_MD_SETEXT = re.compile(r"^(.+)\n(=+|-+)\s*$", re.MULTILINE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def markdown_to_text(source: str) -> str:
    source = _MD_SETEXT.sub(lambda m: ("# " if m.group(2)[0] == "=" else "## ") + m.group(1), source)
    lines = []
    for line in source.splitlines():
        if _MD_TABLE_RULE.match(line) or line.strip() in {"```", "---", "***"}:
            continue
        line = _MD_IMAGE.sub(r"\1", line)
        line = _MD_LINK.sub(r"\1", line)
        line = _MD_EMPHASIS.sub(r"\2", line)
        line = _HTML_TAG.sub("", line)
        if line.lstrip().startswith("|"):
            line = " ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        lines.append(line.rstrip())
    return "\n".join(lines)


# -------------------------------------------------------------------------------------- PDF
def pdf_to_text(data: bytes) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentRejected("The PDF is password-protected: upload a copy without a password.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentRejected:
        raise
    except Exception as exc:  # pypdf raises many types on damaged input; all mean the same here
        logger.info("PDF could not be read: %r", exc)
        raise DocumentRejected(
            "The PDF could not be read: it seems damaged or incomplete. Re-export it and upload it again."
        ) from exc
    return "\n\n".join(page.strip() for page in pages)


def text_from_paste(text: str) -> str:
    """Pasted text is often copied from a help center in markdown: read it as markdown."""
    text = markdown_to_text(text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", ""))
    if not text.strip():
        raise DocumentRejected("No text was found in the document.")
    return text


def extract_text(kind: DocumentKind, data: bytes) -> str:
    """The document's text in the shape ``chunking`` expects; ``DocumentRejected`` if none."""
    if kind is PDF:
        text = pdf_to_text(data)
    else:
        decoded = decode_text(data)
        text = (
            html_to_text(decoded)
            if kind is HTML
            else markdown_to_text(decoded)
            if kind is MARKDOWN
            else decoded
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if not text.strip():
        hint = " (a scanned PDF needs OCR, which is not supported)" if kind is PDF else ""
        raise DocumentRejected(f"No text was found in the document{hint}.")
    return text
