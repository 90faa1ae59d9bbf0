"""Splitting a document's text into overlapping passages that keep their headings.

Extraction hands over plain text in one shape for every format: paragraphs separated by blank
lines, headings as markdown ``#`` lines. Passages aim at 100-200 words: long enough to hold a
whole answer with its conditions ("cleanings are $95; with insurance usually covered twice a
year"), short enough that three of them sit lightly in the model's context during a call, and that
BM25's length normalisation favours the passage that is about the question.

- Sentences are the unit: a passage never cuts a sentence unless one sentence alone is too long.
- A passage closes at a section change once it has enough words, or at a paragraph end past the
  target size, or before it would exceed the maximum.
- When a long section is cut, the next passage repeats the last sentence(s) of the previous one
  (up to ``OVERLAP_WORDS``), so an answer spanning the cut is whole in at least one passage.
- Each passage carries its heading path ("Insurance > Do you take Delta Dental?"). Questions of an
  FAQ (a paragraph of one line ending in "?") act as headings: they are the best match there is
  for a caller's question. A heading inside a passage is kept inline where its section starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_WORDS = 100
TARGET_WORDS = 150
MAX_WORDS = 200
OVERLAP_WORDS = 40
MAX_QUESTION_HEADING_WORDS = 25
MAX_CAPS_HEADING_WORDS = 8

_MARKDOWN_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# A sentence ends at . ! ? (optionally closed by a quote or bracket) before whitespace and a
# capital, digit or opening quote. Abbreviations like "Dr. Lee" are protected below.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(\[])")
_ABBREVIATION_END = re.compile(
    r"\b(?:Dr|Mr|Mrs|Ms|St|Ave|No|vs|e\.g|i\.e|approx|Mon|Tue|Wed|Thu|Fri|Sat|Sun)\.$"
)
_LIST_ITEM = re.compile(r"^(?:[-*+\u2022\u25aa\u2013]|\d{1,3}[.)])\s+")
_QUESTION_LEVEL = 7  # deeper than any markdown heading: the next question replaces it


@dataclass(frozen=True)
class ChunkDraft:
    ordinal: int
    heading: str
    text: str
    word_count: int


@dataclass(frozen=True)
class _Unit:
    headings: tuple[str, ...]
    text: str
    words: int
    starts_paragraph: bool


def _heading_of(block: str) -> tuple[int, str] | None:
    """(level, title) if the paragraph is a heading, else None."""
    if "\n" in block:
        return None
    match = _MARKDOWN_HEADING.match(block)
    if match:
        return len(match.group(1)), match.group(2).strip()
    count = len(block.split())
    if block.endswith("?") and count <= MAX_QUESTION_HEADING_WORDS:
        return _QUESTION_LEVEL, block
    letters = [ch for ch in block if ch.isalpha()]
    if letters and block.isupper() and count <= MAX_CAPS_HEADING_WORDS and block[-1] not in ".,;:":
        return 2, block.title()
    return None


def split_sentences(paragraph: str) -> list[str]:
    pieces = _SENTENCE_END.split(paragraph)
    sentences: list[str] = []
    for piece in pieces:
        if sentences and _ABBREVIATION_END.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    return [sentence.strip() for sentence in sentences if sentence.strip()]


def _word_windows(sentence: str) -> list[str]:
    words = sentence.split()
    if len(words) <= MAX_WORDS:
        return [sentence]
    step = MAX_WORDS - OVERLAP_WORDS
    return [
        " ".join(words[start : start + MAX_WORDS]) for start in range(0, len(words) - OVERLAP_WORDS, step)
    ]


def _paragraphs(block: str) -> list[str]:
    """Lines of a block joined into paragraphs; each list item is a paragraph of its own."""
    paragraphs: list[list[str]] = []
    for raw in block.splitlines():
        line = raw.strip()
        if not line:
            continue
        item = _LIST_ITEM.match(line)
        if item or not paragraphs:
            paragraphs.append([line[item.end() :] if item else line])
        else:
            paragraphs[-1].append(line)
    return [" ".join(lines) for lines in paragraphs if any(lines)]


def _heading_as_text(stack: list[tuple[int, str]], title: str) -> _Unit:
    return _Unit(tuple(t for _, t in stack), title, len(title.split()), True)


def _units(text: str) -> list[_Unit]:
    units: list[_Unit] = []
    stack: list[tuple[int, str]] = []
    pending_heading: tuple[int, str] | None = None  # a heading whose section has no text yet
    blocks = [block.strip() for block in re.split(r"\n\s*\n", text) if block.strip()]
    for block in blocks:
        heading = _heading_of(block)
        if heading is not None:
            level, title = heading
            if pending_heading is not None and level <= pending_heading[0]:
                # The previous heading had no body before a sibling: it was content ("Closed
                # Sundays?" answered by nothing, "MONDAY 9-5" in a caps table). Keep its words.
                units.append(_heading_as_text(stack[:-1], pending_heading[1]))
            stack = [(lvl, t) for lvl, t in stack if lvl < level] + [heading]
            pending_heading = heading
            continue
        pending_heading = None
        headings = tuple(t for _, t in stack)
        for paragraph in _paragraphs(block):
            first = True
            for sentence in split_sentences(paragraph):
                for piece in _word_windows(sentence):
                    units.append(_Unit(headings, piece, len(piece.split()), first))
                    first = False
    if pending_heading is not None:
        units.append(_heading_as_text(stack[:-1], pending_heading[1]))
    return units


def _render(units: list[_Unit]) -> tuple[str, str]:
    """(heading path, passage text) with inline headings where a new section starts."""
    heading = " > ".join(units[0].headings)
    parts: list[str] = []
    previous = units[0].headings
    for index, unit in enumerate(units):
        if index and unit.headings != previous:
            new = [t for t in unit.headings if t not in previous] or list(unit.headings[-1:])
            parts.append("\n\n" + " > ".join(new) + "\n" if new else "\n\n")
        elif index:
            parts.append("\n\n" if unit.starts_paragraph else " ")
        parts.append(unit.text)
        previous = unit.headings
    return heading, "".join(parts).strip()


def _overlap(previous: list[_Unit], following: _Unit) -> list[_Unit]:
    """The tail of the previous passage to repeat, when the cut falls inside one section."""
    if not previous or previous[-1].headings != following.headings:
        return []
    tail: list[_Unit] = []
    words = 0
    for unit in reversed(previous):
        if unit.headings != following.headings or words + unit.words > OVERLAP_WORDS:
            break
        tail.insert(0, unit)
        words += unit.words
    if not tail and previous[-1].words <= OVERLAP_WORDS * 3 // 2:
        tail = [previous[-1]]  # one slightly long sentence is still worth repeating
    if sum(unit.words for unit in tail) + following.words > MAX_WORDS:
        return []
    return tail


def chunk_text(text: str) -> list[ChunkDraft]:
    units = _units(text)
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    current_words = 0
    repeated = 0  # how many units at the start of ``current`` repeat the previous group's tail
    for unit in units:
        if current and (
            current_words + unit.words > MAX_WORDS
            or (unit.headings != current[-1].headings and current_words >= MIN_WORDS)
            or (unit.starts_paragraph and current_words >= TARGET_WORDS)
        ):
            groups.append(current)
            current = _overlap(current, unit)
            repeated = len(current)
            current_words = sum(u.words for u in current)
        current.append(unit)
        current_words += unit.words
    if current:
        # A short last section would make a passage with too little context: fold it back.
        tail = current[repeated:]
        tail_words = sum(u.words for u in tail)
        if (
            groups
            and tail_words < MIN_WORDS // 2
            and sum(u.words for u in groups[-1]) + tail_words <= MAX_WORDS
        ):
            groups[-1] = groups[-1] + tail
        else:
            groups.append(current)
    drafts = []
    for ordinal, group in enumerate(groups):
        heading, body = _render(group)
        drafts.append(ChunkDraft(ordinal, heading[:500], body, len(body.split())))
    return drafts
