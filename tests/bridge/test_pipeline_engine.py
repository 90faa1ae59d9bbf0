"""``PipelineEngine`` orchestration, driven by the scripted parts in ``tests/fakes/pipeline_parts``.

Each test looks at what the session would see (the engine's events) and at what the model would
see next (the history), since a chained engine's bugs show up in one or the other.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from calls.bridge.config import EngineSettings, StageSpec, ToolSpec
from calls.bridge.engines.base import EngineError, ToolResult
from calls.bridge.engines.pipeline.components import (
    FinalTranscript,
    LlmUsage,
    PartialTranscript,
    SpeechStarted,
    TextDelta,
    ToolCallRequest,
)
from calls.bridge.engines.pipeline.engine import PENDING_TOOL_OUTPUT, PipelineEngine
from calls.bridge.engines.pipeline.text import (
    SentenceChunker,
    asks_for_digits,
    speakable,
    truncate_to_fraction,
)
from calls.bridge.frames import (
    AgentAudio,
    AgentAudioDone,
    CallerSpeechStarted,
    CallerTurnEnded,
    EngineEvent,
    EngineFailure,
    EngineMetric,
    EngineUsage,
    ToolCall,
    Transcript,
)
from tests.fakes.pipeline_parts import (
    Gate,
    ScriptedLanguageModel,
    ScriptedSpeechToText,
    ScriptedTextToSpeech,
    ScriptItem,
    wait_until,
)

KB_TOOL = ToolSpec(
    "query_knowledge_base",
    "Search the knowledge base.",
    {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
)
AVAILABILITY_TOOL = ToolSpec(
    "check_availability",
    "Free slots on a day.",
    {"type": "object", "properties": {"date": {"type": "string", "format": "date"}}, "required": ["date"]},
)
VERIFY_TOOL = ToolSpec(
    "verify_caller",
    "Check the caller's PIN.",
    {"type": "object", "properties": {"digits": {"type": "string"}}, "required": ["digits"]},
)
MAIN = StageSpec("main", "You are the front desk of Acme.", (KB_TOOL, AVAILABILITY_TOOL))
VERIFICATION = StageSpec("verification", "Verify the caller first.", (VERIFY_TOOL,))


MakeRig = Callable[..., Any]


@dataclass
class Rig:
    engine: PipelineEngine
    stt: ScriptedSpeechToText
    llm: ScriptedLanguageModel
    tts: ScriptedTextToSpeech
    events: list[EngineEvent] = field(default_factory=list)
    reader: asyncio.Task[None] | None = None

    def of(self, kind: type[Any]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    async def until(self, predicate: Callable[[], bool]) -> None:
        await wait_until(predicate)

    async def until_event(self, kind: type[Any], count: int = 1) -> None:
        await wait_until(lambda: len(self.of(kind)) >= count)


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[..., Any]]:
    rigs: list[Rig] = []

    async def factory(
        scripts: list[list[ScriptItem]] | None = None,
        *,
        stage: StageSpec = MAIN,
        greeting: str = "",
        ms_per_char: int = 50,
        chunk_ms: int = 100,
        connect: bool = True,
    ) -> Rig:
        stt = ScriptedSpeechToText()
        llm = ScriptedLanguageModel(scripts or [])
        tts = ScriptedTextToSpeech(ms_per_char=ms_per_char, chunk_ms=chunk_ms)
        engine = PipelineEngine(EngineSettings(kind="pipeline", greeting=greeting), stt, llm, tts)
        rig = Rig(engine, stt, llm, tts)
        rigs.append(rig)
        if connect:
            await engine.connect(stage)
            rig.reader = asyncio.create_task(_read(rig))
        return rig

    yield factory
    for rig in rigs:
        await rig.engine.close()
        if rig.reader is not None:
            await asyncio.wait_for(rig.reader, 2.0)


async def _read(rig: Rig) -> None:
    async for event in rig.engine.events():
        rig.events.append(event)


def audio_ms(rig: Rig, item_id: str | None = None) -> int:
    return sum(len(e.mulaw) // 8 for e in rig.of(AgentAudio) if item_id is None or e.item_id == item_id)


# ------------------------------------------------------------------------------------ streaming


async def test_first_audio_goes_out_before_the_llm_has_finished(make_rig: MakeRig) -> None:
    gate = Gate()
    rig = await make_rig(
        [
            [
                TextDelta("Sure, we are open "),
                TextDelta("every weekday. "),
                gate,
                TextDelta("On Saturdays we open at ten."),
                LlmUsage(120, 14),
            ]
        ]
    )
    rig.stt.emit(PartialTranscript("what are"))
    rig.stt.caller_says("what are your opening hours")
    await rig.until_event(AgentAudio)
    # The model is still held at the gate: its first sentence is already being spoken.
    assert gate.reached and not rig.llm.calls[0].finished
    assert [r.text for r in rig.tts.requests] == ["Sure, we are open every weekday."]
    gate.open()
    await rig.until_event(AgentAudioDone)
    await rig.until(lambda: any(t.speaker == "agent" for t in rig.of(Transcript)))

    spoken = ["Sure, we are open every weekday.", "On Saturdays we open at ten."]
    assert [r.text for r in rig.tts.requests] == spoken
    caller = [t for t in rig.of(Transcript) if t.speaker == "caller"]
    assert [(t.text, t.final) for t in caller] == [("what are", False), ("what are your opening hours", True)]
    assert caller[0].ordinal == caller[1].ordinal
    assert rig.of(CallerTurnEnded)
    names = [m.name for m in rig.of(EngineMetric)]
    assert names == ["stt_final", "llm_first_token", "tts_first_audio"]
    times = [m.at for m in rig.of(EngineMetric)]
    assert times == sorted(times)
    item_ids = {e.item_id for e in rig.of(AgentAudio)}
    assert item_ids == {rig.of(AgentAudioDone)[0].item_id}
    agent = [t for t in rig.of(Transcript) if t.speaker == "agent"]
    assert agent[0].text == "Sure, we are open every weekday. On Saturdays we open at ten." and agent[0].final
    assert agent[0].ordinal != caller[0].ordinal
    usage = {k: v for u in rig.of(EngineUsage) for k, v in u.figures.items()}
    assert usage["llm_prompt_tokens"] == 120 and usage["llm_completion_tokens"] == 14
    assert usage["tts_characters"] == len("Sure, we are open every weekday.On Saturdays we open at ten.")
    history = rig.engine.history
    assert history[0] == {"role": "system", "content": MAIN.system_prompt}
    assert history[1] == {"role": "user", "content": "what are your opening hours"}
    assert history[2]["role"] == "assistant" and history[2]["content"].endswith("open at ten.")
    assert rig.llm.calls[0].tools == MAIN.tools


async def test_greeting_is_spoken_and_remembered(make_rig: MakeRig) -> None:
    rig = await make_rig(greeting="Hello, this is Acme. How can I help?")
    await rig.until_event(AgentAudioDone)
    assert audio_ms(rig) == (len("Hello, this is Acme.") + len("How can I help?")) * 50
    assert rig.engine.history[-1] == {"role": "assistant", "content": "Hello, this is Acme. How can I help?"}
    assert not rig.of(EngineMetric)  # no caller turn: no latency figures
    assert rig.llm.calls == []


async def test_markdown_is_not_read_out_but_kept_in_history(make_rig: MakeRig) -> None:
    rig = await make_rig([[TextDelta("We open at **nine**.")]])
    rig.stt.caller_says("when do you open")
    await rig.until_event(AgentAudioDone)
    assert [r.text for r in rig.tts.requests] == ["We open at nine."]


# ------------------------------------------------------------------------------------ tools


async def test_tool_round_trip_with_a_validation_error_continues_the_turn(make_rig: MakeRig) -> None:
    rig = await make_rig(
        [
            [TextDelta("Let me check that. "), ToolCallRequest("c1", "check_availability", '{"date": 5}')],
            [ToolCallRequest("c2", "check_availability", '{"date": "2030-01-02"}')],
            [TextDelta("Three o'clock is free.")],
        ]
    )
    rig.stt.caller_says("can I come tomorrow")
    await rig.until_event(ToolCall)
    assert rig.of(ToolCall)[0] == ToolCall("c1", "check_availability", '{"date": 5}')
    error = json.dumps({"error": {"type": "invalid_arguments", "message": "$.date: 5 is not a string"}})
    await rig.engine.send_tool_result("c1", ToolResult(error, is_error=True))
    await rig.until_event(ToolCall, 2)
    # The second LLM round saw the structured error and could correct itself.
    second = rig.llm.calls[1].messages
    assert second[-1] == {"role": "tool", "tool_call_id": "c1", "content": error}
    function = second[-2]["tool_calls"][0]["function"]
    assert function == {"name": "check_availability", "arguments": '{"date": 5}'}
    assert second[-2]["content"] == "Let me check that."
    await rig.engine.send_tool_result("c2", ToolResult('{"slots": ["15:00"]}'))
    await rig.until_event(AgentAudioDone)

    assert len(rig.llm.calls) == 3
    assert len(rig.of(AgentAudioDone)) == 1  # one turn, one utterance, across three rounds
    assert len({e.item_id for e in rig.of(AgentAudio)}) == 1
    roles = [(m["role"], bool(m.get("tool_calls"))) for m in rig.engine.history[1:]]
    assert roles == [
        ("user", False),
        ("assistant", True),
        ("tool", False),
        ("assistant", True),
        ("tool", False),
        ("assistant", False),
    ]
    assert rig.engine.history[4]["content"] is None
    agent = [t for t in rig.of(Transcript) if t.speaker == "agent"]
    assert agent[-1].text == "Let me check that. Three o'clock is free."


async def test_several_tool_calls_in_one_round_answered_out_of_order(make_rig: MakeRig) -> None:
    rig = await make_rig(
        [
            [
                ToolCallRequest("a", "query_knowledge_base", '{"query": "hours"}'),
                ToolCallRequest("b", "check_availability", '{"date": "2030-01-02"}'),
            ],
            [TextDelta("We open at nine and you can come at ten.")],
        ]
    )
    rig.stt.caller_says("when are you open and can I come tomorrow")
    await rig.until_event(ToolCall, 2)
    await rig.engine.send_tool_result("b", ToolResult('{"slots": ["10:00"]}'))
    await asyncio.sleep(0)
    assert len(rig.llm.calls) == 1  # still waiting for "a"
    await rig.engine.send_tool_result("a", ToolResult('{"passages": ["We open at nine."]}'))
    await rig.until_event(AgentAudioDone)
    tool_messages = [m for m in rig.llm.calls[1].messages if m["role"] == "tool"]
    assert [(m["tool_call_id"], m["content"]) for m in tool_messages] == [
        ("a", '{"passages": ["We open at nine."]}'),
        ("b", '{"slots": ["10:00"]}'),
    ]


async def test_result_with_speak_false_ends_the_turn(make_rig: MakeRig) -> None:
    goodbye = [TextDelta("Goodbye!"), ToolCallRequest("e", "end_call", "{}")]
    rig = await make_rig([goodbye, [TextDelta("Never.")]])
    rig.stt.caller_says("bye")
    await rig.until_event(ToolCall)
    await rig.engine.send_tool_result("e", ToolResult('{"ok": true}', speak=False))
    await rig.until_event(AgentAudioDone)
    assert len(rig.llm.calls) == 1
    assert [r.text for r in rig.tts.requests] == ["Goodbye!"]


async def test_new_stage_swaps_prompt_and_tools(make_rig: MakeRig) -> None:
    rig = await make_rig(
        [
            [ToolCallRequest("v", "verify_caller", '{"digits": "1234"}')],
            [TextDelta("Thanks, you are verified.")],
            [TextDelta("Anything else?")],
        ],
        stage=VERIFICATION,
    )
    rig.stt.caller_says("one two three four")
    await rig.until_event(ToolCall)
    assert rig.llm.calls[0].tools == (VERIFY_TOOL,)
    await rig.engine.send_tool_result("v", ToolResult('{"verified": true}', new_stage=MAIN))
    await rig.until_event(AgentAudioDone)
    after = rig.llm.calls[1]
    assert after.tools == MAIN.tools
    assert after.messages[0] == {"role": "system", "content": MAIN.system_prompt}
    assert rig.engine.stage == MAIN
    # switch_stage() outside a tool answer (keypad verification) does the same.
    await rig.engine.switch_stage(VERIFICATION)
    rig.stt.caller_says("hello?")
    await rig.until_event(AgentAudioDone, 2)
    assert rig.llm.calls[2].tools == (VERIFY_TOOL,)
    assert rig.llm.calls[2].messages[0]["content"] == VERIFICATION.system_prompt


async def test_missing_tool_result_becomes_an_error_instead_of_silence(make_rig: MakeRig) -> None:
    quick = StageSpec("main", "p", (ToolSpec("slow", "d", {"type": "object"}, timeout_s=0.01),))
    stt, llm, tts = ScriptedSpeechToText(), ScriptedLanguageModel(), ScriptedTextToSpeech()
    llm.scripts.extend([[ToolCallRequest("s", "slow", "{}")], [TextDelta("Sorry, that did not work.")]])
    settings = EngineSettings(kind="pipeline", extra={"tool_result_grace_s": 0.01})
    engine = PipelineEngine(settings, stt, llm, tts)
    await engine.connect(quick)
    events: AsyncIterator[EngineEvent] = engine.events()
    stt.caller_says("do the slow thing")
    async with asyncio.timeout(2):
        async for event in events:
            if isinstance(event, AgentAudioDone):
                break
    assert "did not answer" in llm.calls[1].messages[-1]["content"]
    await engine.close()


# ------------------------------------------------------------------------------------ barge-in


async def test_barge_in_cancels_llm_and_tts_and_history_keeps_what_was_heard(
    make_rig: MakeRig,
) -> None:
    llm_gate = Gate()
    rig = await make_rig(
        [
            [
                TextDelta("First sentence here. "),
                TextDelta("Second sentence is longer than that. "),
                llm_gate,
                TextDelta("Never said."),
            ],
            [TextDelta("Sorry, go ahead.")],
        ],
        chunk_ms=500,
    )
    tts_gate = Gate()
    rig.tts.gates["Second"] = tts_gate
    rig.stt.caller_says("tell me a story")
    await rig.until(lambda: tts_gate.reached and llm_gate.reached)
    loop = asyncio.get_running_loop()
    barged_at = loop.time()
    rig.stt.emit(SpeechStarted())
    await rig.until(lambda: rig.llm.calls[0].cancelled and rig.tts.requests[1].cancelled)
    assert loop.time() - barged_at < 0.1
    await rig.until_event(CallerSpeechStarted, 2)  # one per caller_says(), one for the barge-in
    first, second = rig.tts.requests
    assert first.finished and not second.finished
    item_id = rig.of(AgentAudio)[0].item_id
    assert audio_ms(rig, item_id) == 1000 + 500  # "First sentence here." whole, 500 ms of the second

    # The session reports 1450 ms heard: all of the first sentence and 450 ms of the second,
    # about a quarter of its estimated 1800 ms -> "Second".
    await rig.engine.playback_interrupted(item_id, 1450)
    assistant = [m for m in rig.engine.history if m["role"] == "assistant"]
    assert assistant == [{"role": "assistant", "content": "First sentence here. Second"}]
    await rig.until(lambda: any(t.speaker == "agent" for t in rig.of(Transcript)))
    agent = [t for t in rig.of(Transcript) if t.speaker == "agent"]
    assert len(agent) == 1 and "Never said" not in agent[0].text

    rig.stt.emit(FinalTranscript("wait, what time is it"))
    await rig.until(lambda: len(rig.llm.calls) == 2)
    seen = rig.llm.calls[1].messages
    assert seen[-2] == {"role": "assistant", "content": "First sentence here. Second"}
    assert seen[-1] == {"role": "user", "content": "wait, what time is it"}


async def test_barge_in_after_generation_truncates_on_playback_report(make_rig: MakeRig) -> None:
    rig = await make_rig([[TextDelta("One two three four five. Six seven eight nine ten.")]])
    rig.stt.caller_says("count")
    await rig.until_event(AgentAudioDone)
    item_id = rig.of(AgentAudioDone)[0].item_id
    rig.stt.emit(SpeechStarted())  # audio still playing at the caller's end
    await rig.until_event(CallerSpeechStarted, 2)
    await rig.engine.playback_interrupted(item_id, 0)
    assert [m["role"] for m in rig.engine.history] == ["system", "user"]


async def test_barge_in_while_waiting_for_a_tool_keeps_history_answerable(make_rig: MakeRig) -> None:
    rig = await make_rig([[ToolCallRequest("k", "query_knowledge_base", '{"query": "parking"}')], []])
    rig.stt.caller_says("is there parking")
    await rig.until_event(ToolCall)
    rig.stt.caller_says("actually never mind")
    await rig.until(lambda: len(rig.llm.calls) == 2)
    roles = [m["role"] for m in rig.llm.calls[1].messages]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert rig.llm.calls[1].messages[3]["content"] == PENDING_TOOL_OUTPUT
    await rig.engine.send_tool_result("k", ToolResult('{"passages": ["Free parking."]}'))  # late
    assert rig.engine.history[3]["content"] == '{"passages": ["Free parking."]}'
    assert len(rig.llm.calls) == 2  # the cut turn does not come back to life


# ------------------------------------------------------------------------------------ caller text


async def test_caller_text_enters_history_and_triggers_a_turn(make_rig: MakeRig) -> None:
    rig = await make_rig([[TextDelta("What is your PIN, please?")], [TextDelta("Thanks.")]])
    await rig.engine.send_caller_text("The caller pressed 4.")
    await rig.until_event(AgentAudioDone)
    assert rig.llm.calls[0].messages[-1] == {"role": "user", "content": "The caller pressed 4."}
    assert rig.stt.modes == ["digits"]  # the agent asked for a PIN: the STT hears digits next
    rig.stt.caller_says("one two three four")
    await rig.until_event(AgentAudioDone, 2)
    assert rig.stt.modes == ["digits", "speech"]


async def test_empty_final_transcript_starts_no_turn(make_rig: MakeRig) -> None:
    rig = await make_rig([[TextDelta("Hi.")]])
    rig.stt.emit(SpeechStarted())
    rig.stt.emit(FinalTranscript("  "))
    rig.stt.caller_says("hello")
    await rig.until_event(AgentAudioDone)
    assert len(rig.llm.calls) == 1 and len(rig.of(CallerTurnEnded)) == 1


# ------------------------------------------------------------------------------------ failures


@pytest.mark.parametrize("part", ["stt_events", "stt_audio", "llm", "tts"])
async def test_component_failure_ends_events_with_engine_failure(make_rig: MakeRig, part: str) -> None:
    rig = await make_rig([[TextDelta("Hello there. "), RuntimeError("model overloaded")]])
    if part == "stt_events":
        rig.stt.fail(ConnectionError("socket closed"))
    elif part == "stt_audio":
        rig.stt.fail_on_audio = ConnectionError("socket closed")
        await rig.engine.send_audio(b"\xff" * 160)
    elif part == "tts":
        rig.tts.fail_on = "Hello"
        rig.stt.caller_says("hi")
    else:
        rig.stt.caller_says("hi")
    assert rig.reader is not None
    await asyncio.wait_for(rig.reader, 2.0)  # events() ended by itself
    assert isinstance(rig.events[-1], EngineFailure)
    assert len(rig.of(EngineFailure)) == 1
    await rig.engine.send_audio(b"\xff" * 160)  # a dead engine ignores input
    await rig.engine.close()
    assert rig.stt.closed and rig.llm.closed and rig.tts.closed


async def test_stt_that_cannot_start_fails_connect() -> None:
    stt = ScriptedSpeechToText(fail_on_start=ConnectionError("refused"))
    llm, tts = ScriptedLanguageModel(), ScriptedTextToSpeech()
    engine = PipelineEngine(EngineSettings(kind="pipeline"), stt, llm, tts)
    with pytest.raises(EngineError, match="refused"):
        await engine.connect(MAIN)
    await engine.close()


async def test_close_mid_turn_leaves_no_task_and_is_idempotent(make_rig: MakeRig) -> None:
    gate = Gate()
    rig = await make_rig([[TextDelta("Let me think. "), gate]], greeting="Hi!", connect=False)
    before = asyncio.all_tasks()
    await rig.engine.connect(MAIN)
    rig.reader = asyncio.create_task(_read(rig))
    rig.stt.caller_says("question")
    await rig.until(lambda: gate.reached)
    await rig.engine.close()
    await rig.engine.close()
    await asyncio.wait_for(rig.reader, 1.0)
    leftovers = {t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()}
    assert leftovers == set()
    assert rig.llm.calls[0].cancelled
    assert rig.stt.closed and rig.llm.closed and rig.tts.closed


# ------------------------------------------------------------------------------------ text helpers


def test_chunker_cuts_sentences_and_an_early_first_clause() -> None:
    chunker = SentenceChunker()
    pieces: list[str] = []
    text = "Of course, I can help you with that today. Dr. Smith is in at 9.30 am! Bye"
    for token in text.split():
        pieces += chunker.push(token + " ")
    tail = chunker.flush()
    assert pieces == ["Of course, I can help you with that today.", "Dr. Smith is in at 9.30 am!"]
    assert tail == "Bye"
    first = SentenceChunker()
    assert first.push("Let me look that up for you, ") == ["Let me look that up for you,"]
    assert first.push("one moment, ") == []  # later clauses wait for the sentence


def test_chunker_cuts_run_ons_and_newlines() -> None:
    chunker = SentenceChunker(max_chars=40)
    pieces = chunker.push("word " * 20)
    assert pieces and all(len(p) <= 40 for p in pieces)
    assert SentenceChunker().push("Options:\n- one\n") == ["Options:", "- one"]


def test_speakable_truncate_and_digit_requests() -> None:
    assert speakable("**Hours:** see [our site](http://x)\n- Mon") == "Hours: see our site Mon"
    assert truncate_to_fraction("Second sentence is longer", 0.65) == "Second sentence"
    assert truncate_to_fraction("abc", 0.1) == ""
    assert asks_for_digits("Thanks. Could you tell me your PIN?")
    assert asks_for_digits("Please say your account number.")
    assert not asks_for_digits("Your account number was updated.")
    assert not asks_for_digits("What is your date of birth?")
