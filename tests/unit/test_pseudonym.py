import pytest

from anpr.pseudonym import normalize_plate, period_token, vehicle_key

PEPPER = b"test-pepper"


def test_plate_normalization_ignores_dashes_spaces_and_case():
    assert normalize_plate("vx-123-b") == normalize_plate("VX 123 B") == "VX123B"
    assert vehicle_key(PEPPER, "vx-123-b", "nl") == vehicle_key(PEPPER, "VX123B", "NL")


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
