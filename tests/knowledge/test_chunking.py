"""Passages: 100-200 words, sentences whole, headings kept as context, overlap across cuts."""

from __future__ import annotations

from agents.knowledge.chunking import MAX_WORDS, OVERLAP_WORDS, chunk_text, split_sentences


def _sentences(count: int, topic: str) -> list[str]:
    return [
        f"{topic.capitalize()} sentence number {index} says something useful about the {topic} policy today."
        for index in range(count)
    ]


def test_a_long_section_is_cut_with_overlap_and_no_sentence_lost() -> None:
    sentences = _sentences(60, "refund")  # ~660 words in one section
    text = "# Refunds\n\n" + " ".join(sentences[:30]) + "\n\n" + " ".join(sentences[30:])
    chunks = chunk_text(text)

    assert len(chunks) >= 4
    for chunk in chunks:
        assert chunk.heading == "Refunds"
        assert chunk.word_count <= MAX_WORDS
    for previous, following in zip(chunks, chunks[1:], strict=False):
        previous_sentences = split_sentences(previous.text.replace("\n\n", " "))
        following_sentences = split_sentences(following.text.replace("\n\n", " "))
        # The next passage starts with the last sentence(s) of the one before: the overlap.
        repeated = [s for s in following_sentences if s in previous_sentences]
        assert repeated, f"no overlap between chunk {previous.ordinal} and {following.ordinal}"
        assert following_sentences[: len(repeated)] == previous_sentences[-len(repeated) :]
        assert sum(len(s.split()) for s in repeated) <= OVERLAP_WORDS * 3 // 2
    joined = " ".join(chunk.text for chunk in chunks)
    assert all(sentence in joined for sentence in sentences)


def test_small_sections_are_packed_with_their_headings_inline_and_no_overlap() -> None:
    text = (
        "# Clinic FAQ\n\n## Hours\n\nWe open at 8 on weekdays.\n\n"
        "## Insurance\n\nDo you take Delta Dental?\n\nYes, we are in network with Delta Dental PPO.\n\n"
        "Do you take Medicaid?\n\nNo, we do not accept Medicaid.\n"
    )
    chunks = chunk_text(text)

    assert len(chunks) == 1
    assert chunks[0].heading == "Clinic FAQ > Hours"
    # Each later section's heading is kept where it starts, FAQ questions included.
    assert chunks[0].text == (
        "We open at 8 on weekdays.\n\nInsurance > Do you take Delta Dental?\n"
        "Yes, we are in network with Delta Dental PPO.\n\n"
        "Do you take Medicaid?\nNo, we do not accept Medicaid."
    )


def test_sections_start_new_passages_once_a_passage_is_big_enough() -> None:
    text = (
        "# Hours\n\n"
        + " ".join(_sentences(10, "hours"))
        + "\n\n# Parking\n\n"
        + " ".join(_sentences(10, "parking"))
    )
    chunks = chunk_text(text)

    assert [chunk.heading for chunk in chunks] == ["Hours", "Parking"]
    assert (
        "parking" not in chunks[0].text.lower() and "hours" not in chunks[1].text.lower()
    )  # no overlap across sections


def test_a_short_last_section_is_folded_into_the_previous_passage() -> None:
    text = (
        "# Insurance\n\n"
        + " ".join(_sentences(10, "insurance"))
        + "\n\n## Payment plans\n\nPlans of 12 months."
    )
    chunks = chunk_text(text)

    assert len(chunks) == 1
    assert chunks[0].text.endswith("Payment plans\nPlans of 12 months.")


def test_list_items_headings_without_body_and_abbreviations() -> None:
    text = (
        "OPENING HOURS\n\n- Mon to Fri: 9 to 5\n- Sat: 10 to 2\n\n"
        "Dr. Lee sees children. She is great.\n\n# Orphan heading"
    )
    chunks = chunk_text(text)

    assert len(chunks) == 1
    assert chunks[0].heading == "Opening Hours"
    assert (
        chunks[0].text
        == "Mon to Fri: 9 to 5\n\nSat: 10 to 2\n\nDr. Lee sees children. She is great.\n\nOrphan heading"
    )
    assert split_sentences("Dr. Lee sees children. She is great.") == [
        "Dr. Lee sees children.",
        "She is great.",
    ]


def test_one_enormous_sentence_is_split_into_overlapping_windows() -> None:
    words = [f"w{index}" for index in range(500)]
    chunks = chunk_text(" ".join(words))

    assert all(chunk.word_count <= MAX_WORDS for chunk in chunks)
    assert {word for chunk in chunks for word in chunk.text.split()} == set(words)


def test_empty_text_makes_no_chunks() -> None:
    assert chunk_text("  \n\n ") == []
