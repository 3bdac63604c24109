from app.query.romanised import RomanisedIndex, latin_key, letter_spelling


def test_consonant_keys_agree_across_ways_of_writing_a_word() -> None:
    assert latin_key("kafae") == latin_key("kaaef") == latin_key("KAFAE") == "kp"  # Thai กาแฟ
    assert latin_key("kofi") == latin_key("kphi") == "kp"  # Banglish কফি: f and ph
    assert latin_key("sabun") == latin_key("sbn") == "sbn"  # Roman Urdu with and without its vowels
    assert latin_key("chut wai nam") == latin_key("chudwaynam") == "ctnm"  # spaces and final d/t
    assert latin_key("sabun") != latin_key("saban ghar")


def test_native_terms_are_spelt_by_their_letters() -> None:
    assert letter_spelling("เสาวรส") == "swrs"  # vowel signs and the leading vowel are not consonants
    assert letter_spelling("صابن") == "sbn"  # alef is a vowel carrier
    assert letter_spelling("پیزا") == "pyz"  # "FARSI YEH" is a yeh
    assert letter_spelling("কফি") == "kph"
    assert letter_spelling("soap") == ""


def test_the_nearest_spelling_with_the_key_wins_and_long_keys_allow_one_edit() -> None:
    index = RomanisedIndex()
    index.add_native("soap", "สบู่")
    index.add("soap", "sabu")
    index.add_native("pencil", "ดินสอ")
    index.add("pencil", "dinso")
    index.add("pen", "pensil")
    index.add("sofa", "sopha")
    assert index.match("sbu") == "soap" and index.match("saboo") == "soap"
    assert index.match("pencl") == "pen"  # key "pncl", one edit from "pnsl"
    assert index.match("dnsoo") == "pencil"
    assert index.match("spa") == "sofa"  # "sbu" and "sopha" differ in their key
    assert index.match("ya") is None  # one consonant names too many words
    assert index.match("oosiboooooo") is None  # the key matches, the spelling is too far from any
    assert index.match("tree") is None
    assert len(index) == 6
