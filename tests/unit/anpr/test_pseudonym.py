import re

import pytest

from anpr.pseudonym import is_ambiguous_plate, normalize_plate, period_token, vehicle_key

PEPPER = b"test-pepper"


def test_plate_normalization_ignores_dashes_spaces_and_case():
    assert normalize_plate("vx-123-b", "NL") == normalize_plate("VX 123 B", "NL") == "VX123B"
    assert vehicle_key(PEPPER, "vx-123-b", "nl") == vehicle_key(PEPPER, "VX123B", "NL")


def test_diacritics_fold_to_their_base_letter_instead_of_vanishing():
    assert normalize_plate("GÖ XY 99", "DE") == normalize_plate("GO XY 99", "DE") == "GO-XY99"
    assert vehicle_key(PEPPER, "GÖ XY 99", "DE") == vehicle_key(PEPPER, "GO XY 99", "DE")
    assert vehicle_key(PEPPER, "GÖ XY 99", "DE") != vehicle_key(PEPPER, "G XY 99", "DE")
    # Ä and Ü as well, written precomposed or as a letter and a combining mark, and fullwidth letters
    assert normalize_plate("MÜ-ÄB 1", "DE") == normalize_plate("MU\u0308 A\u0308B 1", "DE") == "MU-AB1"
    assert normalize_plate("\uff36\uff38\uff11\uff12\uff13\uff22", "NL") == "VX123B"


def test_letters_without_a_latin_base_stay_and_fail_the_format_instead_of_vanishing():
    """A review's case: Cyrillic look-alikes were dropped, so "АВ-123-С" (UA) became "123", one key for every
    such vehicle; now the text keeps them, and the stream quarantines it as MALFORMED_PLATE."""
    from anpr.contract import NL_PLATE_PATTERN, OTHER_PLATE_PATTERN

    assert normalize_plate("\u0410\u0412-123-\u0421", "UA") == "\u0410\u0412123\u0421"
    assert normalize_plate("V\u0425-123-\u0412", "NL") == "V\u0425123\u0412"  # Cyrillic Х and В among Latin ones
    assert normalize_plate("KR \u0141A 123", "PL") == "KR\u0141A123"  # NFKD gives L with stroke no base letter
    assert not re.fullmatch(OTHER_PLATE_PATTERN, normalize_plate("\u0391\u0392-123-\u039a", "GR"))
    assert not re.fullmatch(NL_PLATE_PATTERN, normalize_plate("V\u0425-123-\u0412", "NL"))
    assert normalize_plate("\u0410 BC 12", "DE") == "\u0410BC12"  # no Latin district code: no separator


def test_the_german_district_separator_tells_plates_apart():
    assert normalize_plate("B NO 1234", "DE") == normalize_plate("b-no-1234", "de") == "B-NO1234"
    assert normalize_plate("BN O 1234", "DE") == "BN-O1234"
    assert vehicle_key(PEPPER, "B NO 1234", "DE") != vehicle_key(PEPPER, "BN O 1234", "DE")


def test_the_austrian_district_separator_tells_personalized_plates_apart():
    # Graz's G-UNI 1 and Graz-Umgebung's GU-NI 1: the coat of arms, read as a space or a dash, separates
    assert normalize_plate("G UNI 1", "AT") == normalize_plate("g-uni-1", "at") == "G-UNI1"
    assert normalize_plate("GU NI 1", "AT") == "GU-NI1"
    assert vehicle_key(PEPPER, "G UNI 1", "AT") != vehicle_key(PEPPER, "GU NI 1", "AT")
    # a standard plate's serial starts with a digit: nothing to keep apart, separators go as in NL
    assert normalize_plate("GU 123 AB", "AT") == normalize_plate("GU-123AB", "AT") == "GU123AB"
    # a district code is at most two letters in Austria: a first run of three is no district code
    assert normalize_plate("GUN I 1", "AT") == "GUNI1"


def test_dutch_and_other_plates_ignore_separators():
    assert normalize_plate("VX-12-3B", "NL") == normalize_plate("VX1 23B", "NL") == "VX123B"
    assert normalize_plate("1-ABC-123", "BE") == normalize_plate("1ABC 123", "BE") == "1ABC123"


@pytest.mark.parametrize(("plate", "country", "ambiguous"), [
    ("BNO1234", "DE", True),     # B-NO 1234 or BN-O 1234
    ("BNO 1234", "DE", True),    # the separator before the digits is not the district's
    ("B NO 1234", "DE", False),
    ("VX123B", "NL", False),
    ("GUNI1", "AT", True),       # G-UNI 1 or GU-NI 1
    ("GU 123 AB", "AT", False),  # a standard plate: district GU, then digits
    ("W 12345 A", "AT", False),
    ("G UNI 1", "AT", False),
    ("GUNI1", "PL", False),      # Polish plates read the same without separators
    ("1ABC123", "BE", False),
])
def test_plates_that_lost_their_district_separator_are_ambiguous(plate, country, ambiguous):
    assert is_ambiguous_plate(normalize_plate(plate, country), country) is ambiguous


def test_normalizing_twice_changes_nothing():
    for plate, country in [("GÖ XY 99", "DE"), ("BNO 1234", "DE"), ("vx-123-b", "NL"), ("ab.12.cd", "BE")]:
        once = normalize_plate(plate, country)
        assert normalize_plate(once, country) == once


def test_country_is_part_of_the_key():
    assert vehicle_key(PEPPER, "VX123B", "NL") != vehicle_key(PEPPER, "VX123B", "BE")


def test_key_depends_on_pepper_and_is_not_the_plate():
    key = vehicle_key(PEPPER, "VX123B", "NL")
    assert key != vehicle_key(b"other", "VX123B", "NL")
    assert "VX123B" not in key.upper()
    assert len(key) == 64


def test_period_token_links_within_a_month_only():
    key = vehicle_key(PEPPER, "VX123B", "NL")
    assert period_token(PEPPER, "2026-03", key) == period_token(PEPPER, "2026-03", key)
    assert period_token(PEPPER, "2026-03", key) != period_token(PEPPER, "2026-04", key)


def test_month_must_be_well_formed():
    with pytest.raises(ValueError, match="YYYY-MM"):
        period_token(PEPPER, "2026-3", "k")
