"""Generators (simulator.engine.generators): the text a simulated model answers with."""

from __future__ import annotations

import random

import pytest
import tiktoken

from simulator.engine import tokens
from simulator.engine.generators import generate
from simulator.engine.types import Message

ENCODINGS = ("o200k_base", "cl100k_base")
UNICODE = "héllo 世界 🌍"
LOREM_IPSUM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
    "consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla "
    "pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est "
    "laborum."
)


@pytest.fixture(scope="module", autouse=True)
def loaded_vocabularies():
    tokens.warm_up()  # our loader puts the vocabularies where tiktoken reads them


def tiktoken_tokens(text: str, encoding: str = "o200k_base") -> list[int]:
    return tiktoken.get_encoding(encoding).encode(text, disallowed_special=())


def lorem(seed: int = 1, **kwargs):
    kwargs.setdefault("target_tokens", 60)
    return generate("lorem", random.Random(seed), **kwargs)


def a_word_in_the_middle(text: str) -> str:
    """A stop sequence found in `text`: the middle word, with the space before it."""
    words = text.split()
    return " " + words[len(words) // 2].strip(".,")


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("kind", ["lorem", "random"])
@pytest.mark.parametrize("target", [1, 2, 17, 100, 513])
def test_lorem_and_random_give_exactly_the_target_token_count(kind, target, encoding):
    for seed in range(3):
        choice = generate(kind, random.Random(seed), target_tokens=target, encoding=encoding)
        assert len(tiktoken_tokens(choice.text, encoding)) == target
        assert choice.completion_tokens == target
        assert choice.finish_reason == "stop"


def test_lorem_gives_nothing_for_a_zero_target():
    choice = lorem(target_tokens=0)
    assert choice.text == ""
    assert choice.completion_tokens == 0


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("kind", ["lorem", "random"])
def test_it_streams_one_piece_per_token(kind, encoding):
    choice = generate(kind, random.Random(4), target_tokens=80, encoding=encoding)
    enc = tiktoken.get_encoding(encoding)
    assert list(choice.pieces) == [enc.decode([token]) for token in tiktoken_tokens(choice.text, encoding)]


def test_lorem_says_words_of_the_lorem_ipsum_passage():
    said = {word.strip(".,").lower() for word in lorem(target_tokens=300).text.split()}
    assert said <= set(LOREM_IPSUM.replace(",", "").replace(".", "").lower().split())
    assert {"lorem", "ipsum", "dolor"} & said


def test_random_does_not_say_lorem_ipsum():
    text = generate("random", random.Random(1), target_tokens=200).text.lower()
    assert "lorem" not in text
    assert "ipsum" not in text


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_echo_returns_the_last_user_message(encoding):
    messages = (
        Message("system", "You are a parrot."),
        Message("user", "first question"),
        Message("assistant", "first answer"),
        Message("user", UNICODE),
        Message("assistant", "a prefilled assistant turn"),
    )
    choice = generate("echo", random.Random(0), target_tokens=3, messages=messages, encoding=encoding)
    assert choice.text == UNICODE  # whole, whatever the target
    assert choice.completion_tokens == len(tiktoken_tokens(UNICODE, encoding))
    assert choice.finish_reason == "stop"
    assert all(choice.pieces)


def test_echo_says_nothing_without_a_user_message():
    choice = generate("echo", random.Random(0), target_tokens=10, messages=(Message("system", "hi"),))
    assert choice.text == ""
    assert choice.completion_tokens == 0


def test_fixed_says_its_whole_text():
    text = "The answer is 42. " * 20 + UNICODE
    choice = generate("fixed", random.Random(0), target_tokens=5, fixed_text=text)
    assert choice.text == text
    assert choice.completion_tokens == len(tiktoken_tokens(text))
    assert choice.finish_reason == "stop"


@pytest.mark.parametrize("kind", ["lorem", "random"])
def test_max_tokens_cuts_the_answer_with_finish_length(kind):
    uncut = generate(kind, random.Random(9), target_tokens=60)
    cut = generate(kind, random.Random(9), target_tokens=60, max_tokens=25)
    assert cut.finish_reason == "length"
    assert cut.completion_tokens == 25
    assert len(tiktoken_tokens(cut.text)) == 25
    assert uncut.text.startswith(cut.text)


def test_max_tokens_cuts_fixed_text():
    text = "one two three four five six seven eight nine ten"
    cut = generate("fixed", random.Random(0), target_tokens=0, fixed_text=text, max_tokens=4)
    assert cut.finish_reason == "length"
    assert cut.text == tiktoken.get_encoding("o200k_base").decode(tiktoken_tokens(text)[:4])
    assert cut.completion_tokens == 4


def test_max_tokens_cuts_echoed_unicode_between_characters():
    message = (Message("user", UNICODE),)
    tokens_ = tiktoken_tokens(UNICODE)
    cut = generate("echo", random.Random(0), target_tokens=0, messages=message, max_tokens=len(tokens_) - 1)
    assert cut.finish_reason == "length"
    assert cut.completion_tokens == len(tokens_) - 1
    assert UNICODE.startswith(cut.text.rstrip("\ufffd"))


def test_max_tokens_of_zero_gives_an_empty_answer():
    cut = lorem(max_tokens=0)
    assert cut.text == ""
    assert cut.completion_tokens == 0
    assert cut.finish_reason == "length"


@pytest.mark.parametrize("max_tokens", [60, 61, 1000])
def test_max_tokens_at_or_above_the_length_does_not_cut(max_tokens):
    choice = lorem(target_tokens=60, max_tokens=max_tokens)
    assert choice.finish_reason == "stop"
    assert choice.text == lorem(target_tokens=60).text


@pytest.mark.parametrize("kind", ["lorem", "random"])
def test_a_stop_sequence_cuts_the_answer_before_it(kind):
    uncut = generate(kind, random.Random(3), target_tokens=80)
    stop = a_word_in_the_middle(uncut.text)

    cut = generate(kind, random.Random(3), target_tokens=80, stop=(stop,))

    assert cut.finish_reason == "stop"
    assert stop not in cut.text
    assert cut.text == uncut.text[: uncut.text.index(stop)]
    assert 0 < cut.completion_tokens < uncut.completion_tokens
    assert cut.completion_tokens == len(tiktoken_tokens(cut.text))


def test_a_stop_sequence_may_end_inside_a_token():
    uncut = lorem(target_tokens=80)
    word = a_word_in_the_middle(uncut.text)
    stop = word[2:]  # starts after the token boundary the word begins on

    cut = lorem(target_tokens=80, stop=(stop,))

    assert stop not in cut.text
    assert cut.text == uncut.text[: uncut.text.index(stop)]


def test_the_earliest_stop_sequence_wins():
    uncut = lorem(target_tokens=120)
    words = uncut.text.split()
    early, late = " " + words[5].strip(".,"), " " + words[-5].strip(".,")
    assert uncut.text.index(early) < uncut.text.index(late)

    cut = lorem(target_tokens=120, stop=(late, early))

    assert cut.text == uncut.text[: uncut.text.index(early)]


def test_an_absent_stop_sequence_changes_nothing():
    assert lorem(stop=("not a lorem word",)) == lorem()


def test_a_stop_sequence_beyond_max_tokens_still_finishes_with_length():
    uncut = lorem(target_tokens=80)
    stop = uncut.text[-12:]
    assert len(tiktoken_tokens(uncut.text[: uncut.text.index(stop)])) > 10  # the stop lies past the cut

    cut = lorem(target_tokens=80, max_tokens=10, stop=(stop,))

    assert cut.finish_reason == "length"
    assert cut.completion_tokens == 10


def test_a_stop_sequence_within_max_tokens_finishes_with_stop():
    uncut = lorem(target_tokens=80)
    stop = a_word_in_the_middle(uncut.text)
    before_stop = len(tiktoken_tokens(uncut.text[: uncut.text.index(stop)]))

    cut = lorem(target_tokens=80, max_tokens=before_stop + 3, stop=(stop,))

    assert cut.finish_reason == "stop"
    assert cut.text == uncut.text[: uncut.text.index(stop)]


def test_a_character_split_across_tokens_is_streamed_whole():
    text = "🌍🌏🌎🦄🧬 𠀀𠀁𪚥"
    assert len(tiktoken_tokens(text)) > len(text)  # characters take several tokens each
    choice = generate("fixed", random.Random(0), target_tokens=0, fixed_text=text)
    assert choice.text == text
    assert "\ufffd" not in "".join(choice.pieces)
    assert choice.completion_tokens == len(tiktoken_tokens(text))


@pytest.mark.parametrize("kind", ["lorem", "random"])
def test_the_same_seed_gives_the_same_answer(kind):
    first = generate(kind, random.Random(123), target_tokens=50)
    again = generate(kind, random.Random(123), target_tokens=50)
    other = generate(kind, random.Random(124), target_tokens=50)
    assert first == again
    assert first.text != other.text


def test_it_rejects_an_unknown_generator():
    with pytest.raises(ValueError, match="shakespeare"):
        generate("shakespeare", random.Random(0), target_tokens=10)
