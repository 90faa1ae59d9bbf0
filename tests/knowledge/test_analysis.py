"""Phone-question normalisation: spoken numbers, filler, light stemming, synonyms, phrases."""

from __future__ import annotations

import pytest

from agents.knowledge.analysis import analyze, stem
from agents.knowledge.vocabulary import PHRASE_WEIGHT, SYNONYM_WEIGHT, query_concepts


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("Um, are you guys open on Sunday?", ["open", "sunday"]),
        ("twenty five dollars for the first visit", ["25", "dollar", "1", "visit"]),
        ("one hundred twenty", ["120"]),
        ("Mon-Fri 8am-6pm, Sat 9:00", ["monday", "friday", "8", "6", "saturday", "9"]),
        ("the 21st of May", ["21", "may"]),
        ("Café crème", ["caf", "crem"]),
        ("Don't they've", []),
    ],
)
def test_analyze(text: str, terms: list[str]) -> None:
    assert analyze(text) == terms


@pytest.mark.parametrize(
    ("words", "shared"),
    [
        (["close", "closed", "closing", "closes"], "clos"),
        (["booking", "booked", "books", "book"], "book"),
        (["cleaning", "cleanings", "cleaned", "clean"], "clean"),
        (["policies", "policy"], "policy"),
        (["children", "kids", "child"], "child"),
        (["stopped", "stopping", "stop"], "stop"),
        (["billing", "bill", "bills"], "bill"),
    ],
)
def test_light_stemming_joins_word_forms(words: list[str], shared: str) -> None:
    assert {stem(word) for word in words} == {shared}


def test_numbers_and_short_words_are_left_alone() -> None:
    assert stem("24") == "24"
    assert stem("bus") == "bus"
    assert stem("glass") == "glass"


def test_query_concepts_expand_synonyms_at_a_lower_weight() -> None:
    concepts = query_concepts("how much does a cleaning cost")
    cost = next(concept for concept in concepts if "cost" in concept)
    assert cost["cost"] == 1.0
    assert cost["fee"] == cost["pric"] == SYNONYM_WEIGHT
    # "how much" asks about price, but "cost" already does: no second price concept.
    assert sum("pric" in concept for concept in concepts) == 1


def test_phrase_intents_add_what_stop_words_were_asking() -> None:
    concepts = query_concepts("where are you")
    assert concepts == [
        {"address": PHRASE_WEIGHT, "location": PHRASE_WEIGHT, **concepts[0]},
    ]
    assert concepts[0]["street"] == PHRASE_WEIGHT * SYNONYM_WEIGHT


def test_one_way_expansions_do_not_turn_around() -> None:
    dog = next(iter(query_concepts("dog")))
    assert "pet" in dog and "cat" not in dog
    pet = next(iter(query_concepts("pet")))
    assert "dog" not in pet
    weekend = query_concepts("weekend")[0]
    assert weekend["saturday"] == weekend["sunday"] == SYNONYM_WEIGHT
