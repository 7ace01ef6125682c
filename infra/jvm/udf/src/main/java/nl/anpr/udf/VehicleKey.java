package nl.anpr.udf;

import java.util.Locale;
import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF3;

/**
 * {@code anpr_vehicle_key(plate, country, pepper_file)}: HMAC-SHA256(pepper, "COUNTRY|PLATE") in hex,
 * with anpr.pseudonym's normalization (country trimmed and upper case; plate upper case, letters and
 * digits only). Null plate or country gives null.
 */
public final class VehicleKey implements UDF3<String, String, String, String> {
  private static final Pattern NOT_ALNUM = Pattern.compile("[^0-9A-Z]");

  static String normalizePlate(String plate) {
    return NOT_ALNUM.matcher(plate.toUpperCase(Locale.ROOT)).replaceAll("");
  }

  @Override
  public String call(String plate, String country, String pepperFile) {
    if (plate == null || country == null) {
      return null;
    }
    String message = country.strip().toUpperCase(Locale.ROOT) + "|" + normalizePlate(plate);
    return Hmac.hex(Hmac.mac(pepperFile, () -> Hmac.pepper(pepperFile)), message);
  }
}
