"""Insert chains: the usual stage order for a source, what a track's plugins show, and
the knowledge base's settings for each stage.

The stage table is ``resources/reference/mixing_chains.json`` (order, which sources a
stage applies to, plugin-name patterns, which stages a finished chain normally has).
Plugin names are judged only when the DAW sent names: the AI panel sends ``'Unknown'``
for every insert (it maps plugin objects to that string), which says how many inserts
there are and nothing about what they are.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from codette_desktop.engine.knowledge import KnowledgeBase
from codette_desktop.engine.studio.instrument_table import Instrument
from codette_desktop.engine.studio.kb_picks import quote
from codette_desktop.engine.studio.reference import Record, read_table
from codette_desktop.engine.studio.review_notes import Check, ReviewNotes
from codette_desktop.engine.studio.text import name_list
from codette_desktop.errors import ConfigError

_SEPARATORS = re.compile(r"[_\-.]+")
# What the AI panel sends for a plugin it has as an object (AIPanel.tsx).
UNNAMED_PLUGINS = frozenset({"", "unknown"})
# Stages that shape the dry signal and belong before time effects on an insert chain.
_DYNAMIC_STAGES = frozenset({"eq", "compression", "deess", "saturation"})


@dataclass(frozen=True)
class Stage:
    id: str
    label: str
    roles: frozenset[str] | None
    not_roles: frozenset[str]
    query: str
    categories: tuple[str, ...]
    entries: tuple[str, ...]
    line: str
    plugins: re.Pattern[str]

    def applies_to(self, kb_type: str | None) -> bool:
        if kb_type in self.not_roles:
            return False
        return self.roles is None or (kb_type is not None and kb_type in self.roles)


@dataclass(frozen=True)
class ChainPlan:
    stages: tuple[Stage, ...]
    expected: dict[str, tuple[str, ...]]

    def stages_for(self, kb_type: str | None) -> list[Stage]:
        return [s for s in self.stages if s.applies_to(kb_type)]

    def recognise(self, plugin: str) -> Stage | None:
        text = _SEPARATORS.sub(" ", plugin.lower())
        for stage in self.stages:
            if stage.plugins.search(text):
                return stage
        return None


def _pattern(row: Record, key: str) -> re.Pattern[str]:
    try:
        return re.compile(row.text(key))
    except re.error as exc:
        raise ConfigError(f"{row.where}.{key}: {exc}") from exc


@functools.cache
def shipped_chains() -> ChainPlan:
    """The stage table shipped in ``resources/reference/mixing_chains.json``, read once."""
    table = read_table("mixing_chains.json")
    stages = []
    for row in table.records("stages"):
        _pattern(row, "line")
        roles = row.texts("roles") if row.has("roles") else None
        stages.append(
            Stage(
                id=row.text("id"),
                label=row.text("label"),
                roles=frozenset(roles) if roles is not None else None,
                not_roles=frozenset(row.texts("not_roles", allow_empty=True)),
                query=row.text("query"),
                categories=row.texts("categories"),
                entries=row.texts("entries", allow_empty=True),
                line=row.text("line"),
                plugins=_pattern(row, "plugins"),
            )
        )
    ids = {s.id for s in stages}
    expected_row = table.record("expected")
    expected = {key: expected_row.texts(key) for key in expected_row.names()}
    for key, wanted in expected.items():
        if not set(wanted) <= ids:
            raise ConfigError(f"mixing_chains.json.expected.{key}: unknown stage")
    return ChainPlan(tuple(stages), expected)


@dataclass(frozen=True)
class ChainTrack:
    """A track whose insert chain is reviewed."""

    label: str
    role: Instrument | None
    declared_type: str | None
    plugins: tuple[str, ...]

    @property
    def kb_type(self) -> str | None:
        return self.role.kb_track_type if self.role else None

    @property
    def names_known(self) -> bool:
        return any(p.strip().lower() not in UNNAMED_PLUGINS for p in self.plugins)


def chain_order(plan: ChainPlan, kb_type: str | None) -> str:
    """``EQ → Compressor → De-esser, then reverb and delay on sends``."""
    stages = plan.stages_for(kb_type)
    inserts = " → ".join(s.label for s in stages if s.id != "space")
    sends = [s for s in stages if s.id == "space"]
    return f"{inserts}, then {sends[0].label.lower()}" if sends else inserts


def _stage_advice(
    kb: KnowledgeBase, track: ChainTrack, stage: Stage, notes: ReviewNotes
) -> str | None:
    """``"<stage>: <knowledge line>"`` for this source, or None (nothing fits, or the
    same advice is already given). A source the knowledge base writes for is answered
    from its own entries or a search for its type; any other from the stage's general
    entries."""
    if track.kb_type is not None and track.role is not None:
        ids = track.role.kb_entries
    else:
        ids = stage.entries
    own = [e for e in (kb.get(i) for i in ids) if e is not None]
    topic = track.role.kb_topic if track.role else ""
    found = quote(
        kb,
        f"{topic} {stage.query}".strip(),
        own=own,
        pattern=stage.line,
        track_type=track.kb_type,
        categories=stage.categories,
    )
    if found is None:
        return None
    text = f"{stage.label}: {found.line}"
    if text in notes.recommendations:
        return None
    notes.advice_confidences.append(found.confidence)
    return text


def review_chain(
    kb: KnowledgeBase, track: ChainTrack, *, detailed: bool, with_order: bool = True
) -> ReviewNotes:
    """Chain order and settings for ``track``'s source, plus what its plugins show.

    ``detailed`` adds one knowledge-base line per stage (the Mixing Chain button);
    without it only the order and the missing or misplaced stages are reported (the
    Full Session review, where many tracks share one answer). ``with_order`` False
    leaves out the order line (another track of the same source already has it).
    """
    plan = shipped_chains()
    notes = ReviewNotes()
    kind = track.role.label.lower() if track.role else "track of unknown source"
    if track.kb_type is None and track.role is None:
        notes.limitations.append(
            f"Track type '{track.declared_type or 'none'}' does not say what {track.label} is, "
            "so the general chain is given; a name or a type such as vocal, drums or bass "
            "gets the chain for that source."
        )
    if track.role is not None and track.role.id == "vca":
        notes.findings.append(
            f"{track.label[:1].upper()}{track.label[1:]} is a VCA: it carries no audio, so its "
            "processing belongs on the "
            "tracks it controls."
        )
        return notes
    if with_order:
        notes.recommendations.append(
            f"Insert chain for {track.label} ({kind}): {chain_order(plan, track.kb_type)}."
        )
    if detailed:
        for stage in plan.stages_for(track.kb_type):
            line = _stage_advice(kb, track, stage, notes)
            if line:
                notes.recommendations.append(line)
    if track.plugins and not track.names_known:
        notes.limitations.append(
            f"The {len(track.plugins)} insert(s) on {track.label} arrive as 'Unknown' (the "
            "panel sends plugin objects, not names), so which processors it has cannot be "
            "checked."
        )
        return notes
    _judge_plugins(kb, plan, track, notes, detailed=detailed)
    return notes


def _judge_plugins(
    kb: KnowledgeBase, plan: ChainPlan, track: ChainTrack, notes: ReviewNotes, *, detailed: bool
) -> None:
    recognised = [(p, plan.recognise(p)) for p in track.plugins]
    present = {stage.id for _, stage in recognised if stage is not None}
    by_id = {s.id: s for s in plan.stages}
    expected = plan.expected.get(track.kb_type or "", ())
    missing = [by_id[s] for s in expected if s not in present]
    for stage_id in expected:
        notes.checks.append(
            Check(
                f"{by_id[stage_id].label.lower()} on {track.label}",
                stage_id in present,
                "present" if stage_id in present else "missing",
            )
        )
    if missing:
        source = track.role.label.lower() if track.role else "track"
        stages = name_list([s.label.lower() for s in missing])
        if track.plugins:
            it = "it" if len(missing) == 1 else "them"
            finding = f"No {stages} on {track.label}; a finished {source} chain usually has {it}."
        else:
            finding = (
                f"No inserts on {track.label}; a finished {source} chain usually has {stages}."
            )
        notes.findings.append(finding)
        # An empty chain gets the order line only; a partial one the missing stages.
        if not detailed and track.plugins:
            for stage in missing:
                line = _stage_advice(kb, track, stage, notes)
                if line:
                    notes.recommendations.append(line)
    order = [stage.id for _, stage in recognised if stage is not None]
    time_fx = [i for i, sid in enumerate(order) if sid == "space"]
    shaping = [i for i, sid in enumerate(order) if sid in _DYNAMIC_STAGES]
    if time_fx:
        notes.findings.append(
            f"Reverb or delay inserted on {track.label}: a send to a shared return keeps one "
            "space for the mix and lets the return be EQ'd and ducked."
        )
        space = by_id.get("space")
        if space is not None:
            line = _stage_advice(kb, track, space, notes)
            if line:
                notes.recommendations.append(line)
    if time_fx and shaping:
        in_order = max(shaping) < min(time_fx)
        notes.checks.append(
            Check(
                f"time effects after dynamics on {track.label}",
                in_order,
                "in order" if in_order else "a reverb or delay comes before EQ or compression",
            )
        )
        if not in_order:
            notes.findings.append(
                f"On {track.label} a reverb or delay comes before EQ or compression, so those "
                "process the tail as well as the dry sound."
            )
    limiter = [i for i, sid in enumerate(order) if sid == "limiter"]
    if limiter:
        last = limiter[-1] == len(order) - 1
        notes.checks.append(
            Check(f"limiter last on {track.label}", last, "last" if last else "not last")
        )
        if not last:
            notes.findings.append(
                f"The limiter on {track.label} is not the last plugin: anything after it can "
                "push peaks over its ceiling again."
            )
