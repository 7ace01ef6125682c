"""The JVM's HMAC functions (infra/jvm/udf) give exactly anpr.pseudonym's keys and tokens, and keep the
pepper out of query plans."""

from __future__ import annotations

from pyspark.sql import functions as F

from anpr import pseudonym
from streaming.pipeline import ambiguous_plate_column, period_token_column, plate_text_column, vehicle_key_column
from tests.peppers import pepper_file

PEPPER = b"jvm-test-pepper-0123456789abcdef"
PLATES = [("VX-123-B", "NL"), ("vx123b", " nl "), ("B NO 1234", "DE"), ("ab.12.cd", "be"), ("Ö-99", "DE"),
          ("G UNI 1", "AT"), ("GU NI 1", "at"), ("GU 123 AB", "AT"), ("GUN I 1", "AT"), (None, "NL"), ("12ABC3", None)]
# Hostile texts: diacritics precomposed and combining, fullwidth, ligatures, Kelvin sign, dotless i, sharp s,
# long s, a superscript digit, no-break and zero-width spaces, a right-to-left mark, German separators.
HOSTILE = ["GÖ XY 99", "GO\u0308 XY 99", "MÜ-ÄB 1", "\uff36\uff38\uff11\uff12\uff13\uff22", "\ufb01X-12",
           "\u212a\u0131\u00df\u017f1", "AB\u00b2\u00a012", "B\u200bNO 1234", "\u200fBN O 1234", "BNO1234",
           "BNO 1234", "b.no.1234", "Ǆ-Œ 1", "é", "---", "",
           # letters with no Latin base stay (Cyrillic, Greek, L with stroke), Arabic-Indic digits, underscore
           "\u0410\u0412-123-\u0421", "V\u0425-123-\u0412", "KR \u0141A 123", "\u0391\u0392 123", "\u0410 BC 12",
           "AB-\u0661\u0662-CD", "AB_12", "B \U00010428X 12"]  # a letter beyond the BMP after a district code


def test_vehicle_keys_and_period_tokens_equal_the_python_ones(spark):
    path = pepper_file(PEPPER)
    frame = spark.createDataFrame(PLATES, "plate string, country string")
    keyed = frame.select("plate", "country", vehicle_key_column(F.col("plate"), F.col("country"), path).alias("key"))
    tokens = keyed.select("*", period_token_column(F.lit("2026-03"), F.col("key"), path).alias("token")).collect()
    for row in tokens:
        if row.plate is None or row.country is None:
            assert row.key is None and row.token is None
            continue
        expected = pseudonym.vehicle_key(PEPPER, row.plate, row.country)
        assert row.key == expected
        assert row.token == pseudonym.period_token(PEPPER, "2026-03", expected)


def test_plate_texts_equal_the_python_ones_on_hostile_input(spark):
    rows = [(p, c) for p in [*HOSTILE, "GUNI1", "G UNI 1", "GU123AB"] for c in ("DE", "AT", "NL", None)]
    frame = spark.createDataFrame(rows, "plate string, country string")
    text = plate_text_column(F.col("plate"), F.col("country"))
    out = frame.select("plate", "country", text.alias("text"),
                       ambiguous_plate_column(text, F.col("country")).alias("ambiguous"),
                       vehicle_key_column(F.col("plate"), F.lit("DE"), pepper_file(PEPPER)).alias("key")).collect()
    assert len(out) == len(rows)
    for row in out:
        assert row.text == pseudonym.normalize_plate(row.plate, row.country)
        assert row.ambiguous == pseudonym.is_ambiguous_plate(row.text, row.country), (row.text, row.country)
        assert row.key == pseudonym.vehicle_key(PEPPER, row.plate, "DE")


def test_tokens_differ_across_months_and_peppers(spark):
    one, other = pepper_file(PEPPER), pepper_file(b"another-pepper")
    row = spark.range(1).select(
        period_token_column(F.lit("2026-03"), F.lit("k"), one).alias("march"),
        period_token_column(F.lit("2026-04"), F.lit("k"), one).alias("april"),
        period_token_column(F.lit("2026-03"), F.lit("k"), other).alias("other_pepper"),
    ).first()
    assert len({row.march, row.april, row.other_pepper}) == 3


def test_the_plan_names_the_pepper_file_never_the_pepper(spark):
    frame = spark.createDataFrame(PLATES[:2], "plate string, country string")
    keyed = frame.select(vehicle_key_column(F.col("plate"), F.col("country"), pepper_file(PEPPER)).alias("key"))
    plan = keyed._jdf.queryExecution().toString()
    assert "anpr_vehicle_key" in plan and PEPPER.decode() not in plan


def test_a_missing_pepper_file_fails_naming_the_path_only(spark, tmp_path):
    missing = str(tmp_path / "no-pepper")
    frame = spark.createDataFrame([("VX123B", "NL")], "plate string, country string")
    try:
        frame.select(vehicle_key_column(F.col("plate"), F.col("country"), missing)).collect()
    except Exception as exc:  # noqa: BLE001 - Spark wraps the executor's error
        assert "cannot read the pepper file" in str(exc) and "VX123B" not in str(exc)
    else:
        raise AssertionError("a missing pepper file must fail the query")
