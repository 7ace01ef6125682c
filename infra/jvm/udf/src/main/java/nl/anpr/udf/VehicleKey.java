package nl.anpr.udf;

import org.apache.spark.sql.api.java.UDF3;

/**
 * {@code anpr_vehicle_key(plate, country, pepper_file)}: HMAC-SHA256(pepper, "COUNTRY|PLATE") in hex,
 * with anpr.pseudonym's normalization (country trimmed and upper case; the plate's text by
 * {@link PlateText}). Null plate or country gives null.
 */
public final class VehicleKey implements UDF3<String, String, String, String> {
  @Override
  public String call(String plate, String country, String pepperFile) {
    if (plate == null || country == null) {
      return null;
    }
    String message = PlateText.normalizeCountry(country) + "|" + PlateText.normalize(plate, country);
    return Hmac.hex(Hmac.mac(pepperFile, () -> Hmac.pepper(pepperFile)), message);
  }
}
