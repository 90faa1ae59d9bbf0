"""``DialoguePolicy``: a deterministic, rule-based stand-in for a language model.

THIS IS A DEMO BRAIN, not an assistant. It exists so the platform runs end to end offline
(development, demos, tests) when no LLM endpoint is configured. It understands a handful of
intents by keywords in the caller's last message, fills tool arguments from what it heard, and
reads tool results back in fixed sentences. It does not understand paraphrases, negation or
context beyond the current booking; anything it does not recognise becomes a knowledge-base
query (when that tool is offered) or a polite fallback.

It is stateless: every decision is derived from the conversation (``messages``) and the tools
of the current stage, exactly what a real model gets, so it behaves the same inside
``PipelineEngine`` as any ``LanguageModel``. Tool arguments are built from each tool's JSON
Schema (``arguments.py``): parameter names are read from the schema, never assumed.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from calls.bridge.config import ToolSpec
from calls.bridge.engines.local.arguments import Facts, fill_arguments, label_for, result_fields
from calls.bridge.engines.local.spoken import (
    parse_date_of_birth,
    parse_day,
    parse_time,
    say_day,
    say_time,
    spoken_digits,
)
from calls.bridge.engines.pipeline.components import (
    LanguageModel,
    LlmEvent,
    Message,
    TextDelta,
    ToolCallRequest,
)

GOODBYE = re.compile(r"\b(good ?bye|bye|that's all|that is all|nothing else|hang up)\b")
THANKS = re.compile(r"\b(thanks|thank you|no thanks)\b")
HUMAN = re.compile(r"\b(human|agent|person|representative|operator|somebody real|someone real)\b")
CANCEL = re.compile(r"\bcancel")
BOOKING = re.compile(r"\b(book|booking|appointment|schedule|reservation|reserve|meeting)\b")
ANYTHING_ELSE = "Is there anything else I can help with?"
FALLBACK = (
    "I'm not sure I can help with that. I can answer questions, book or cancel appointments, "
    "or put you through to a person."
)
# The policy's own booking questions: an answer to one of them continues the booking.
ASK_DAY_TIME = "What day and time would suit you?"
ASK_DAY = "Which day would you like?"
ASK_TIME_PREFIX = "What time on "
OFFER_PREFIX = "That time is not available."
ASK_FOR_PREFIX = "For the booking, may I have your "
BOOKING_QUESTIONS = (ASK_DAY_TIME, ASK_DAY, ASK_TIME_PREFIX, OFFER_PREFIX, ASK_FOR_PREFIX)


@dataclass(frozen=True, slots=True)
class Reply:
    """What the policy says and which tools it calls (``(name, arguments)``), in order."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class DialoguePolicy(LanguageModel):
    """A keyword-and-slot-filling demo brain (see the module docstring for its limits).

    ``clock`` gives "now" for relative days ("tomorrow"); ``words_per_delta`` makes the reply
    stream in small deltas like a real model, so sentence streaming is exercised.
    """

    def __init__(self, *, clock: Callable[[], datetime] = datetime.now, words_per_delta: int = 3) -> None:
        self.clock = clock
        self.words_per_delta = max(1, words_per_delta)

    async def stream(self, messages: list[Message], tools: tuple[ToolSpec, ...]) -> AsyncIterator[LlmEvent]:
        reply = self.decide(messages, tools)
        tokens = reply.text.split(" ") if reply.text else []
        for start in range(0, len(tokens), self.words_per_delta):
            piece = " ".join(tokens[start : start + self.words_per_delta])
            yield TextDelta(piece if start + self.words_per_delta >= len(tokens) else piece + " ")
            await asyncio.sleep(0)  # let the engine start speaking the first sentence
        for index, (name, arguments) in enumerate(reply.tool_calls):
            yield ToolCallRequest(f"policy-{len(messages)}-{index}", name, json.dumps(arguments))

    # ------------------------------------------------------------------------ decisions

    def decide(self, messages: list[Message], tools: tuple[ToolSpec, ...]) -> Reply:
        offered = {tool.name: tool for tool in tools}
        last = messages[-1] if messages else {"role": "system"}
        if last.get("role") == "tool":
            return self._after_tools(messages, offered)
        if last.get("role") != "user":
            return Reply("Hello! How can I help you today?") if last.get("role") == "system" else Reply()
        text = str(last.get("content") or "").strip()
        lowered = " ".join(text.lower().split())
        if lowered.startswith("("):
            return self._instruction(text)
        if lowered.startswith("the caller entered a code on the keypad"):
            return Reply(self._verification_answer(_json_after(text, "result:")))
        keypad = re.fullmatch(r"the caller pressed (\S)\.?", lowered)
        if keypad:
            lowered = keypad.group(1)
        facts = self._facts(messages, lowered)
        if HUMAN.search(lowered):
            if "transfer_to_human" in offered:
                return self._call(offered["transfer_to_human"], facts)
            return Reply("I'm sorry, I can't put you through to a person on this line, but I can help.")
        thanks_only = THANKS.search(lowered) and len(lowered.split()) <= 6 and "?" not in text
        if GOODBYE.search(lowered) or thanks_only:
            return self._goodbye(offered, facts)
        if "verify_caller" in offered:
            return self._verify(offered["verify_caller"], facts)
        if CANCEL.search(lowered):
            return self._cancel(offered, facts)
        if BOOKING.search(lowered) or _last_assistant(messages).startswith(BOOKING_QUESTIONS):
            return self._book(messages, offered, facts)
        if re.fullmatch(r"(no|nope|no that's it|not really)", lowered):
            return self._goodbye(offered, facts)
        if re.fullmatch(r"(yes|yeah|sure|ok|okay|yes please)", lowered):
            return Reply("Sure, what can I help you with?")
        if "query_knowledge_base" in offered:
            return self._call(offered["query_knowledge_base"], facts)
        return Reply(FALLBACK)

    def _facts(self, messages: list[Message], lowered: str) -> Facts:
        today = self.clock().date()
        facts = Facts(text=lowered, today=today)
        facts.digits = spoken_digits(lowered) or None
        facts.birth_date = parse_date_of_birth(lowered)
        for message in messages:
            if message.get("role") == "user":
                content = str(message.get("content") or "").lower()
                name = re.search(r"\bmy name is ([a-z]+(?: [a-z]+)?)", content)
                if name:
                    facts.name = name.group(1).title()
        facts.booking_id = _latest_id(messages)
        return facts

    def _instruction(self, text: str) -> Reply:
        """Session instructions arrive as caller text in parentheses (silence reminder, ...)."""
        quoted = re.search(r'say exactly:\s*"([^"]+)"', text, re.IGNORECASE)
        if quoted:
            return Reply(quoted.group(1))
        if "goodbye" in text.lower():
            return Reply("I haven't heard from you, so I'll end the call now. Goodbye!")
        return Reply()

    def _call(self, tool: ToolSpec, facts: Facts, text: str = "") -> Reply:
        arguments, missing = fill_arguments(tool.parameters, facts)
        if missing:
            return Reply(f"Could you tell me your {label_for(missing[0])}?")
        return Reply(text, [(tool.name, arguments)])

    def _goodbye(self, offered: dict[str, ToolSpec], facts: Facts) -> Reply:
        text = "Thank you for calling. Goodbye!"
        if "end_call" not in offered:
            return Reply(text)
        facts.reason = "the caller said goodbye"
        arguments, _ = fill_arguments(offered["end_call"].parameters, facts)
        return Reply(text, [("end_call", arguments)])

    def _verify(self, tool: ToolSpec, facts: Facts) -> Reply:
        arguments, missing = fill_arguments(tool.parameters, facts)
        required = tool.parameters.get("required", [])
        if missing or (required and not any(key in arguments for key in required)) or not arguments:
            wanted = missing[0] if missing else (required[0] if required else "pin")
            return Reply(f"To verify your identity, please tell me your {label_for(wanted)}.")
        return Reply("Thank you, let me check that.", [(tool.name, arguments)])

    def _cancel(self, offered: dict[str, ToolSpec], facts: Facts) -> Reply:
        if "cancel_meeting" not in offered:
            return Reply("I'm sorry, I can't cancel bookings on this line.")
        facts.day = parse_day(facts.text, facts.today)
        facts.time = parse_time(facts.text)
        arguments, missing = fill_arguments(offered["cancel_meeting"].parameters, facts)
        if missing:
            wanted = label_for(missing[0])
            return Reply(f"Which booking would you like to cancel? Please tell me the {wanted}.")
        return Reply("Let me cancel that for you.", [("cancel_meeting", arguments)])

    def _book(
        self, messages: list[Message], offered: dict[str, ToolSpec], facts: Facts, *, free: bool = False
    ) -> Reply:
        """Slot filling over the caller's messages since the booking started: day, time, then
        whatever else the scheduling tool requires. ``free``: the slot is known to be available
        (just checked, or picked from the slots we offered), so it is not checked again."""
        check, schedule = offered.get("check_availability"), offered.get("schedule_meeting")
        if check is None and schedule is None:
            return Reply("I'm sorry, I can't book appointments on this line.")
        if not free:
            said = " ".join(_booking_utterances(messages))
            facts.day = parse_day(said, facts.today)
            facts.time = parse_time(said)
            chosen = _chosen_offer(messages, facts.today)
            if chosen is not None:
                facts.day, facts.time, free = chosen.date(), chosen.time(), True
        asked_for = re.match(re.escape(ASK_FOR_PREFIX) + r"(.+)\?", _last_assistant(messages))
        if asked_for and facts.name is None and "name" in asked_for.group(1):
            facts.name = facts.text.title()
        if facts.day is None and facts.time is None:
            return Reply(ASK_DAY_TIME)
        if facts.day is None:
            return Reply(ASK_DAY)
        if facts.time is None:
            return Reply(f"{ASK_TIME_PREFIX}{say_day(facts.day, facts.today)}?")
        if check is not None and not free:
            return self._call(check, facts, "Let me check that for you.")
        if schedule is None:
            return Reply("That time looks free, but I can't book it on this line.")
        arguments, missing = fill_arguments(schedule.parameters, facts)
        if missing:
            return Reply(f"{ASK_FOR_PREFIX}{label_for(missing[0])}?")
        return Reply("", [(schedule.name, arguments)])

    # ------------------------------------------------------------------------ tool results

    def _after_tools(self, messages: list[Message], offered: dict[str, ToolSpec]) -> Reply:
        results = _last_tool_results(messages)
        if not results:
            return Reply()
        name, arguments, output = results[-1]
        error = _error_message(output)
        if name == "end_call":
            return Reply()
        if name == "transfer_to_human":
            if error:
                return Reply(f"I'm sorry, I couldn't reach anyone right now. {ANYTHING_ELSE}")
            return Reply("I'm transferring you to a colleague now. Please hold.")
        if name == "verify_caller":
            return Reply(self._verification_answer(output))
        if error:
            return Reply(f"Sorry, that didn't work: {error} Could you try again?")
        if name == "query_knowledge_base":
            passage = _top_passage(output)
            if not passage:
                return Reply(f"I'm sorry, I couldn't find anything about that. {ANYTHING_ELSE}")
            return Reply(f"{passage} {ANYTHING_ELSE}")
        if name == "check_availability":
            return self._after_availability(messages, offered, arguments, output)
        if name == "schedule_meeting":
            when = _when(arguments, self.clock().date())
            return Reply(f"You're all set{' for ' + when if when else ''}. {ANYTHING_ELSE}")
        if name == "cancel_meeting":
            return Reply(f"Your booking has been cancelled. {ANYTHING_ELSE}")
        message = result_fields(output, ("message", "text", "answer", "result"))
        return Reply(f"{message} {ANYTHING_ELSE}" if isinstance(message, str) else f"Done. {ANYTHING_ELSE}")

    def _after_availability(
        self, messages: list[Message], offered: dict[str, ToolSpec], arguments: dict[str, Any], output: Any
    ) -> Reply:
        today = self.clock().date()
        wanted = _requested_slot(messages, arguments, today)
        slots = _slots(output, wanted.date() if wanted else today)
        available = result_fields(output, ("available", "is_available", "free"))
        if wanted is not None and (available is True or wanted in slots):
            facts = self._facts(messages, "")
            facts.day, facts.time = wanted.date(), wanted.time()
            return self._book(messages, offered, facts, free=True)
        if not slots:
            return Reply(f"I'm sorry, there is nothing free then. {ASK_DAY_TIME}")
        options = " or ".join(f"{say_day(s.date(), today)} at {say_time(s.time())}" for s in slots[:2])
        return Reply(f"{OFFER_PREFIX} I can offer {options}. Which would you like?")

    @staticmethod
    def _verification_answer(output: Any) -> str:
        verified = result_fields(output, ("verified", "valid", "success", "ok", "match", "matched"))
        status = str(result_fields(output, ("status",)) or "").lower()
        if verified is True or status in ("ok", "verified", "success"):
            return "Thank you, you're verified. How can I help you today?"
        if _error_message(output):
            return "Sorry, I couldn't check that just now. Could you please say it again?"
        return "Sorry, that didn't match our records. Could you please try again?"


# ------------------------------------------------------------------------------ history reading


def _last_assistant(messages: list[Message]) -> str:
    for message in reversed(messages[:-1]):
        if message.get("role") == "assistant" and message.get("content"):
            return str(message["content"])
        if message.get("role") == "user":
            return ""
    return ""


def _booking_utterances(messages: list[Message]) -> list[str]:
    """The caller's messages since the booking intent started (the slot-filling window)."""
    said: list[str] = []
    for message in reversed(messages):
        if message.get("role") == "user":
            content = str(message.get("content") or "").lower()
            said.insert(0, content)
            if BOOKING.search(content):
                break
    return said


def _last_tool_results(messages: list[Message]) -> list[tuple[str, dict[str, Any], Any]]:
    outputs: dict[str, Any] = {}
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") == "tool":
            outputs[str(message.get("tool_call_id"))] = _loads(message.get("content"))
        elif message.get("role") == "assistant" and message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                function = call.get("function", {})
                arguments = _loads(function.get("arguments"))
                call_args = arguments if isinstance(arguments, dict) else {}
                calls.append((str(function.get("name")), call_args, outputs.get(str(call.get("id")))))
            return calls
        else:
            break
    return []


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_after(text: str, marker: str) -> Any:
    at = text.lower().find(marker)
    return _loads(text[at + len(marker) :].strip()) if at >= 0 else None


def _error_message(output: Any) -> str | None:
    if not isinstance(output, dict) or "error" not in output:
        return None
    error = output["error"]
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "an error occurred")
    return str(error)


PASSAGE_TEXT_KEYS = ("text", "content", "passage", "snippet", "chunk", "answer")
ID_KEYS = ("booking_id", "meeting_id", "reservation_id", "appointment_id", "id")


def _top_passage(output: Any) -> str:
    found = result_fields(output, ("results", "passages", "chunks", "matches", "documents", "hits", "items"))
    candidates = found if isinstance(found, list) else output if isinstance(output, list) else [output]
    for item in candidates:
        text = item if isinstance(item, str) else result_fields(item, PASSAGE_TEXT_KEYS)
        if isinstance(text, str) and text.strip():
            return _shorten(text)
    return ""


def _shorten(text: str, max_chars: int = 240) -> str:
    """The first one or two sentences: a phone answer, not a document."""
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    short = sentences[0]
    if len(sentences) > 1 and len(short) + len(sentences[1]) < max_chars:
        short += " " + sentences[1]
    if len(short) > max_chars:
        short = short[:max_chars].rsplit(" ", 1)[0] + "."
    return short


def _slot_from_arguments(arguments: dict[str, Any]) -> datetime | None:
    day: date | None = None
    at: time | None = None
    for value in arguments.values():
        if not isinstance(value, str):
            continue
        try:
            parsed = datetime.fromisoformat(value)
            if "T" in value or " " in value:
                return parsed.replace(tzinfo=None)
            day = parsed.date()
        except ValueError:
            found = re.fullmatch(r"(\d{1,2}):(\d{2})(?::\d{2})?", value)
            if found:
                at = time(int(found.group(1)), int(found.group(2)))
    return datetime.combine(day, at) if day and at else None


def _slots(output: Any, day: date) -> list[datetime]:
    found = result_fields(output, ("slots", "available_slots", "free_slots", "times", "availability"))
    out = []
    for item in found if isinstance(found, list) else []:
        value = item if isinstance(item, str) else result_fields(item, ("start", "time", "datetime", "slot"))
        if not isinstance(value, str):
            continue
        try:
            out.append(datetime.fromisoformat(value).replace(tzinfo=None))
            continue
        except ValueError:
            pass
        at = parse_time(value) or (parse_time(value + " h") if ":" in value else None)
        if at is not None:
            out.append(datetime.combine(day, at))
    return out


def _requested_slot(messages: list[Message], arguments: dict[str, Any], today: date) -> datetime | None:
    """The slot a check_availability call asked about: from its arguments, completed by what the
    caller said (a tool may take only a date while the caller also named a time)."""
    slot = _slot_from_arguments(arguments)
    if slot is not None:
        return slot
    said = " ".join(_booking_utterances(messages))
    day = next((d for d in map(_iso_date, arguments.values()) if d), None) or parse_day(said, today)
    at = parse_time(said)
    return datetime.combine(day, at) if day and at else None


def _iso_date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _chosen_offer(messages: list[Message], today: date) -> datetime | None:
    """The slot the caller picked from the alternatives we offered in THIS booking (since the
    caller's last message with a booking word), if they answered."""
    started = max(
        (
            i
            for i, m in enumerate(messages)
            if m.get("role") == "user" and BOOKING.search(str(m.get("content")))
        ),
        default=0,
    )
    for index in range(len(messages) - 1, started, -1):
        content = str(messages[index].get("content") or "")
        if messages[index].get("role") != "assistant" or not content.startswith(OFFER_PREFIX):
            continue
        answer = next((m for m in messages[index + 1 :] if m.get("role") == "user"), None)
        before = messages[:index]
        while before and before[-1].get("role") != "tool":
            before = before[:-1]
        checks = [r for r in _last_tool_results(before) if r[0] == "check_availability" and r[2] is not None]
        if answer is None or not checks:
            return None
        _, arguments, output = checks[-1]
        wanted = _requested_slot(before, arguments, today)
        slots = _slots(output, wanted.date() if wanted else today)
        text = str(answer.get("content") or "").lower()
        return _pick_slot(text, slots, parse_time(text))
    return None


def _pick_slot(text: str, slots: list[datetime], said_time: time | None) -> datetime | None:
    if re.search(r"\b(first|yes|that one|sure|okay|ok)\b", text):
        return slots[0]
    if re.search(r"\b(second|last|other)\b", text) and len(slots) > 1:
        return slots[1]
    return next((s for s in slots if said_time is not None and s.time() == said_time), None)


def _latest_id(messages: list[Message]) -> str | None:
    for message in reversed(messages):
        if message.get("role") == "tool":
            output = _loads(message.get("content"))
            found = result_fields(output, ID_KEYS)
            if isinstance(found, str | int):
                return str(found)
    return None


def _when(arguments: dict[str, Any], today: date) -> str:
    slot = _slot_from_arguments(arguments)
    return f"{say_day(slot.date(), today)} at {say_time(slot.time())}" if slot else ""
