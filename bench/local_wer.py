"""Word error rate and speed of the offline recogniser on the caller-speech fixtures.

Runs the production path: ``LocalSpeechToText`` fed 20 ms mu-law frames exactly as a Twilio
media stream delivers them (VAD, pre-roll, 8 -> 16 kHz, streaming PocketSphinx), one decoder for
all files as within one call. Prints each file's hypothesis and errors, the overall WER, and
real-time factors (processing time / audio time; below 1 is faster than real time)::

    .venv/bin/python bench/local_wer.py                 # speech mode, all fixtures
    .venv/bin/python bench/local_wer.py --digits        # + the digit fixtures in digits mode
    .venv/bin/python bench/local_wer.py --snr 20        # with white noise at 20 dB SNR
    .venv/bin/python bench/local_wer.py --cmninit 52,8,-1.5,5,0,-4   # try another CMN start
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calls.bridge.audio import pcm16_to_ulaw, ulaw_to_pcm16  # noqa: E402
from calls.bridge.engines.local.spoken import spoken_digits  # noqa: E402
from calls.bridge.engines.local.stt import LocalSpeechToText  # noqa: E402
from calls.bridge.engines.local.tts import LocalTextToSpeech  # noqa: E402
from calls.bridge.engines.pipeline.components import FinalTranscript  # noqa: E402
from tests.fakes.pipeline_parts import SpeechFixture, frames, speech_fixtures, word_errors  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

TRAILING_SILENCE = b"\xff" * 12_000  # 1.5 s: past the end-of-turn silence, also in digits mode


def with_noise(mulaw: bytes, snr_db: float, seed: int = 7) -> bytes:
    """White noise at ``snr_db`` below the utterance's RMS (deterministic)."""
    pcm = ulaw_to_pcm16(mulaw)
    rms = audioop.rms(pcm, 2)
    sigma = rms / (10 ** (snr_db / 20))
    rng = random.Random(seed)
    noise = b"".join(
        max(-32768, min(32767, int(rng.gauss(0, sigma)))).to_bytes(2, "little", signed=True)
        for _ in range(len(pcm) // 2)
    )
    return pcm16_to_ulaw(audioop.add(pcm, noise, 2))


async def recognise(stt: LocalSpeechToText, mulaw: bytes) -> tuple[str, float]:
    events = stt.events()
    started = time.perf_counter()
    for frame in frames(mulaw + TRAILING_SILENCE):
        await stt.send_audio(frame)
    async with asyncio.timeout(30):
        async for event in events:
            if isinstance(event, FinalTranscript):
                return event.text, time.perf_counter() - started
    raise RuntimeError("recogniser ended without a final transcript")


async def run(args: argparse.Namespace) -> None:
    options = {"cmninit": args.cmninit} if args.cmninit else {}
    stt = LocalSpeechToText(decoder_options=options)
    started = time.perf_counter()
    await stt.start()
    print(f"decoder ready in {time.perf_counter() - started:.2f} s")
    fixtures: list[SpeechFixture] = speech_fixtures()
    errors = words = 0
    audio_s = busy_s = 0.0
    for fixture in fixtures:
        audio = with_noise(fixture.mulaw, args.snr) if args.snr is not None else fixture.mulaw
        hypothesis, took = await recognise(stt, audio)
        e, n = word_errors(fixture.text, hypothesis)
        errors, words = errors + e, words + n
        seconds = (len(audio) + len(TRAILING_SILENCE)) / 8000
        audio_s, busy_s = audio_s + seconds, busy_s + took
        print(f"{fixture.file:26} WER {e / n:5.0%}  {fixture.text!r}\n{'':26} -> {hypothesis!r}")
    print(f"\nOVERALL WER {errors / words:.1%} ({errors} errors / {words} words, {len(fixtures)} files)")
    print(f"STT real-time factor {busy_s / audio_s:.3f} ({busy_s:.2f} s for {audio_s:.1f} s of audio)")
    if args.digits:
        stt.set_mode("digits")
        for fixture in fixtures:
            if fixture.file in ("pin_digits.wav", "account_digits.wav"):
                hypothesis, _ = await recognise(stt, fixture.mulaw)
                wanted = spoken_digits(fixture.text)
                got = spoken_digits(hypothesis)
                print(
                    f"digits {fixture.file:22} {hypothesis!r} -> {got} ({'ok' if got == wanted else 'WRONG'})"
                )
    await stt.close()
    tts = LocalTextToSpeech()
    text = "Thank you for calling. Our opening hours are nine to five, Monday to Friday."

    async def pieces() -> object:
        yield text

    started = time.perf_counter()
    audio = b"".join([chunk async for chunk in tts.synthesize(pieces())])  # type: ignore[arg-type]
    took = time.perf_counter() - started
    print(f"TTS real-time factor {took / (len(audio) / 8000):.4f} ({len(audio) / 8000:.2f} s of speech)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--digits", action="store_true", help="also run the digit fixtures in digits mode")
    parser.add_argument("--snr", type=float, default=None, help="add white noise at this SNR (dB)")
    parser.add_argument("--cmninit", default="", help="cepstral mean start (default: the model's)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
