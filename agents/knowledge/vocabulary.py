"""Query-side vocabulary: synonyms of common business words and spoken question phrases.

Callers and web pages name the same things differently: the caller asks "how much is it", the
price list says "fees"; the caller asks "can I book", the page says "appointments"; "are you open"
meets "opening hours". BM25 only counts shared terms, so each query term is expanded with the
members of its group at a lower weight: a document using the caller's own word still wins, and one
using only the synonym is no longer invisible. The groups are deliberately small and about the
vocabulary of small businesses (clinics, trades, restaurants, shops); a general thesaurus would
drag in senses that have nothing to do with a phone desk ("book" the noun, "rate" the verb).

Phrases are matched on the folded question before analysis, because their words are stop words
("how much", "where are you"): they add the terms their intent implies.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agents.knowledge.analysis import analyze, fold, normalize_word

# Relative to the caller's own word (1.0). Recall@3 on the evaluation set was flat from 0.4 to 0.8;
# 0.6 keeps a page using the caller's exact word ahead of one using a synonym.
SYNONYM_WEIGHT = 0.6
PHRASE_WEIGHT = 0.6

Concept = dict[str, float]  # index term -> weight; a passage scores its best term of each concept

SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("hours", "open", "opening", "close", "closing", "closed"),
    ("price", "pricing", "cost", "fee", "charge", "rate", "expensive", "cheap", "afford", "quote"),
    ("appointment", "booking", "book", "reservation", "reserve", "schedule", "slot", "availability"),
    ("cancel", "cancellation", "reschedule"),
    ("address", "location", "located", "directions", "street", "road", "avenue", "boulevard"),
    ("parking", "park", "garage", "lot"),
    ("pay", "payment", "card", "cash", "financing", "installment"),
    ("insurance", "insured", "coverage", "cover", "covered", "insurer", "network"),
    ("emergency", "urgent", "asap", "immediately"),
    ("refund", "return", "exchange", "money"),
    ("delivery", "deliver", "shipping", "ship"),
    ("takeout", "pickup", "carryout", "collect"),
    ("phone", "email", "contact", "reach", "text"),
    ("child", "pediatric"),
    ("discount", "coupon", "promotion", "deal", "special", "offer"),
    ("warranty", "guarantee", "guaranteed"),
    ("job", "hiring", "career", "position", "employment", "vacancy"),
    ("allergy", "allergen", "allergic"),
    ("vegetarian", "vegan", "meatless"),
    ("gluten", "celiac", "coeliac"),
    ("pet", "animal"),
    ("wheelchair", "accessible", "accessibility", "disabled", "ramp"),
    ("estimate", "quote", "assessment", "consultation"),
    ("duration", "long", "minutes"),
    ("deposit", "prepay", "upfront"),
    ("wait", "waitlist", "queue"),
    ("walk", "walkin", "unannounced"),
    ("late", "tardy"),
    ("eat", "food", "meal", "feed", "fasting"),
    ("repair", "fix", "broken", "leak", "leaking"),
    ("vet", "veterinarian"),
)

# A term expands to others without the reverse being true: a kind of thing to its family
# ("dog" -> "pet", but a question about pets is not about dogs only; "son" -> "child", but not
# "son" -> "daughter"), and a few words to what callers mean by them ("weekend").
ONE_WAY: dict[str, tuple[str, ...]] = {
    "weekend": ("saturday", "sunday"),
    "weekday": ("monday", "tuesday", "wednesday", "thursday", "friday"),
    "tonight": ("today", "hours", "open"),
    "today": ("hours", "open"),
    "holiday": ("closed", "hours"),
    "night": ("evening", "closed", "emergency"),
    "overnight": ("night", "closed", "emergency"),
    "cleaning": ("hygiene",),
    "dog": ("pet", "animal"),
    "cat": ("pet", "animal"),
    "puppy": ("dog", "pet"),
    "kitten": ("cat", "pet"),
    "son": ("child",),
    "daughter": ("child",),
    "baby": ("child",),
    "toddler": ("child",),
    "teen": ("child",),
    "dentist": ("doctor",),
    "physician": ("doctor",),
    "doordash": ("delivery", "app"),
    "grubhub": ("delivery", "app"),
    "uber": ("delivery", "app"),
}

# Spoken question shapes whose words are all stop words, and what they ask about.
PHRASE_INTENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\bhow much\b", ("price", "cost")),
    (r"\bwhere (are|is|do)\b", ("address", "location")),
    (r"\bwhat time\b|\bwhen (are|do|does|is) (you|it|the)\b", ("hours", "open")),
    (r"\bhow long\b", ("minutes", "duration")),
    (r"\bhow (early|late)\b", ("hours", "minutes")),
    (r"\bwho (is|are|will)\b", ("staff", "team")),
)
_COMPILED_PHRASES = tuple((re.compile(pattern), terms) for pattern, terms in PHRASE_INTENTS)


def _term(word: str) -> str:
    return normalize_word(fold(word))


@lru_cache(maxsize=1)
def expansion_table() -> dict[str, tuple[str, ...]]:
    """Index term -> the index terms it also searches for (analysed like everything else)."""
    table: dict[str, set[str]] = {}
    for group in SYNONYM_GROUPS:
        terms = {_term(word) for word in group}
        for term in terms:
            table.setdefault(term, set()).update(terms - {term})
    for word, targets in ONE_WAY.items():
        table.setdefault(_term(word), set()).update(_term(target) for target in targets)
    return {term: tuple(sorted(others)) for term, others in table.items()}


def query_concepts(query: str) -> list[Concept]:
    """What a caller's question searches for: one concept per thing the caller asked about.

    A concept is the caller's word at weight 1.0 plus its synonyms at ``SYNONYM_WEIGHT``, or the
    terms a spoken phrase implies at ``PHRASE_WEIGHT``. A passage scores the best-matching term of
    each concept, not the sum: a page that says "fee", "charge" and "rate" is not three times as
    much about price as one that says "price" once, and repeating a word in speech is no emphasis.
    """
    table = expansion_table()
    concepts: list[Concept] = []
    for term in dict.fromkeys(analyze(query)):
        concept = dict.fromkeys(table.get(term, ()), SYNONYM_WEIGHT)
        concept[term] = 1.0
        concepts.append(concept)
    covered = {term for concept in concepts for term in concept}
    folded = fold(query)
    for pattern, implied in _COMPILED_PHRASES:
        terms = [_term(word) for word in implied]
        if not pattern.search(folded) or covered.intersection(terms):
            continue  # "how much does it cost": the caller's own word already asks for prices
        concept = {}
        for term in terms:
            concept.update(dict.fromkeys(table.get(term, ()), PHRASE_WEIGHT * SYNONYM_WEIGHT))
        concept.update(dict.fromkeys(terms, PHRASE_WEIGHT))
        concepts.append(concept)
        covered.update(concept)
    return concepts
