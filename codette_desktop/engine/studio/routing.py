"""Routing advice from a session's structure: track count, track types, aux tracks.

Unlike fader values, the structure the DAW sends is real, so routing advice rests on
firm input: shared reverb and delay on aux sends once there are a few tracks, subgroups
for larger sessions, VCAs for very large ones, and a bus for a family of tracks of the
same source when the types say what the sources are. The advice lines are quoted from
the knowledge base.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.instrument_table import shipped_instruments
from codette_desktop.engine.studio.review_notes import Check, ReviewNotes

# From this many tracks, one shared reverb on an aux beats a reverb insert per track (one
# space for the mix, less CPU, one return to EQ) — Senior, Mixing Secrets, ch. 16.
SHARED_FX_MIN_TRACKS = 3
# From this many tracks, subgroups (drums, vocals, music...) make the balance manageable.
SUBGROUP_MIN_TRACKS = 8
# From this many tracks, VCAs for the families you ride save moving many faders.
VCA_MIN_TRACKS = 24
# This many tracks of one source (e.g. drums) want their own bus.
FAMILY_BUS_MIN_TRACKS = 3
# Declared types that carry no audio of their own.
_NON_AUDIO_ROLES = frozenset({"bus", "vca", "master"})
# Sources that are usually grouped on a bus of their own, with their knowledge entries.
_FAMILY_NAMES = {
    "drums": "drum",
    "vocal": "vocal",
    "guitar": "guitar",
    "keys": "keys",
    "synth": "synth",
}

_SHARED_FX = ("reverb-types", "reverb send aux shared", r"\baux\b")
_SUBGROUPS = ("subgroups-vca-routing", "subgroups groups drums vocals", r"^common groups|subgroup")
_VCAS = ("subgroups-vca-routing", "vca faders level", r"\bvca\b")
_RETURNS = ("reverb-types", "reverb aux 100% wet", r"100% wet")


def review_routing(
    kb: KnowledgeBase, *, track_count: int, track_types: Sequence[str], has_aux: bool
) -> tuple[ReviewNotes, float]:
    """Routing notes for the session, and the share of track types that name a source
    (``vocal``, ``drums``...) rather than a DAW kind (``audio``, ``instrument``, ``midi``)."""
    notes = ReviewNotes()
    table = shipped_instruments()
    roles = [table.identify(name=None, track_type=t) for t in track_types]
    kb_types = [r.kb_track_type if r else None for r in roles]
    role_ids = [r.id if r else None for r in roles]
    aux_count = sum(1 for r in role_ids if r == "bus")
    vca_count = sum(1 for r in role_ids if r == "vca")
    audible = sum(1 for k in kb_types if k not in _NON_AUDIO_ROLES) if track_types else track_count
    specific = [k for k in kb_types if k is not None and k not in _NON_AUDIO_ROLES]
    specific_share = len(specific) / len(track_types) if track_types else 0.0
    kinds = Counter(t.strip().lower() for t in track_types)
    if track_types:
        notes.findings.append(
            f"{track_count} tracks: "
            + ", ".join(
                f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
            )
            + "."
        )
    if track_types and len(track_types) != track_count:
        notes.limitations.append(
            f"The track count ({track_count}) and the list of types ({len(track_types)}) differ."
        )
    if has_aux != (aux_count > 0) and track_types:
        notes.limitations.append(
            "The aux flag and the track types disagree; the aux flag is taken as sent."
        )
    has_bus = has_aux or aux_count > 0
    if track_count == 0:
        notes.findings.append("No tracks were sent, so there is no routing to review.")
    if audible >= SHARED_FX_MIN_TRACKS:
        notes.checks.append(
            Check("shared effects on an aux", has_bus, "aux present" if has_bus else "no aux")
        )
        if not has_bus:
            notes.findings.append(
                f"No aux track among {track_count} tracks, so every reverb or delay would be "
                "an insert of its own."
            )
            line = notes.cite(kb, *_SHARED_FX)
            if line:
                notes.recommendations.append(
                    f"Create an aux for a shared reverb (and one for a delay): {line}"
                )
            notes.action("create_aux_track", "routing", "Reverb aux", "medium")
        else:
            line = notes.cite(kb, *_RETURNS)
            if line:
                notes.recommendations.append(f"Use the aux tracks as shared returns: {line}")
    if track_count >= SUBGROUP_MIN_TRACKS:
        grouped = has_bus or vca_count > 0
        notes.checks.append(
            Check(
                "subgroups for a large session",
                grouped,
                "bus or VCA present" if grouped else "none",
            )
        )
        if not grouped:
            line = notes.cite(kb, *_SUBGROUPS)
            if line:
                notes.recommendations.append(
                    f"With {track_count} tracks, route families to subgroups. {line}"
                )
        elif has_bus:
            notes.limitations.append(
                "Whether the aux tracks are subgroups or effect returns is not sent."
            )
    if track_count >= VCA_MIN_TRACKS:
        notes.checks.append(
            Check("VCAs for a very large session", vca_count > 0, f"{vca_count} VCA(s)")
        )
        if vca_count == 0:
            line = notes.cite(kb, *_VCAS)
            if line:
                notes.recommendations.append(line)
    families = Counter(k for k in kb_types if k in _FAMILY_NAMES)
    for family, count in sorted(families.items()):
        if count >= FAMILY_BUS_MIN_TRACKS and not has_bus:
            notes.recommendations.append(
                f"{count} {family} tracks: route them to a {_FAMILY_NAMES[family]} bus so they "
                "can be balanced and processed as one."
            )
    return notes, specific_share
