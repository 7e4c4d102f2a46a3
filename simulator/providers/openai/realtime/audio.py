"""Synthetic speech for audio answers, and how long (and how many tokens) audio is.

No voice is synthesised: an answer's audio is a quiet tone of the length the words
would take to say, so clients that play, buffer or count audio see plausible sizes.
"""

from __future__ import annotations

import math
from array import array

# Bytes per second of each audio format the Realtime API speaks: 24 kHz mono PCM16,
# and 8 kHz G.711 (one byte a sample).
BYTES_PER_SECOND = {"audio/pcm": 48_000, "audio/pcmu": 8_000, "audio/pcma": 8_000}
# Speech runs at about 150 words a minute, some 3.3 tokens a second: a token of the
# transcript is about 0.3 s of audio.
SECONDS_PER_TOKEN = 0.3
# Audio tokens: one per 100 ms heard, one per 50 ms spoken (OpenAI, "Managing costs" of
# the Realtime guide: https://developers.openai.com/api/docs/guides/realtime-costs).
INPUT_AUDIO_TOKENS_PER_SECOND = 10
OUTPUT_AUDIO_TOKENS_PER_SECOND = 20
# The shortest buffer a commit accepts (OpenAI: "Expected at least 100ms of audio").
MIN_COMMIT_SECONDS = 0.1

_RATE = 24_000
# One second of a 220 Hz tone, quiet (-26 dBFS): sliced for each delta, never recomputed.
_TONE = array("h", (int(1600 * math.sin(2 * math.pi * 220 * i / _RATE)) for i in range(_RATE))).tobytes()
# G.711 silence (µ-law, A-law).
_SILENCE = {"audio/pcmu": b"\xff", "audio/pcma": b"\xd5"}


def seconds_of(size: int, audio_format: str) -> float:
    """How long `size` bytes of audio in `audio_format` last."""
    return size / BYTES_PER_SECOND.get(audio_format, BYTES_PER_SECOND["audio/pcm"])


def input_audio_tokens(size: int, audio_format: str) -> int:
    """Prompt tokens of `size` bytes of input audio."""
    return math.ceil(seconds_of(size, audio_format) * INPUT_AUDIO_TOKENS_PER_SECOND)


def output_audio_tokens(seconds: float) -> int:
    return math.ceil(seconds * OUTPUT_AUDIO_TOKENS_PER_SECOND)


def speech(tokens: int, audio_format: str, offset: int = 0) -> bytes:
    """The audio of `tokens` tokens of transcript, starting `offset` bytes into the tone."""
    rate = BYTES_PER_SECOND.get(audio_format, BYTES_PER_SECOND["audio/pcm"])
    size = int(tokens * SECONDS_PER_TOKEN * rate)
    silence = _SILENCE.get(audio_format)
    if silence is not None:
        return silence * size
    size -= size % 2  # whole PCM16 samples
    start = offset % len(_TONE)
    start -= start % 2
    out = bytearray()
    while len(out) < size:
        piece = _TONE[start : start + size - len(out)]
        out += piece
        start = 0
    return bytes(out)
