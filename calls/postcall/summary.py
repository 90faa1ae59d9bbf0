"""Making a summary and structured fields from a transcript.

With a language model: the agent's summary-stage prompt over the transcript (OpenAI-compatible
chat completions, through the same client the live pipeline uses), then a second request that
asks for one JSON object matching the agent's ``summary_schema``; the answer is validated with
``jsonschema`` before it is stored (an invalid answer is stored as errors, never raised).
Without one (the local engine, no credentials, or the model failed): an extractive summary,
sentences picked from the transcript, deterministic and free.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from calls.bridge.engines.pipeline.components import TextDelta
from calls.bridge.engines.pipeline.openai_chat import OpenAIChatLanguageModel

DEFAULT_SUMMARY_PROMPT = (
    "You summarise phone calls for the business that took them. In two to four sentences say "
    "who called, why, what was done or agreed, and any follow-up needed. Plain text, no lists."
)
FIELDS_PROMPT = (
    "You extract structured data from a phone call transcript. Answer with one JSON object that "
    "validates against this JSON Schema, and nothing else (no prose, no code fence):\n"
)
MAX_TRANSCRIPT_CHARS = 60_000  # keep a long call inside any model's context
EXTRACTIVE_SENTENCES = 3
EXTRACTIVE_MAX_CHARS = 600

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-zA-ZÀ-ÿ']{3,}")
_STOP_WORDS = (
    "the and you your for are was were that this with have has had not but can could would will "
    "just what when where which who how there their they them then than from into about yes yeah "
    "okay thank thanks please hello bye goodbye sure right well also like get got one all any its "
    "it's i'm i'd i'll we're you're that's don't can't"
)
_STOP = frozenset(_STOP_WORDS.split())

Line = tuple[str, str]  # (speaker, text)


@dataclass(frozen=True)
class LlmTarget:
    base_url: str
    api_key: str
    model: str


class SummaryError(Exception):
    pass


def transcript_text(lines: Sequence[Line]) -> str:
    text = "\n".join(f"{speaker.capitalize()}: {words.strip()}" for speaker, words in lines if words.strip())
    return text[-MAX_TRANSCRIPT_CHARS:]


def extractive_summary(lines: Sequence[Line]) -> str:
    """The caller's first substantive sentence (usually why they called), then the highest
    scoring other sentences (word frequency over the call, stop words left out), in call order."""
    sentences: list[tuple[int, str, str]] = []
    for speaker, text in lines:
        for sentence in _SENTENCE_END.split(text.strip()):
            if sentence.strip():
                sentences.append((len(sentences), speaker, sentence.strip()))
    if not sentences:
        return "No conversation was recorded."
    frequency = Counter(
        word for _, _, s in sentences for word in (w.lower() for w in _WORD.findall(s)) if word not in _STOP
    )

    def score(sentence: str) -> float:
        words = [w.lower() for w in _WORD.findall(sentence) if w.lower() not in _STOP]
        return sum(frequency[w] for w in words) / (len(words) + 2) if words else 0.0

    opening = next(
        (item for item in sentences if item[1] == "caller" and len(_WORD.findall(item[2])) >= 3), None
    )
    chosen = [opening] if opening else []
    ranked = sorted(
        (item for item in sentences if item is not opening), key=lambda item: (-score(item[2]), item[0])
    )
    chosen += ranked[: EXTRACTIVE_SENTENCES - len(chosen)]
    chosen.sort(key=lambda item: item[0])
    summary = " ".join(f"{speaker.capitalize()}: {sentence}" for _, speaker, sentence in chosen)
    return summary if len(summary) <= EXTRACTIVE_MAX_CHARS else summary[: EXTRACTIVE_MAX_CHARS - 1] + "…"


def schema_errors(schema: dict[str, Any]) -> str | None:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return 'The summary schema must be a JSON Schema with "type": "object".'
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"Invalid JSON Schema: {exc.message}"
    return None


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object in a model's answer, tolerating a code fence or a sentence around it."""
    stripped = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", stripped, re.DOTALL)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(stripped)
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def validation_errors(schema: dict[str, Any], value: Any) -> list[str]:
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"[:300] for e in errors[:20]
    ]


async def complete(target: LlmTarget, messages: list[dict[str, Any]], *, timeout_s: float) -> str:
    """One chat completion's text."""
    model = OpenAIChatLanguageModel(
        api_key=target.api_key,
        base_url=target.base_url,
        model=target.model,
        temperature=0.2,
        include_usage=False,
        read_timeout_s=timeout_s,
    )
    parts: list[str] = []
    try:
        async with aclosing(model.stream(messages, ())) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    parts.append(event.text)
    except Exception as exc:  # ChatCompletionError and anything the client lets through
        raise SummaryError(str(exc)[:300]) from exc
    finally:
        await model.close()
    return "".join(parts).strip()


async def summarise_with_llm(
    target: LlmTarget, *, prompt: str, transcript: str, schema: dict[str, Any] | None, timeout_s: float
) -> tuple[str, str | None]:
    """(summary text, raw structured-fields answer or None when no schema is given)."""
    user = f"Transcript of the call:\n\n{transcript or '(nothing was said)'}"
    summary = await complete(
        target,
        [{"role": "system", "content": prompt or DEFAULT_SUMMARY_PROMPT}, {"role": "user", "content": user}],
        timeout_s=timeout_s,
    )
    if not summary:
        raise SummaryError("the model returned an empty summary")
    raw_fields = None
    if schema:
        raw_fields = await complete(
            target,
            [
                {"role": "system", "content": FIELDS_PROMPT + json.dumps(schema, ensure_ascii=False)},
                {"role": "user", "content": user},
            ],
            timeout_s=timeout_s,
        )
    return summary, raw_fields
