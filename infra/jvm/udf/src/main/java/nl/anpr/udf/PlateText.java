package nl.anpr.udf;

import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF2;

/**
 * {@code anpr_plate_text(plate, country)}: the plate's text as it is hashed, anpr.pseudonym.normalize_plate
 * in the JVM (its docstring and docs/privacy.md give the rule): folded to base letters (NFKD, upper case,
 * marks dropped), letters and digits only, except that a German plate keeps one "-" after its district
 * code. Null plate gives null.
 */
public final class PlateText implements UDF2<String, String, String> {
  static final Set<String> DISTRICT_SEPARATED = Set.of("DE");
  static final String SEPARATOR = "-";
  private static final Pattern MARK = Pattern.compile("\\p{M}");
  private static final Pattern RUN = Pattern.compile("[0-9A-Z]+");
  private static final Pattern DISTRICT = Pattern.compile("[A-Z]{1,3}");

  static String normalizeCountry(String country) {
    return country == null ? "" : country.strip().toUpperCase(Locale.ROOT);
  }

  static String normalize(String plate, String country) {
    String folded = Normalizer.normalize(plate, Normalizer.Form.NFKD).toUpperCase(Locale.ROOT);
    Matcher run = RUN.matcher(MARK.matcher(folded).replaceAll(""));
    List<String> runs = new ArrayList<>();
    while (run.find()) {
      runs.add(run.group());
    }
    String joined = String.join("", runs);
    if (DISTRICT_SEPARATED.contains(normalizeCountry(country)) && runs.size() > 1
        && DISTRICT.matcher(runs.get(0)).matches() && Character.isLetter(runs.get(1).charAt(0))) {
      return runs.get(0) + SEPARATOR + joined.substring(runs.get(0).length());
    }
    return joined;
  }

  @Override
  public String call(String plate, String country) {
    return plate == null ? null : normalize(plate, country);
  }
}
