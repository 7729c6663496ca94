"""Text normalisation and a small BM25 index for the knowledge base.

No ML and no downloads: a message is lower-cased, studio phrases are folded into single
tokens ("kick drum" -> ``kick``, "side-chain" -> ``sidechain``), stop words are dropped,
words are stemmed by a few suffix rules and then mapped to a canonical term
(``vox`` -> ``vocal``, ``comp`` -> ``compression``, ``lufs`` -> ``loudness``). Documents and
queries go through the same pipeline, so the stemmer only has to be consistent, not clever.

Ranking is Okapi BM25 (Robertson & Zaragoza, "The Probabilistic Relevance Framework:
BM25 and Beyond", 2009) with the non-negative Lucene idf.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

# Multi-word studio terms, folded before tokenising so "bass drum" never reads as "bass".
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\b(?:kick|bass)[\s-]?drums?\b", " kick "),
        (r"\bsnare[\s-]?drums?\b", " snare "),
        (r"\bhi[\s-]?hats?\b", " hihat "),
        (r"\bside[\s-]chain(?:ing|ed|s)?\b", " sidechain "),
        (r"\bde[\s-]?ess(?:er|ers|ing)?\b", " deess "),
        (r"\bgain[\s-]stag(?:e|es|ing)\b", " gainstaging "),
        (r"\btrue[\s-]peaks?\b", " truepeak "),
        (r"\bk[\s-]weight(?:ing|ed)?\b", " kweighting "),
        (r"\bpre[\s-]delay\b", " predelay "),
        (r"\b(?:high[\s-]pass(?:ed|ing)?|low[\s-]cut)\b", " highpass "),
        (r"\b(?:low[\s-]pass(?:ed|ing)?|high[\s-]cut)\b", " lowpass "),
        (r"\blow[\s-]end\b", " lowend "),
        # "Too much bass" on a guitar or a mix is its low end, not the bass guitar.
        (
            r"\b(?:too much|so much|a lot of|lots of|excess(?:ive)?|not enough|more|less) bass\b"
            r"(?! guitar| player| track)",
            " lowend ",
        ),
        # "Compared to" measures against something; it is not the topic of comparing.
        (r"\b(?:compared|comparison|relative) (?:to|with)\b", " "),
        # The metronome, not an edit click.
        (r"\bclick[\s-]?tracks?\b|\bmetronome\b", " clicktrack "),
        (r"\bmid[\s/-]?side\b|\bm/s\b", " midside "),
        (r"\bnoise[\s-]gates?\b", " gate "),
        (r"\bvoice[\s-]?overs?\b", " voiceover "),
        (r"\blo[\s-]?fi\b", " lofi "),
        (r"\bhip[\s-]?hop\b", " hiphop "),
        # Echo in a room is its reverberation, not a delay; "make room for" is space.
        (r"\b(?:room|roomy) echo(?:es)?\b|\becho(?:e)?y\b", " roomy "),
        (r"\b(?:make|makes|making|leave|leaves|leaving) room for\b", " space for "),
        # The recording stage, not "my recording" (the track).
        (r"\b(?:while|when|during|before) (?:recording|tracking)\b", " tracking "),
        # The genre, not the two instruments.
        (r"\bdrum\s*(?:and|&|n|'n'?)\s*bass\b|\bd&b\b", " dnb "),
        (r"\bdynamic[\s-]range\b", " dynamics "),
        (r"\bbass[\s-]guitar\b", " bass "),
        (r"\beq'?(?:ing|ed|s)\b", " eq "),
        # The bus everything sums to has many names; they all mean the mix bus, not mastering.
        (r"\b(?:master|mix|stereo|main|2|two)[\s-]?bus(?:s?es)?\b", " mix bus "),
    )
)

_TOKEN = re.compile(r"[a-z0-9]+")

_STOPWORD_TEXT = """
    a about above after again all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each few
    for from further get gets getting got had has have having he her here hers how i if in
    into is it its itself just let lets me might more most much my myself need needs no nor
    not now of off on once only or other our out over own please really same she should so
    some such than that the their them then there these they thing things this those through
    to too try under until up us very want wants was way we were what when where which while
    who whom why will with would yes yet you your yours yourself s t d ll ve re m tip tips
    help make makes making codette hey hi hello whats stop fix fixing use using better best
    good sound sounds sounding tell show give know think go going ok okay alright put puts
    putting set sets without"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Canonical terms: "canonical: word word ...". Words are raw forms or their stems; both
# documents and queries end up with the canonical term.
_SYNONYM_TABLE = """
vocal: vox vocal vocals voice voices singer singers singing vocalist vocalists acapella vo sing
    sings sang
mic: mic mics microphone microphones
compression: comp comps compress compressor compressors compressing compressed compression
    compressive squash squashes squashed squashing
comping: comping comped
reverb: verb verbs reverb reverbs reverberation reverberant
delay: delay delays echo echoes echos
loudness: lufs lkfs loudness loud louder loudest lu
kick: kick kicks bd kik
drums: drum drums kit percussion perc drummer
snare: snare snares
hihat: hihat hat hats hihats cymbal cymbals
bass: bass basses bassline basslines 808 808s
eq: eq eqs equalizer equaliser equalizers equalisers equalization equalisation equalize
    equalise equalizing equalising equalized equalised
master: master mastering mastered masters
mix: mix mixing mixes mixed mixdown mixer
limiter: limiter limiters limiting limit limits brickwall
sidechain: sidechain sidechains ducking duck ducked
pump: pump pumps pumping pumped
deess: deess deesser deessing
sibilance: sibilance sibilant sibilants esses ess
mud: mud muddy muddiness murky
boxy: boxy boxiness boxier cardboard
thin: thin thinner thinnest thinned
quiet: quiet quieter quietest
treatment: treat treats treated treating treatment treatments
acoustic: acoustic acoustics acoustically
earbud: earbud earbuds earphone earphones
spaced: spaced
tracking: tracking
bleed: bleed bleeds bleeding spill spills leak leaks leaking leakage
body: body fat fatter fatness fattest
harsh: harsh harshness piercing shrill brittle
clarity: clarity clear clearer intelligibility intelligible definition
stereo: stereo width wide wider widen widening widener imaging image spread
pan: pan pans panning panned panner
gainstaging: gainstaging staging
clipping: clip clips clipping clipped overs
peak: peak peaks peaking peaked
truepeak: truepeak dbtp intersample
saturation: saturation saturate saturator saturating distortion distort distorted overdrive
    tape
highpass: highpass hpf
lowpass: lowpass lpf
lowend: lowend bottom
masking: mask masks masking masked clash clashing clashes competing fighting
punch: punch punchy punchier punchiness snap
transient: transient transients
gate: gate gates gating gated expander expansion
automation: automation automate automating automated ride riding
bus: bus buses busses group groups submix aux
midside: midside
mono: mono monophonic summed
phase: phase phasing polarity comb combing
tempo: tempo bpm
predelay: predelay
keys: piano pianos keys keyboard keyboards rhodes organ
guitar: guitar guitars gtr gtrs
synth: synth synths synthesizer synthesiser pad pads
dynamics: dynamic dynamics
parallel: parallel nyc
warmth: warm warmth warmer
bright: bright brighter brightness air airy
boomy: boom boomy boominess
streaming: streaming stream
television: television tv broadcast
analysis: analysis analyses analyze analyse analyzed analysed measurement measurements measure
    measured meter metering
"""


def _parse_synonyms(table: str) -> Mapping[str, str]:
    mapping: dict[str, str] = {}
    for line in table.replace("\n    ", " ").strip().splitlines():
        term, _, words = line.partition(":")
        mapping.update(dict.fromkeys(words.split(), term.strip()))
    return MappingProxyType(mapping)


_SYNONYMS = _parse_synonyms(_SYNONYM_TABLE)

# Track types and the family they belong to, so a "kick" track also boosts "drums" entries.
_TRACK_PARENTS: Mapping[str, str] = MappingProxyType(
    {"kick": "drums", "snare": "drums", "hihat": "drums"}
)


def stem(word: str) -> str:
    """Strip common English suffixes ("panning" -> "pan", "vocals" -> "vocal")."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, replacement in (("ations", "ate"), ("ation", "ate"), ("ies", "y")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + replacement
            break
    else:
        if word.endswith("ing") and len(word) >= 6:
            word = word[:-3]
        elif (word.endswith("ed") and not word.endswith("eed") and len(word) >= 5) or (
            word.endswith("es") and word[-3:-2] in ("s", "x", "z", "h") and len(word) >= 5
        ):
            word = word[:-2]
        elif word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) >= 4:
            word = word[:-1]
    # "clipp" -> "clip", so "clipping" and "clip" meet.
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    # "gate" and "gating" both end up "gat".
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]
    return word


def canonical(word: str) -> str:
    """The index term for one lower-case word."""
    direct = _SYNONYMS.get(word)
    if direct is not None:
        return direct
    stemmed = stem(word)
    return _SYNONYMS.get(stemmed, stemmed)


def normalise(text: str) -> str:
    """Lower-case ``text`` and fold multi-word studio terms into single tokens."""
    lowered = text.lower()
    for pattern, replacement in _PHRASES:
        lowered = pattern.sub(replacement, lowered)
    return lowered


def tokenize(text: str) -> list[str]:
    """Canonical terms of ``text``, stop words removed, in order (duplicates kept)."""
    terms: list[str] = []
    for word in _TOKEN.findall(normalise(text)):
        # Single letters are noise, except "q" (the EQ bandwidth: "what Q?").
        if word in _STOPWORDS or (len(word) == 1 and not word.isdigit() and word != "q"):
            continue
        terms.append(canonical(word))
    return terms


# Studio words that say *that* a question is about mixing but not *what* about it. They
# are dropped from a query that has more specific terms ("is my track too loud?" searches
# for loudness, not for entries that say "track"), and a query made only of them is broad.
_GENERIC_TEXT = """mix track song sound audio music record recording production producer daw project
    plugin plugins studio knob knobs dial"""
GENERIC_TERMS = frozenset(canonical(w) for w in _GENERIC_TEXT.split())

# Everyday words that may appear in knowledge keywords ("decay time") but do not by
# themselves make a question a studio question ("what time is it?").
_EVERYDAY_TEXT = """
    time long short big small bad fast slow hard soft today day world people love life work
    lot little new old first last nice great weather write read beginner beginners basics
    newbie learn simple routine high low"""
EVERYDAY_TERMS = frozenset(canonical(w) for w in _EVERYDAY_TEXT.split())


# Words that say what kind of answer is wanted ("which frequency", "what settings"), not
# what it is about: next to a topic word they weigh like descriptive words.
_ASKING_TEXT = """frequency frequencies problem problems setting settings value values amount start
    starting point"""
ASKING_TERMS = frozenset(canonical(w) for w in _ASKING_TEXT.split())


def known_terms() -> frozenset[str]:
    """Every canonical studio term the synonym table knows (the engine's own field)."""
    return frozenset(_SYNONYMS.values())


# Canonical words that name a kind of track ("vocals", "808", "kick drum").
_TRACK_TYPE_TEXT = "vocal kick snare hihat drums bass guitar keys synth master bus"
TRACK_TYPE_WORDS = frozenset(canonical(w) for w in _TRACK_TYPE_TEXT.split())


# Words that name the source rather than what to do with it: the track types and the
# qualifiers of an instrument ("acoustic guitar", "lead vocal", "upright bass").
_SOURCE_TEXT = """acoustic electric lead backing upright grand rhythm doubled tom toms overhead
    overheads strings brass horns sax trumpet violin cello choir"""
SOURCE_TERMS = TRACK_TYPE_WORDS | frozenset(canonical(w) for w in _SOURCE_TEXT.split())


# What is done to a sound (the processes the knowledge is filed under).
_PROCESS_TEXT = """eq compression reverb delay saturation limiter gate deess sidechain automation
    pan stereo midside transient parallel"""
PROCESS_TERMS = frozenset(canonical(w) for w in _PROCESS_TEXT.split())


def track_types_named(terms: Iterable[str]) -> tuple[str, ...]:
    """The track types a question names itself ("compress vocals" -> ("vocal",))."""
    return tuple(dict.fromkeys(t for t in terms if t in TRACK_TYPE_WORDS))


def track_type_terms(types: Iterable[str], *, parents: bool = True) -> frozenset[str]:
    """Canonical track-type terms plus (unless ``parents`` is False) their family
    ("kick" -> {"kick", "drums"})."""
    result: set[str] = set()
    for raw in types:
        for term in tokenize(str(raw)):
            result.add(term)
            parent = _TRACK_PARENTS.get(term)
            if parent is not None and parents:
                result.add(parent)
    return frozenset(result)


@dataclass(frozen=True)
class Scored:
    """One document's BM25 score for a query (``index`` is the document position)."""

    index: int
    score: float


class BM25Index:
    """Okapi BM25 over pre-tokenised documents.

    ``k1`` bounds how much repeated terms help; ``b`` how much long documents are
    penalised. 1.2 / 0.75 are the usual defaults (Robertson & Zaragoza 2009, §3.4).
    """

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75):
        self._k1 = k1
        self._b = b
        self._counts = [Counter(doc) for doc in documents]
        self._lengths = [len(doc) for doc in documents]
        total = sum(self._lengths)
        self._avg_length = total / len(documents) if documents else 0.0
        df: Counter[str] = Counter()
        for counts in self._counts:
            df.update(counts.keys())
        self._df = dict(df)
        # Length normalisation per document, and each term's postings (document, tf): a
        # query then touches only the documents that hold its terms.
        self._norms = [
            k1 * (1.0 - b + b * length / self._avg_length) if self._avg_length else k1
            for length in self._lengths
        ]
        postings: dict[str, list[tuple[int, int]]] = {}
        for index, counts in enumerate(self._counts):
            for term, tf in counts.items():
                postings.setdefault(term, []).append((index, tf))
        self._postings = postings

    def __len__(self) -> int:
        return len(self._counts)

    def document_frequency(self, term: str) -> int:
        return self._df.get(term, 0)

    def idf(self, term: str) -> float:
        """Lucene's non-negative idf; a term no document has gets the largest value."""
        n = len(self._counts)
        df = self._df.get(term, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def max_idf(self) -> float:
        """The idf of a term no document holds: the top of this corpus' idf scale."""
        return self.idf("")

    def score(
        self, terms: Iterable[str], *, weights: Mapping[str, float] | None = None
    ) -> list[Scored]:
        """Scores of every document with at least one query term, best first.

        ``weights`` scales single terms' contributions (default 1.0 each).
        """
        unique = [t for t in dict.fromkeys(terms) if t in self._df]
        if not unique:
            return []
        totals: dict[int, float] = {}
        saturation = self._k1 + 1.0
        for term in unique:
            factor = self.idf(term) * (weights.get(term, 1.0) if weights else 1.0)
            for index, tf in self._postings[term]:
                gain = factor * tf * saturation / (tf + self._norms[index])
                totals[index] = totals.get(index, 0.0) + gain
        results = [Scored(index, total) for index, total in totals.items() if total > 0.0]
        results.sort(key=lambda s: (-s.score, s.index))
        return results

    def ideal_score(
        self, terms: Iterable[str], *, weights: Mapping[str, float] | None = None, tf: int = 3
    ) -> float:
        """What a document of average length holding each query term ``tf`` times scores.

        Used to turn a raw score into a match strength: a query whose words the knowledge
        base lacks gets a large ideal (unknown terms carry the maximum idf) and so a weak
        strength, whatever the best partial match scored.
        """
        saturation = tf * (self._k1 + 1.0) / (tf + self._k1)
        return sum(
            self.idf(t) * saturation * (weights.get(t, 1.0) if weights else 1.0)
            for t in dict.fromkeys(terms)
        )
