package nl.anpr.udf;

import java.util.regex.Pattern;
import org.apache.spark.sql.api.java.UDF3;

/**
 * {@code anpr_period_token(month, key, pepper_file)}: HMAC-SHA256(month key, key) in hex, where the
 * month key is HMAC-SHA256(pepper, "period|YYYY-MM"): tokens link within a month, never across.
 */
public final class PeriodToken implements UDF3<String, String, String, String> {
  private static final Pattern MONTH = Pattern.compile("\\d{4}-\\d{2}");

  @Override
  public String call(String month, String key, String pepperFile) {
    if (month == null || key == null) {
      return null;
    }
    if (!MONTH.matcher(month).matches()) {
      throw new IllegalArgumentException("month must look like YYYY-MM");
    }
    String id = pepperFile + "\n" + month;
    return Hmac.hex(Hmac.mac(id, () -> Hmac.digest(Hmac.pepper(pepperFile), "period|" + month)), key);
  }
}
