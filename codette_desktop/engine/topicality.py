"""Is this a studio question at all?

A question is refused as outside the engine's field when none of its deciding words
belongs to mixing and production and the knowledge base matches it only weakly ("what's
the best pancake mix?" is about pancakes; "how do I mix this?" is about mixing), or when
its studio word is used in another trade's sense: "compress a zip file", "mix concrete",
"track my parcel", "how loud is a jet engine" — unless the question also names something
from the studio (a vocal, a recording, a plugin).
"""

from __future__ import annotations

import re

from codette_desktop.engine.knowledge import SearchResult

# Below this confidence, a question with no studio vocabulary is treated as off-topic.
OFF_TOPIC_CONFIDENCE = 0.3

# Things from other trades that give a studio word another sense.
_OTHER_SENSES = re.compile(
    r"\b(?:zip|zipped|rar|pdfs?|jpe?gs?|png|photos?|folders?|archives?|database"
    r"|concrete|cement|mortar|grout|paint|drinks?|cocktails?|batter|dough|cakes?|pancakes?"
    r"|recipes?|salad|flour|chess|thesis|parcels?|shipments?|fitness|calories|weight loss"
    r"|muscles?|portfolio|investments?|followers|profits?|iphone|android|phone plans?|flights?"
    r"|jet|engines?|airplanes?|aircraft|lawn ?mowers?|neighbou?rs?|dogs?|cats?|babies|baby"
    r"|fish(?:ing)?|lakes?|lures?|bait|hedges?|gardens?|moon|frying|python|javascript"
    r"|spreadsheets?|weather|football|soccer|world cup|election|bicycle|tyres?|tires?"
    r"|languages?|fridge|refrigerator|freezer|dishwasher|washing machine|vacuum"
    r"|dinner|lunch|breakfast|meals?|restaurants?|kitchen|party|parties|gym|workouts?|diet"
    r"|stains?|shirts?|clothes|laundry|carpets?|kettle|tyres?|tires?|movies?|cinema"
    r"|box office|release date)\b",
    re.IGNORECASE,
)
# Words that put a question back in the studio whatever else it mentions.
_STUDIO_CONTEXT = re.compile(
    r"\b(?:vocals?|vox|singers?|songs?|recordings?|recorded|record(?:ing)? (?:of|the|my)|mics?"
    r"|microphones?|plugins?|daw|mixdown|eq|equali[sz]er|compressor|reverb|guitars?|drums?"
    r"|kick|snare|beats?|studio|audio|stems?|mix bus|master bus|podcast|dialogue|dialog"
    r"|voice-?over|synths?|piano|808|mixing)\b",
    re.IGNORECASE,
)


# Translating words between languages, not a mix between speakers.
_LANGUAGE_TRANSLATION = re.compile(
    r"\btranslat\w*\b[^?.!]{0,40}\b(?:in|into|to|from) (?:english|japanese|german|french"
    r"|spanish|italian|portuguese|chinese|mandarin|korean|russian|arabic|dutch|hindi)\b",
    re.IGNORECASE,
)


def is_off_topic(text: str, result: SearchResult) -> bool:
    """True when the (English or glossed) question is outside mixing and production."""
    if not result.terms:
        return False  # nothing to judge ("?"): answered as a vague studio question
    topical = result.domain_terms.intersection(result.key_terms)
    if not topical and result.confidence < OFF_TOPIC_CONFIDENCE:
        return True
    if _LANGUAGE_TRANSLATION.search(text):
        return True
    return bool(_OTHER_SENSES.search(text)) and not _STUDIO_CONTEXT.search(text)
