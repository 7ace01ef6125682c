package nl.anpr.udf;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF2;

/**
 * {@code anpr_plate_text(plate, country)}: the plate's text as it is hashed, anpr.pseudonym.normalize_plate
 * in the JVM (its docstring and docs/privacy.md give the rule): folded to base letters (NFKD, upper case,
 * marks dropped), letters and digits (of any script) only, except that a German or Austrian plate keeps one "-" after
 * its district code. Null plate gives null.
 */
public final class PlateText implements UDF2<String, String, String> {
  /** Country -> the longest district code in letters; see DISTRICT_SEPARATED in anpr/pseudonym.py. */
  static final Map<String, Integer> DISTRICT_SEPARATED = Map.of("DE", 3, "AT", 2);
  static final String SEPARATOR = "-";
  private static final Pattern MARK = Pattern.compile("\\p{M}");
  // Letters and digits of any script: one with no Latin base fails the plate format instead of vanishing.
  private static final Pattern RUN = Pattern.compile("[\\p{L}\\p{N}]+");
  private static final Pattern LETTERS = Pattern.compile("[A-Z]+");

  // anpr.pseudonym.COUNTRY_ALIASES: codes of one vehicle register, folded so one vehicle keeps one key.
  static final Map<String, String> COUNTRY_ALIASES = Map.of("UK", "GB");

  static String normalizeCountry(String country) {
    String code = country == null ? "" : country.strip().toUpperCase(Locale.ROOT);
    return COUNTRY_ALIASES.getOrDefault(code, code);
  }

  static String normalize(String plate, String country) {
    String folded = Normalizer.normalize(plate, Normalizer.Form.NFKD).toUpperCase(Locale.ROOT);
    Matcher run = RUN.matcher(MARK.matcher(folded).replaceAll(""));
    List<String> runs = new ArrayList<>();
    while (run.find()) {
      runs.add(run.group());
    }
    String joined = String.join("", runs);
    int longest = DISTRICT_SEPARATED.getOrDefault(normalizeCountry(country), 0);
    if (runs.size() > 1 && runs.get(0).length() <= longest && LETTERS.matcher(runs.get(0)).matches()
        && Character.isLetter(runs.get(1).codePointAt(0))) {
      return runs.get(0) + SEPARATOR + joined.substring(runs.get(0).length());
    }
    return joined;
  }

  @Override
  public String call(String plate, String country) {
    return plate == null ? null : normalize(plate, country);
  }
}
