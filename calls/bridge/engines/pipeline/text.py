"""Text helpers for the chained engine: cutting a token stream into speakable pieces, cleaning
markup the voice should not read out, and estimating how much of a sentence the caller heard.

Why sentence streaming: a chat model produces a 40-word answer in one or two seconds, but the
first sentence is complete after a few hundred milliseconds. Feeding TTS sentence by sentence
lets the caller hear the answer while the model is still writing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? or an ellipsis, optionally followed by closing quotes/brackets, and is
# only confirmed once the next character (whitespace) has arrived, so "3.5" or "e.g." mid-stream
# is not cut.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"')\]\u201d\u2019]*(?=\s)")
_CLAUSE_END = re.compile(r"[,;:\u2014]+(?=\s)")
_NEWLINE = re.compile(r"\n+")

# Words after which a period does not end a sentence.
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "sr", "jr", "prof", "vs", "etc", "e.g", "i.e", "no", "approx", "dept"}
)


class SentenceChunker:
    """Accumulates text deltas and returns complete pieces as soon as they are safe to speak.

    - Sentences are cut at their final punctuation.
    - The FIRST piece of an utterance may be a clause (cut at , ; :) once it holds at least
      ``first_min_chars`` characters: the sooner TTS gets something, the sooner the caller hears
      the agent. Later clauses are cut only past ``clause_min_chars`` (long sentences).
    - A run-on without punctuation is cut at a word boundary past ``max_chars`` so a model that
      never writes a period still gets spoken.
    """

    def __init__(
        self, *, first_min_chars: int = 24, clause_min_chars: int = 90, max_chars: int = 240
    ) -> None:
        self._buffer = ""
        self._first_min_chars = first_min_chars
        self._clause_min_chars = clause_min_chars
        self._max_chars = max_chars
        self._emitted = 0

    def push(self, delta: str) -> list[str]:
        self._buffer += delta
        pieces: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            piece, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:].lstrip()
            if piece:
                pieces.append(piece)
                self._emitted += 1
        return pieces

    def flush(self) -> str | None:
        piece, self._buffer = self._buffer.strip(), ""
        if piece:
            self._emitted += 1
        return piece or None

    def _find_cut(self) -> int | None:
        text = self._buffer
        newline = _NEWLINE.search(text)
        for match in _SENTENCE_END.finditer(text):
            if newline is not None and newline.start() < match.end():
                break
            if not self._is_abbreviation(text, match.start()):
                return match.end()
        if newline is not None:
            return newline.end()
        min_clause = self._first_min_chars if self._emitted == 0 else self._clause_min_chars
        for match in _CLAUSE_END.finditer(text):
            if match.end() >= min_clause:
                return match.end()
        if len(text) > self._max_chars:
            space = text.rfind(" ", 0, self._max_chars)
            return space if space > 0 else self._max_chars
        return None

    @staticmethod
    def _is_abbreviation(text: str, dot: int) -> bool:
        if text[dot] != ".":
            return False
        start = dot
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        word = text[start:dot].lower().lstrip("(\"'")
        if word in _ABBREVIATIONS:
            return True
        # A single capital letter is an initial ("J. Smith").
        return len(word) == 1 and text[start].isupper()


_MARKUP = re.compile(r"[*_#`~>|]+")
_LIST_MARKER = re.compile(r"^\s*(?:[-+\u2022]|\d+[.)])\s+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_SPACES = re.compile(r"\s+")


def speakable(text: str) -> str:
    """Strip the Markdown a chat model tends to produce (bold, bullets, links) so the voice does
    not read out asterisks. Returns single-spaced text."""
    text = _LINK.sub(r"\1", text)
    text = _LIST_MARKER.sub("", text)
    text = _MARKUP.sub("", text)
    return _SPACES.sub(" ", text).strip()


def truncate_to_fraction(text: str, fraction: float) -> str:
    """The first ``fraction`` of ``text``, cut back to a whole word.

    Used for barge-in: within one sentence we assume the voice speaks at a constant rate in
    characters, so hearing 40% of the sentence's audio means hearing about its first 40% of
    characters. A word counts as heard only if it was completely spoken.
    """
    if fraction >= 1.0:
        return text
    if fraction <= 0.0:
        return ""
    cut = int(len(text) * fraction)
    if cut < len(text) and not text[cut].isspace():
        space = text.rfind(" ", 0, cut + 1)
        cut = space if space >= 0 else 0
    return text[:cut].rstrip(" ,;:-")


_DIGITS_REQUEST = re.compile(
    r"\b(pin|passcode|pass code|security code|verification code|account number|member number|"
    r"customer number|reference number|digits?)\b",
    re.IGNORECASE,
)


def asks_for_digits(agent_text: str) -> bool:
    """Whether the agent's last utterance asks the caller for a number to be read out digit by
    digit (a PIN, an account number). Drives ``SpeechToText.set_mode("digits")``, which lets a
    recogniser with a digits grammar (the local one) be far more accurate for the next turn.

    Only the end of the utterance counts (the request is what the caller answers), and it must be
    a request: a question or an imperative, not "your account number was updated"."""
    tail = agent_text.strip()[-160:]
    if not _DIGITS_REQUEST.search(tail):
        return False
    return "?" in tail or bool(re.search(r"\b(please|tell me|say|enter|read)\b", tail, re.IGNORECASE))


DEFAULT_MS_PER_CHAR = 65.0  # ~15 characters a second: ordinary speech, for cut sentences


@dataclass(slots=True)
class SpokenSegment:
    """One piece of agent speech: its text, which LLM round wrote it, how much audio it became."""

    text: str
    round: int
    audio_ms: int = 0
    sent_to_tts: bool = False  # counted for usage even if cut before any audio came back
    complete: bool = False  # TTS finished it: ``audio_ms`` is its full length


def heard_by_round(segments: list[SpokenSegment], heard_ms: int | None) -> dict[int, list[str]]:
    """The text of each round that the caller heard: with ``heard_ms=None`` everything that was
    turned into audio (the turn was cut before playback figures are known), otherwise the first
    ``heard_ms`` of the turn's audio. Whole sentences while they fit, then the heard share of the
    interrupted one (``truncate_to_fraction``).

    A sentence whose synthesis was cut has no known full length: it is estimated from the
    turn's completed sentences (ms per character), or ``DEFAULT_MS_PER_CHAR`` without one.
    """
    done = [seg for seg in segments if seg.complete and seg.audio_ms > 0]
    chars = sum(len(seg.text) for seg in done)
    rate = sum(seg.audio_ms for seg in done) / chars if chars else DEFAULT_MS_PER_CHAR
    remaining = heard_ms
    heard: dict[int, list[str]] = {}
    for seg in segments:
        if seg.audio_ms <= 0:
            continue
        full = seg.audio_ms if seg.complete else max(seg.audio_ms, int(len(seg.text) * rate))
        here = seg.audio_ms if remaining is None else min(remaining, seg.audio_ms)
        if remaining is not None:
            remaining -= here
        if here <= 0:
            break
        part = seg.text if here >= full else truncate_to_fraction(seg.text, here / full)
        if part:
            heard.setdefault(seg.round, []).append(part)
    return heard
