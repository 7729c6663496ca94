"""Splitting an answer into chunks for streaming (``chat_chunk`` deltas).

Joining the chunks always gives the answer back, character for character.
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "vs.", "approx.", "cf.", "incl."})
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
_OWN_LINE = re.compile(r"^\s*(\d+[.)]|[-•*])\s")


def split_chunks(text: str) -> list[str]:
    """Split ``text`` sentence by sentence for streaming; joining the chunks gives ``text``.

    Numbered and bulleted lines stay whole. Whitespace after a sentence (including line
    breaks) belongs to that sentence's chunk, so no chunk is blank.
    """
    chunks: list[str] = []
    for line in text.splitlines(keepends=True):
        if _OWN_LINE.match(line):
            chunks.append(line)
            continue
        start = 0
        for match in _SENTENCE_END.finditer(line):
            word_start = line.rfind(" ", start, match.start()) + 1
            word = line[max(word_start, start) : match.start() + 1].lower()
            if word in _ABBREVIATIONS:
                continue
            chunks.append(line[start : match.end()])
            start = match.end()
        if start < len(line):
            chunks.append(line[start:])
    merged: list[str] = []
    for chunk in chunks:
        if merged and not chunk.strip():
            merged[-1] += chunk
        else:
            merged.append(chunk)
    return merged
