"""Questions in German, Spanish, French, Italian and Portuguese: detect, then gloss into English.

No model and no download: a question's language is voted by its function words and
spelling (``ß``, ``ñ``, ``ção``...), then every word found in a small bilingual lexicon of
studio terms and question words is replaced by its English gloss. The gloss is not a
translation a person would write ("wie komprimiere ich gesang" -> "how compress i vocal"),
but retrieval, intent detection and number reading only need its words, and those are the
same pipeline as for an English question.

Lexicon lines read ``english: word word stem*``; a trailing ``*`` matches any ending, so
one line covers a verb's forms (``komprim*`` -> komprimiere, komprimieren, komprimiert).
Words are compared without accents, so ``fréquence`` and ``frequence`` meet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

ENGLISH = "en"
LANGUAGES = (ENGLISH, "de", "es", "fr", "it", "pt")

# One line in the user's language before an English answer (until a model answers in it).
ENGLISH_NOTICE: Mapping[str, str] = MappingProxyType(
    {
        "de": "Ich habe deine Frage verstanden; die ausführliche Antwort gebe ich auf Englisch.",
        "es": "He entendido tu pregunta; la respuesta detallada va en inglés.",
        "fr": "J'ai compris ta question ; la réponse détaillée est en anglais.",
        "it": "Ho capito la tua domanda; la risposta dettagliata è in inglese.",
        "pt": "Entendi a sua pergunta; a resposta detalhada está em inglês.",
    }
)


# Words that vote for a language. Studio words of the lexicon vote too (see _votes).
def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_FUNCTION_WORDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        ENGLISH: _words(
            """how what where which why when should is are the my i do does can to for and of
            with in on at too it this that you your me a an much many be have get make sound
            sounds keep gets per"""
        ),
        "de": _words(
            """ich mein meine meinen meinem meiner wie was wo welche welcher welches welchen
            warum soll sollte sollten kann konnen ist sind und oder der die das den dem des
            ein eine einen einem nicht mit fur auf bei beim zu zum zur viel wieviel klingt
            klingen sich es habe hat wird werden auch noch mehr weniger richtig gut im vom
            uber unter nach vor tun machen setze setzen stelle einstellen sein haben
            machen mache
            bitte man mir mich dir"""
        ),
        "es": _words(
            """como que cual cuales cuanto cuanta cuantos donde por porque mi mis el los las
            un una es son esta suena sueña debe debo puedo para con del al y muy demasiado
            le lo se pongo quito hago mezcla tengo hay tiene uso usar en de tener hacer
            poner la a correctamente"""
        ),
        "fr": _words(
            """comment quel quelle quels quelles ou pourquoi je mon ma mes le la les un une
            des du est sont pour avec sur dans et trop combien faut dois peux sonne eviter
            couper reduire que qui ne pas se au aux cette ce utiliser mettre a de en faire
            correctement"""
        ),
        "it": _words(
            """come quale quali quanto quanta dove perche il lo la gli le un una mio mia miei
            e sono per con su nel nella del della dei tra troppo devo posso suona cosa faccio
            uso usare metto deve essere di da in fare a correttamente sul sulla sullo sui
            sugli sulle
            rendere faccio"""
        ),
        "pt": _words(
            """como qual quais quanto quanta onde porque meu minha meus o a os as um uma e
            sao esta para com no na do da dos das muito devo posso soa usar em nos nas voce
            fazer tirar de corretamente"""
        ),
    }
)

# Spelling that only (or mostly) one of the languages uses, with its vote.
_SPELLING: tuple[tuple[re.Pattern[str], str, float], ...] = tuple(
    (re.compile(pattern), language, weight)
    for pattern, language, weight in (
        (r"[äöüß]", "de", 2.0),
        (r"[ñ¿¡]", "es", 2.0),
        (r"[ãõ]|ção|ções", "pt", 2.0),
        (r"\b(?:a|da|na) voz\b|\bvocê\b|\bminha\b", "pt", 1.0),
        (r"[èòì]|zione\b", "it", 1.0),
        (r"[êâûœ]|\b(?:qu|l|d|j|n|s|c)'", "fr", 1.0),
        (r"ç", "fr", 0.5),
        (r"ç", "pt", 0.5),
    )
)

_COMMON = """
how: wie comment como come
what: was que qué quoi quel quelle quels quelles cosa che qual quale quali cual cuales
where: wo wohin donde dove onde
why: warum wieso weshalb porque pourquoi perche perché
when: wann cuando quand quando
which: welche welcher welches welchen
should: soll sollte sollten solltest sollen debe debo deberia devrais dois doit devo deve
    devria
can: kann kannst konnen puedo puede peux peut posso pode
how much: wieviel cuanto cuanta combien quanto quanta
much: viel
many: viele cuantos cuantas quanti quante quantos quantas
i: ich je yo io eu
my: mein meine meinen meinem meiner mi mis mon ma mes mio mia miei mie meu minha meus
    minhas
too: zu demasiado trop troppo demais muito
loud: laut lauter fuerte alto fort forte
loudness: lautheit lautstarke volumen volume sonoridad intensidad
level: pegel nivel niveau livello
and: und y et e
or: oder
for: fur para pour per
with: mit con avec com
on: auf sur su sobre em
at: bei beim
in: im dans nel nella no na
between: zwischen entre tra fra
before: vor vorher avant antes prima
after: nach nachher despues después apres après dopo depois
sound: klingt klingen klang suena sueña sonne sonnent suona suonano soa
vocal: gesang gesangs gesangsspur stimme stimmen vocals voz voces voix voce voci vocal
    vocais cantante chant
voice: sprache sprecher locucion
compression: komprim* kompression kompressor kompressors compresion compresor compres*
    comprim* compressione compressore compressao compressor
reverb: hall halls nachhall raumhall reverberacion reverberation riverbero reverberacao
    reverb reverbe
decay: abklingzeit nachhallzeit hallzeit ausklingzeit decaimiento decroissance
    decadimento decaimento
delay: verzogerung echo retardo retraso eco ritardo atraso
predelay: vorverzogerung predelay pre-delay
highpass: hochpass* trittschall* paso-alto pasa-altos pasaaltos passe-haut passa-alto
    passa-alta
lowpass: tiefpass* pasa-bajos passe-bas passa-basso passa-baixa
filter: filter filtro filtre
kick: bassdrum basstrommel kickdrum bombo cassa bumbo
snare: caja rullante caixa
bass: bass basse basso baixo bajo bajos basses bassi
low end: graves grave tiefen
drums: schlagzeug bateria batterie batteria
guitar: gitarre gitarren guitarra guitarras guitare guitares chitarra chitarre
piano: klavier flugel piano pianoforte
mix: mix mischung abmischung mezcla mixage mixagem missaggio mixaggio mistura
master: master mastering masterizacion masterisation
frequency: frequenz frequenzen frecuencia frecuencias frequence frequences frequenza
    frequenze frequencia
noise: rauschen ruido bruit rumore ruido
hum: brummen zumbido ronflement ronzio zumbido
wide: breit breiter ancho amplio large largo larga
stereo: stereobreite estereo
pan: panorama paneo panoramique pannen panoramisieren panear panoramizzare
ratio: verhaltnis relacion rapport rapporto razao
threshold: schwelle schwellwert umbral seuil soglia limiar
attack: anstiegszeit ansprechzeit ataque attaque attacco
release: rucklaufzeit liberacion relachement rilascio liberacao
cut: absenken absenkung schneiden cortar corto couper tagliare taglio cortar corte
boost: anheben anhebung realzar realce booster accentuare
set: setze setzen stelle stellen einstellen poner pongo coloco mettre regler impostare
    metto colocar ajustar
use: benutze benutzen verwende verwenden nutze usar uso utiliser utilise usare
remove: entfern* loswerden quitar quito eliminar enlever supprimer rimuovere togliere
    togli* tolgo tirar remover
reduce: reduzieren verringern reducir reduire ridurre reduzir
boxy: acartonado acartonada pappig kartonig cartonneux inscatolato
big: grande grandes gros grosse gross grosser gran
muddy: matschig matschige matsch mulmig dumpf embarrada embarrado barro fangeux boueux confus
    confuse confusa fangoso
    fangosa embolada embolado confuso
harsh: scharf schrill harsch aspero agressif aspro estridente
sibilance: zischlaut* s-laute sibilancia sibilancias sifflante* sibilant* sibilanza
    sibilancia sibilantes
masking: uberlager* verdeck* maskier* enmascar* masquer masque masquent mascher*
    mascara*
clash: kollidieren chocan chocar
deess: deesser de-esser
sidechain: sidechain
good: gut guter gute bueno buena bon bonne buono buona bom boa
ballad: ballade balada ballata
song: lied cancion chanson canzone musica
track: spur spuren pista piste traccia faixa
presence: prasenz presencia presence presenza presenca presente presentes prasent
clarity: klar klarer klare deutlich deutlicher chiara chiaro chiare clara claro claire clair
    claires nitida nitido
more: mehr mas più piu plus mais
time: zeit tiempo temps
electric: elektrisch* electrica electrico electrique elettrica elettrico eletrica eletrico
acoustic: akustisch* akustik acustica acustico acoustique acustica
eq: entzerrer ecualizador ecualizacion ecualizar egaliseur egalisation egaliser equalizzatore
    equalizzazione equalizador equalizacao equalizar equalizzare
limiter: begrenzer limitador limitadores limiteur limitatore limitatori
saturation: sattigung saturacion saturazione saturacao
distortion: verzerrung verzerrer distorsion distorsione distorcao
polarity: polaritat polaridad polarite polarita polaridade
automation: automatisierung automatizacion automatisation automazione automacao
recording: aufnahme aufnahmen aufnehm* grab* enregistr* registr* gravacao gravar gravo gravando
home: zuhause hause casa maison
microphone: mikrofon mikrofone mikrofons microfono microfonos microfoni microfone microfones
headphones: kopfhorer auriculares cascos casque cuffie cuffia fones
speakers: lautsprecher monitore altavoces enceintes casse caixas
hiss: siseo souffle fruscio chiado
breaths: atmer atemgerausche respiraciones respiracion respirations respiri respiro respiracoes
    respiracao
plosives: plosivlaute plosivas plosivos
room: raum zimmer habitacion cuarto stanza quarto
headroom: margen marge margine margem
gain: verstarkung ganancia guadagno ganho
quiet: leise leiser silencioso silenciosa
audiobook: horbuch horbucher audiolibro audiolibros audiolivro
dialogue: dialog dialoge dialogo dialogos
boomy: drohn* retumb* rimbomb*
thin: dunn dunne dunner delgado delgada mince maigre sottile
dull: dumpfe apagado apagada terne spento spenta abafado abafada
bright: brillante brillant brilhante
warm: warmer calido calida chaud chaude caldo calda quente
punch: druck pegada
narrow: enger estrecho estrecha etroit etroite stretto stretta estreito estreita
lost: untergeh* verloren pierd* perd* noye noyee
behind: hinter detras derriere dietro atras
under: unter debajo dessous sotto debaixo
knee: knie rodilla genou ginocchio joelho
feedback: ruckkopplung realimentacion retroalimentacion retroazione realimentacao
length: laenge longitud duracion longueur duree lunghezza durata comprimento duracao
long: lang lange langer lungo lunga longo longa
short: kurz kurze kurzer court courte breve curto curta
fast: schnell schneller rapido rapida rapide veloce
slow: langsam langsamer lento lenta lent lente
high: hoch hohe hoher haut haute
avoid: vermeiden vermeide evitar evito eviter evitare
fix: beheben reparieren arreglar arreglo corriger sistemare correggere corrigir consertar
improve: verbessern mejorar ameliorer migliorare melhorar
send: schicken senden enviar mandar envoyer inviare mandare
leave: lassen lasse dejar dejo laisser lasciare deixar deixo
separated: getrennt separar separados separadas separer separes separare separati
cymbals: becken platillos cymbales piatti pratos
keys: tasten teclado teclados tastiera
synth: sintetizador sintetizadores synthetiseur sintetizzatore
strings: streicher cuerdas cordes archi cordas
mastering: masterisierung masteriz* masterizacion masterizzare masterizzazione masterizacao
    masteriser
tail: hallfahne cola queue coda cauda
integrated: integriert integrierte integrado integrada integre integree integrato integrata
difference: unterschied diferencia differenza diferenca
setting: einstellung einstellungen ajuste ajustes reglage reglages impostazione impostazioni
tips: tipps consejos conseils consigli dicas
genre: genero
orchestra: orchester orquesta orchestre orquestra
film: pelicula filme
"""


@dataclass(frozen=True)
class Gloss:
    """A question's language and its English gloss (the text itself when it is English)."""

    language: str
    text: str
    known_share: float  # share of the words the lexicon knew (1.0 for English)

    @property
    def is_english(self) -> bool:
        return self.language == ENGLISH

    @property
    def notice(self) -> str | None:
        """The line that tells the user, in their language, the answer is in English."""
        return ENGLISH_NOTICE.get(self.language)


def fold(word: str) -> str:
    """Lower-case ``word`` and drop its accents (``Fréquence`` -> ``frequence``)."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("ß", "ss")


def _parse(table: str) -> tuple[Mapping[str, str], tuple[tuple[str, str], ...]]:
    exact: dict[str, str] = {}
    prefixes: list[tuple[str, str]] = []
    for line in table.replace("\n    ", " ").strip().splitlines():
        english, _, words = line.partition(":")
        for word in words.split():
            if word.endswith("*"):
                prefixes.append((fold(word[:-1]), english.strip()))
            else:
                exact[fold(word)] = english.strip()
    # Longest prefix first, so "kompressor" is not read as a shorter stem's gloss.
    prefixes.sort(key=lambda item: -len(item[0]))
    return MappingProxyType(exact), tuple(prefixes)


_EXACT, _PREFIXES = _parse(_COMMON)
# Words whose gloss depends on the language (checked before folding, so "où" is not "ou").
_OVERRIDES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "fr": {"où": "where", "ou": "or"},
        "pt": {"ou": "or", "e": "and", "é": "is", "o": "the"},
        "it": {"e": "and", "è": "is"},
        "es": {"o": "or", "y": "and", "no": "not"},
        "de": {"tempo": "tempo"},
    }
)
# Lexicon words that are English too ("master", "reverb"): no evidence of another language.
_ENGLISH_TERMS = frozenset(
    {w for gloss in _EXACT.values() for w in gloss.split()}
    | _words(
        """volume echo large forte tempo piano bass filter stereo mix master mastering reverb
        vocal vocals sidechain delay predelay pre-delay deesser de-esser compressor guitar
        compression time"""
    )
)
_FOLDED_FUNCTION_WORDS = MappingProxyType(
    {lang: frozenset(fold(w) for w in words) for lang, words in _FUNCTION_WORDS.items()}
)
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*|[+\-−–]?\d+(?:[.,:/]\d+)*|\S", re.UNICODE)
# Multi-word expressions, glossed before single words.
_PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), english)
    for pattern, english in (
        (r"\bgrosse?s? caisses?\b|\bgrosse-caisse\b", " kick "),
        (r"\bcaisse claire\b", " snare "),
        (r"\bwie viel\b|\bwieviel\b", " how much "),
        (r"\bqu'est-ce que\b|\bqu'est ce que\b", " what "),
        (r"\bpor que\b|\bpor qué\b|\bpourquoi\b", " why "),
        (r"\bqué tan\b|\bque tan\b", " how "),
        (r"\bmedios graves\b|\bmédios graves\b|\bbas-médiums\b|\bmedio-bassi\b", " low mids "),
        (r"\bclip gain\b", " clip gain "),
        (r"\bwas ist\b|\bqu[eé] es\b|\bche cos'?[eè]\b|\bcos'?[eè]\b|\bo que [eé]\b", " what is "),
    )
)


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text``: ``en`` unless another language clearly outvotes it."""
    words = [fold(w) for w in _WORD.findall(text) if w[0].isalpha()]
    if not words:
        return ENGLISH
    scores = dict.fromkeys(LANGUAGES, 0.0)
    for word in words:
        voters = [lang for lang, vocab in _FOLDED_FUNCTION_WORDS.items() if word in vocab]
        for lang in voters:
            scores[lang] += 1.0 / len(voters)
    lowered = text.lower()
    for pattern, lang, weight in _SPELLING:
        if pattern.search(lowered):
            scores[lang] += weight
    best = max(LANGUAGES[1:], key=lambda lang: scores[lang])
    # Studio words only the lexicon knows ("Gesang", "voz") say "not English" without
    # saying which language; the function words and spelling decide that.
    foreign = scores[best] + 0.75 * sum(1 for w in words if _is_foreign_term(w))
    if scores[best] >= 0.5 and foreign >= 1.5 and foreign > scores[ENGLISH]:
        return best
    return ENGLISH


def _is_foreign_term(folded: str) -> bool:
    if folded in _ENGLISH_TERMS:
        return False
    return folded in _EXACT or any(folded.startswith(prefix) for prefix, _ in _PREFIXES)


def _gloss_word(word: str, language: str) -> str | None:
    override = _OVERRIDES.get(language, {}).get(word.lower())
    if override is not None:
        return override
    folded = fold(word)
    direct = _EXACT.get(folded)
    if direct is not None:
        return direct
    for prefix, english in _PREFIXES:
        if folded.startswith(prefix):
            return english
    if language == "de":
        return _compound(folded)
    return None


_MIN_PART = 3


def _compound(folded: str) -> str | None:
    """A German compound of two lexicon words ("akustikgitarre" -> "acoustic guitar",
    "gesangsspur" -> "vocal track"), the linking "s" or "n" allowed; None otherwise."""
    for cut in range(_MIN_PART, len(folded) - _MIN_PART + 1):
        head, tail = folded[:cut], folded[cut:]
        tail_gloss = _EXACT.get(tail) or next(
            (english for prefix, english in _PREFIXES if tail.startswith(prefix)), None
        )
        if tail_gloss is None:
            continue
        for stem in (head, head[:-1] if head.endswith(("s", "n")) else None):
            if stem and len(stem) >= _MIN_PART and (head_gloss := _EXACT.get(stem)):
                return f"{head_gloss} {tail_gloss}"
    return None


def gloss(text: str) -> Gloss:
    """Detect the language of ``text`` and gloss it into English words."""
    language = detect_language(text)
    if language == ENGLISH:
        return Gloss(ENGLISH, text, 1.0)
    function_words = _FOLDED_FUNCTION_WORDS[language]
    working = text
    for pattern, english in _PHRASES:
        working = pattern.sub(english, working)
    # Decimal commas: "-14,5 LUFS" is -14.5.
    working = re.sub(r"(\d),(\d)", r"\1.\2", working)
    out: list[str] = []
    known = total = 0
    for token in _WORD.findall(working):
        if not token[0].isalpha():
            out.append(token)
            continue
        # Elided articles ("l'égaliseur", "dell'EQ") carry no meaning of their own.
        head, _, tail = token.rpartition("'")
        word = tail if head and len(head) <= 4 else token
        total += 1
        glossed = _gloss_word(word, language)
        if glossed is None and "-" in word:
            # "Attack-Zeit": the parts, when each is a loanword or in the lexicon.
            parts = [_gloss_word(part, language) or part for part in word.split("-")]
            glossed = " ".join(parts) if parts != word.split("-") else None
        if glossed is not None:
            known += 1
            out.append(glossed)
        elif fold(word) in function_words:
            known += 1  # a function word with no gloss of its own: drop it
        else:
            out.append(word)  # a loanword ("Spotify", "Sidechain", "LUFS") or unknown
    return Gloss(language, " ".join(out), known / total if total else 1.0)
