"""What the engine remembers about the server-side conversation, per item.

Transcript ordinals must follow the conversation, not the order in which text arrives: the
caller's transcription is produced asynchronously and usually lands *after* the agent has started
answering that very turn. So an ordinal is reserved when an item enters the conversation
(``input_audio_buffer.committed`` / ``conversation.item.added`` for the caller,
``response.output_item.added`` for the agent), and the transcript, whenever it arrives, is
reported under the ordinal of its item.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

_MULAW_BYTES_PER_MS = 8


@dataclass(slots=True)
class AgentItem:
    """One assistant message: its audio and transcript as received so far."""

    item_id: str
    response_id: str | None
    ordinal: int
    audio_bytes: int = 0
    transcript: list[str] = field(default_factory=list)
    transcript_final: bool = False
    audio_done: bool = False
    muted: bool = False  # interrupted: later audio deltas are dropped, never played

    @property
    def audio_ms(self) -> int:
        return self.audio_bytes // _MULAW_BYTES_PER_MS


class ConversationTracker:
    def __init__(self) -> None:
        self._ordinals: dict[str, int] = {}
        self._next_ordinal = 0
        self._last_item_id: str | None = None
        self.agent_items: dict[str, AgentItem] = {}
        self.caller_text: set[str] = set()  # caller items already reported as final
        self.tool_names: dict[str, str] = {}  # call_id -> function name
        self.tool_calls_reported: set[str] = set()
        self.last_audio_item: str | None = None

    # ----------------------------------------------------------------------------- ordinals

    def place(self, item_id: str, previous_item_id: str | None) -> int:
        """Reserve the ordinal of an item that just entered the conversation (idempotent)."""
        if item_id in self._ordinals:
            return self._ordinals[item_id]
        if previous_item_id and previous_item_id in self._ordinals and previous_item_id != self._last_item_id:
            # Insertions into the middle never happen with server VAD; if the server ever does
            # it, ordinals stay in arrival order (already reported ordinals cannot move).
            logger.warning(
                "openai_realtime: item %s inserted after %s, not at the end", item_id, previous_item_id
            )
        ordinal = self._next_ordinal
        self._next_ordinal += 1
        self._ordinals[item_id] = ordinal
        self._last_item_id = item_id
        return ordinal

    def ordinal(self, item_id: str) -> int:
        """The item's ordinal, reserving one if the item was never seen (late joiners)."""
        return self.place(item_id, None)

    # ---------------------------------------------------------------------------- agent side

    def agent_item(self, item_id: str, response_id: str | None) -> AgentItem:
        item = self.agent_items.get(item_id)
        if item is None:
            item = AgentItem(item_id=item_id, response_id=response_id, ordinal=self.ordinal(item_id))
            self.agent_items[item_id] = item
        elif item.response_id is None:
            item.response_id = response_id
        return item

    def items_of_response(self, response_id: str) -> list[AgentItem]:
        return [item for item in self.agent_items.values() if item.response_id == response_id]

    def audio_ms(self, item_id: str) -> int:
        item = self.agent_items.get(item_id)
        return item.audio_ms if item else 0
