"""Reading the DAW context: track families, level findings, masking and tempo maths."""

from __future__ import annotations

import pytest

from codette_desktop.engine.context import (
    TempoGrid,
    fader_note,
    format_db,
    infer_family,
    level_findings,
    level_summary,
    masking_note,
    read_context,
    read_track,
    routing_note,
    state_notes,
    tempo_math,
    tempo_note,
)
from codette_desktop.errors import ProtocolError


def _track(**fields: object):
    track = read_track(fields)
    assert track is not None
    return track


def test_none_gives_an_empty_context_and_junk_is_refused_by_the_protocols_schema() -> None:
    assert read_context(None).is_empty
    assert read_context({"genre": "", "project_name": ""}).genre is None
    for junk, field in (({"tracks": "nope"}, "tracks"), ({"selected_track": 5}, "selected_track"),
                        ({"bpm": "fast"}, "bpm"), ({"genre": 7}, "genre")):
        with pytest.raises(ProtocolError) as info:
            read_context(junk)
        assert info.value.field == field


def test_read_track_normalises_what_the_protocol_accepts() -> None:
    track = _track(name="  Lead Vox ", type="Vocal", volume=-3, plugins=["EQ", " ", "Comp"],
                   soloed=True)
    assert track.name == "Lead Vox"
    assert track.declared_type == "vocal"
    assert track.family == "vocal"
    assert track.peak_dbfs is None and track.rms_dbfs is None
    assert track.volume_db == -3.0
    assert track.plugins == ("EQ", "Comp")
    assert track.muted is False and track.soloed is True
    assert read_track(None) is None
    with pytest.raises(ProtocolError):
        read_track({"peak_level": True})  # a bool is not a level


def test_label_addresses_name_and_type() -> None:
    assert _track(name="Lead Vox", type="vocal").label == "'Lead Vox' (vocal) track"
    assert _track(name="Kick In", type="audio").label == "'Kick In' (audio) track"
    assert _track(name="Thing").label == "'Thing' track"
    assert _track(type="bass").label == "selected (bass) track"


@pytest.mark.parametrize(
    ("declared", "name", "family"),
    [
        ("vocal", "Anything", "vocal"),
        ("kick", None, "kick"),
        ("audio", "Kick In", "kick"),
        ("audio", "Bass Drum", "kick"),
        (None, "808 Sub", "bass"),
        ("instrument", "Lead Vox Dbl", "vocal"),
        (None, "Gtr L", "guitar"),
        (None, "Rhodes", "keys"),
        (None, "Lead Synth", "synth"),
        ("audio", "Overheads", "drums"),
        ("theremin", "Weird", "theremin"),
        ("audio", "Untitled 3", None),
    ],
)
def test_infer_family(declared: str | None, name: str | None, family: str | None) -> None:
    assert infer_family(declared, name) == family


def test_selected_track_by_id_is_completed_from_the_track_list() -> None:
    context = read_context(
        {
            "tracks": [{"id": "t2", "name": "Bass DI", "type": "bass", "peak_level": -3.0}],
            "selected_track": {"id": "t2"},
        }
    )
    assert context.selected is not None
    assert context.selected.name == "Bass DI"
    assert context.selected.peak_dbfs == -3.0
    assert context.track_types == ("bass",)


def test_selected_kick_type_boosts_kick_and_family() -> None:
    context = read_context({"selected_track": {"name": "K", "type": "kick"}})
    assert context.track_types == ("kick",)


def test_peak_above_minus_one_gets_the_gain_to_minus_six() -> None:
    (finding,) = level_findings(_track(name="Lead Vox", type="vocal", peak_level=-0.5))
    assert finding.kind == "headroom"
    assert finding.gain_db == pytest.approx(-5.5)
    assert "pull it down 5.5 dB" in finding.text
    assert "-6 dBFS" in finding.text
    assert "-6.0 − (-0.5) = -5.5 dB" in finding.math
    assert "by 5.5 dB" in finding.step


def test_clipping_peak_is_called_clipping() -> None:
    (finding,) = level_findings(_track(peak_level=0.8))
    assert finding.kind == "clipping"
    assert "is clipping" in finding.text
    assert "pull it down 6.8 dB" in finding.text
    assert "+0.8 dBFS" in finding.text


def test_healthy_levels_have_no_findings() -> None:
    track = _track(peak_level=-8.0, rms_level=-20.0)
    assert level_findings(track) == []
    assert level_summary(track) == "peak -8.0 dBFS, RMS -20.0 dBFS, crest factor 12.0 dB"
    assert level_summary(_track(name="x")) is None


def test_low_rms_gets_a_gain_staging_note_capped_by_the_peak() -> None:
    (uncapped,) = level_findings(_track(rms_level=-45.0))
    assert uncapped.kind == "low_rms"
    assert uncapped.gain_db == pytest.approx(27.0)
    assert "raise the input or clip gain about 27.0 dB" in uncapped.text
    (capped,) = level_findings(_track(rms_level=-45.0, peak_level=-20.0))
    # Raising by 27 dB would peak at +7 dBFS; stop at the -6 dBFS ceiling instead.
    assert capped.gain_db == pytest.approx(14.0)
    assert "limited by the peak" in capped.text


def test_hot_rms_is_noted() -> None:
    (finding,) = level_findings(_track(rms_level=-6.0, peak_level=-2.0))
    assert finding.kind == "hot_rms"
    assert finding.gain_db == pytest.approx(-12.0)


def test_mute_and_solo_notes() -> None:
    assert state_notes(_track(muted=False, soloed=False)) == []
    notes = state_notes(_track(muted=True, soloed=True))
    assert any("muted" in n for n in notes)
    assert any("soloed" in n for n in notes)


def test_kick_and_bass_masking_needs_both() -> None:
    both = read_context(
        {"tracks": [{"name": "Kick", "type": "drums"}, {"name": "Sub", "type": "bass"}]}
    )
    note = masking_note(both)
    assert note is not None
    assert "50-100 Hz" in note
    assert "sidechain 'Sub'" in note
    assert "'Kick'" in note
    by_name = read_context({"tracks": [{"name": "BD"}, {"name": "808"}]})
    assert masking_note(by_name) is not None
    only_bass = read_context({"tracks": [{"name": "Bass", "type": "bass"}]})
    assert masking_note(only_bass) is None


@pytest.mark.parametrize(
    ("bpm", "quarter", "eighth", "dotted", "sixty_fourth"),
    [
        (120, "500", "250", "375", "31.2"),
        (90, "666.7", "333.3", "500", "41.7"),
        (140, "428.6", "214.3", "321.4", "26.8"),
    ],
)
def test_tempo_note_numbers(
    bpm: float, quarter: str, eighth: str, dotted: str, sixty_fourth: str
) -> None:
    tempo = TempoGrid(bpm)
    assert tempo.quarter_ms == pytest.approx(60000 / bpm)
    note = tempo_note(tempo)
    assert f"a quarter note is {quarter} ms" in note
    assert f"1/8 = {eighth} ms" in note
    assert f"dotted 1/8 = {dotted} ms" in note
    assert f"pre-delay is {sixty_fourth} ms" in note
    assert f"Quarter note = 60000 / {bpm:g} = {quarter} ms" in tempo_math(tempo)


def test_implausible_bpm_is_ignored() -> None:
    # The protocol accepts 1-999; below 20 or above 400 is a unit mix-up, not a tempo.
    assert read_context({"bpm": 5}).tempo is None
    assert read_context({"bpm": 900}).tempo is None
    assert read_context({"bpm": 128.0}).tempo == TempoGrid(128.0)
    with pytest.raises(ProtocolError):
        read_context({"bpm": 12000})


def test_format_db_signs() -> None:
    assert format_db(-0.5) == "-0.5"
    assert format_db(0.4) == "+0.4"
    assert format_db(-0.01) == "0.0"


# The daw_context the browser DAW sends (FRONTEND_CONTRACT §2): volume is a fader
# position, inserts/sends are counts, bpm is always 120.
FRONTEND = {
    "selected_track": {
        "id": "t3",
        "name": "Lead Vox",
        "type": "audio",
        "volume": 9.0,
        "pan": -0.2,
        "muted": False,
        "soloed": False,
        "armed": True,
        "inserts": 0,
        "sends": 0,
    },
    "tracks": [
        {"id": "t1", "name": "Kick", "type": "audio", "muted": False, "soloed": True},
        {"id": "t3", "name": "Lead Vox", "type": "audio", "muted": False, "soloed": False},
    ],
    "track_counts": {
        "total": 14,
        "audio": 10,
        "instrument": 4,
        "midi": 0,
        "aux": 0,
        "vca": 0,
        "master": 1,
    },
    "is_playing": True,
    "current_time": 83.4,
    "bpm": 120,
    "time_signature": "3/4",
    "unknown_key": {"ignored": True},
}


def test_reads_the_frontend_context() -> None:
    context = read_context(FRONTEND)
    selected = context.selected
    assert selected is not None
    assert selected.volume_db == 9.0 and selected.peak_dbfs is None  # a fader is no level
    assert (selected.inserts, selected.sends, selected.armed) == (0, 0, True)
    assert selected.family == "vocal"
    assert selected.type_terms == ("vocal",)  # "audio" says nothing about the sound
    assert context.track_counts["total"] == 14 and context.track_counts["aux"] == 0
    assert context.is_playing is True and context.current_time == 83.4
    assert context.time_signature == (3, 4)
    assert context.bpm_is_default  # that UI always sends 120
    assert [t.name for t in context.soloed_others] == ["Kick"]
    assert read_context({"bpm": 120}).bpm_is_default is False  # another client's 120 is real


def test_a_high_fader_is_a_fader_note_not_a_level_finding() -> None:
    track = read_track(FRONTEND["selected_track"])
    assert track is not None
    assert level_findings(track) == []
    note = fader_note(track)
    assert note is not None and "+9.0 dB" in note and "not a signal level" in note
    assert fader_note(_track(volume=0.0)) is None
    assert "all the way down" in (fader_note(_track(volume=-60.0)) or "")


def test_routing_notes_use_insert_and_send_counts() -> None:
    track = read_track(FRONTEND["selected_track"])
    assert track is not None
    assert "no insert plugins" in (routing_note(track, "compression") or "")
    assert "no sends yet" in (routing_note(track, "reverb") or "")
    assert routing_note(_track(inserts=3, sends=2), "compression") is None


def test_time_signature_sets_the_bar() -> None:
    tempo = read_context(FRONTEND).tempo
    assert tempo is not None and tempo.bar_ms == pytest.approx(1500.0)
    assert "In 3/4 a bar lasts 1500 ms." in tempo_note(tempo)
    assert read_context({"time_signature": "7/0"}).time_signature is None


def test_a_master_is_judged_as_a_programme() -> None:
    master = _track(name="Master", type="master", peak_level=0.4, rms_level=-7.0)
    (finding,) = level_findings(master)
    assert "-1 dBTP" in finding.text and "true-peak" in finding.text
    assert "-18" not in finding.text  # never single-track gain staging on a master
    assert level_findings(_track(type="master", peak_level=-1.5, rms_level=-7.0)) == []


def test_a_bus_keeps_premaster_headroom() -> None:
    (finding,) = level_findings(_track(name="Mix Bus", type="bus", peak_level=-0.3, rms_level=-9.0))
    assert "5.7 dB" in finding.text and "-6 dBFS" in finding.text
    assert "-18" not in finding.text
    assert level_findings(_track(type="bus", peak_level=-6.5, rms_level=-8.0)) == []
