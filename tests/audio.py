"""Where the caller-speech fixtures live: 8 kHz mu-law WAVs of real caller utterances with their
reference texts (``tests/data/audio/manifest.json``), as a Twilio media stream carries them."""

from __future__ import annotations

from pathlib import Path

AUDIO_DIR = Path(__file__).resolve().parent / "data" / "audio"
