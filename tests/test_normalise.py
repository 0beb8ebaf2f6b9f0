"""What the speech engine reads: numbers, units and abbreviations written out, mapped back to the typed text."""
import pytest

from ttvd.pipeline.normalise import normalise


@pytest.mark.parametrize(("typed", "spoken"), [
    ("The road is 1,250 km long.", "The road is one thousand two hundred and fifty kilometres long."),
    ("Prices rose 3.5% in 2024.", "Prices rose three point five percent in twenty twenty-four."),
    ("It costs $20.", "It costs twenty dollars."),
    ("Tea is $1.50, or £3.01.", "Tea is one dollar and fifty cents, or three pounds and one penny."),
    ("A $1.5 million grant", "A one point five million dollars grant"),
    ("Dr. Alvarez met Mr. Smith.", "Doctor Alvarez met Mister Smith."),
    ("On St. Patrick's day, on Main St. at 10:30 p.m.",
     "On Saint Patrick's day, on Main Street at ten thirty pee em."),
    ("It was 1 km, then 2.05 m.", "It was one kilometre, then two point zero five metres."),
    ("In the 1990s the 21st floor was 20°C, outside -5 °C.",
     "In the nineteen nineties the twenty-first floor was twenty degrees Celsius, outside minus five degrees "
     "Celsius."),
    ("apples, pears, etc. The end", "apples, pears, et cetera. The end"),
    ("No. 5 weighs 2 kg, e.g. this one.", "number five weighs two kilograms, for example this one."),
    ("Open at 9:05 and 12:00.", "Open at nine oh five and twelve o'clock."),
])
def test_english_is_written_out_as_spoken(typed, spoken):
    assert normalise(typed, "en").text == spoken


@pytest.mark.parametrize(("typed", "spoken"), [
    ("v2.0 and A4 in 3D", "v2.0 and A4 in 3D"),   # part of a name: left to the engine
    ("pages 10-20", "pages ten-twenty"),
    ("U.N. talks", "U.N. talks"),                 # spelt out by the engine already
    ("It was 42 — maybe", "It was forty-two — maybe"),
])
def test_names_and_ranges(typed, spoken):
    assert normalise(typed, "en").text == spoken


def test_other_languages_are_read_as_typed():
    text = "La route fait 1 250 km, dit le Dr. Alvarez."
    assert normalise(text, "fr").text == text
    assert normalise("The road is 12 km long.", "en-gb").text == "The road is twelve kilometres long."


def test_every_spoken_character_maps_back_to_the_word_it_stands_for():
    typed = "The road is 1,250 km long, said Dr. Alvarez."
    spoken = normalise(typed, "en")

    def source_of(word: str) -> str:
        position = spoken.source_position(spoken.text.index(word))
        return typed[position:].split()[0]

    assert source_of("thousand") == source_of("fifty") == "1,250"
    assert source_of("kilometres") == "km"
    assert source_of("long,") == "long,"
    assert source_of("Doctor") == "Dr."
    assert source_of("Alvarez.") == "Alvarez."
    # copied text maps one to one, character by character
    at = spoken.text.index("Alvarez")
    assert typed[spoken.source_position(at + 3)] == "a"


def test_a_text_with_nothing_to_write_out_maps_to_itself():
    spoken = normalise("plain words only", "en")
    assert spoken.text == "plain words only"
    assert [spoken.source_position(i) for i in range(len(spoken.text))] == list(range(len(spoken.text)))


def test_a_number_too_long_to_say_as_one_is_left_to_the_engine_digit_by_digit():
    assert normalise("Call 1234567890123456 now", "en").text == "Call 1234567890123456 now"
    assert normalise("the 1000000000000000000th try", "en").text == "the 1000000000000000000th try"
    assert normalise("$" + "9" * 40, "en").text == "$" + "9" * 40
    assert normalise("123456789012345", "en").text.startswith("one hundred and twenty-three trillion")
