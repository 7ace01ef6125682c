package nl.anpr.udf;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF2;

/**
 * {@code anpr_parse_observation(text, spec)}: one Kafka message as the contract's typed fields, in one streaming
 * pass (streaming/pipeline.py parse_observations, which gives the rules; anpr/contract.py OBSERVATION_TYPES).
 *
 * <p>{@code spec} lists the contract's fields as {@code name:kind:kept} separated by commas (kind string, integer,
 * number or object; kept 1 for a field whose value is returned). The result holds each kept field's value when
 * it has its kind (string, int, double; null otherwise), then {@code bad_type} and {@code not_json}:
 * <ul>
 *   <li>{@code bad_type}: a field has another JSON type (null counts as absent), an integer does not fit 32
 *       bits, or the message is an object only to a lenient parser (NaN or Infinity, single quotes, a repeated
 *       key); then the kept string fields are what the lenient parser read, so a quarantined row keeps its ids.
 *   <li>{@code not_json}: no parser reads an object.
 * </ul>
 * A null text gives nulls and two falses. Why not Spark SQL: its variant parse took 6 s of 2 cores per 500,000
 * messages with a type probe per field; one pass here needs a fraction of that.
 */
public final class ParseObservation implements UDF2<String, String, Row> {
  private static final JsonFactory STRICT =
      JsonFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
  // What Spark's JSON reader allows by default beyond strict JSON (JSONOptions): the stream's earlier parser.
  private static final JsonFactory LENIENT = JsonFactory.builder()
      .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).enable(JsonReadFeature.ALLOW_SINGLE_QUOTES).build();

  private enum Kind { STRING, INTEGER, NUMBER, OBJECT }

  private static final class Field {
    final Kind kind;
    final int slot; // position in the result, -1 when the value is not returned

    Field(Kind kind, int slot) {
      this.kind = kind;
      this.slot = slot;
    }
  }

  private static final class Spec {
    final Map<String, Field> fields = new HashMap<>();
    final int width;

    Spec(String text) {
      int slots = 0;
      for (String part : text.split(",")) {
        String[] bits = part.split(":");
        if (bits.length != 3) {
          throw new IllegalArgumentException("anpr_parse_observation: a spec entry is name:kind:kept, not " + part);
        }
        boolean kept = bits[2].equals("1");
        fields.put(bits[0], new Field(Kind.valueOf(bits[1].toUpperCase(Locale.ROOT)), kept ? slots++ : -1));
      }
      width = slots;
    }
  }

  private transient String specText;
  private transient Spec spec;

  private Spec spec(String text) {
    if (spec == null || !text.equals(specText)) {
      spec = new Spec(text);
      specText = text;
    }
    return spec;
  }

  @Override
  public Row call(String text, String specText) {
    Spec s = spec(specText);
    Object[] out = new Object[s.width + 2];
    out[s.width] = false;
    out[s.width + 1] = false;
    if (text == null) {
      return RowFactory.create(out);
    }
    Boolean bad = read(STRICT, text, s, out);
    if (bad == null) {
      Arrays.fill(out, 0, s.width, null);
      bad = read(LENIENT, text, s, out);
    }
    if (bad == null) {
      Arrays.fill(out, 0, s.width, null);
      out[s.width + 1] = true;
      bad = false;
    }
    out[s.width] = bad;
    return RowFactory.create(out);
  }

  /**
   * bad_type of the text as an object read by factory, null when it reads no object. STRICT checks each field's
   * kind and keeps its value; LENIENT reads a bad row, so it is bad, and keeps the scalar text of the kept string
   * fields (the last of a repeated key).
   */
  private static Boolean read(JsonFactory factory, String text, Spec s, Object[] out) {
    boolean strict = factory == STRICT;
    boolean bad = !strict;
    try (JsonParser p = factory.createParser(text)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      JsonToken t;
      while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
        Field f = s.fields.get(p.currentName());
        t = p.nextToken();
        if (f != null && t != JsonToken.VALUE_NULL) {
          if (strict) {
            bad |= !take(p, t, f, out);
          } else if (f.kind == Kind.STRING && f.slot >= 0 && t.isScalarValue()) {
            out[f.slot] = p.getText();
          }
        }
        if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
          p.skipChildren();
        }
      }
      // strict JSON is one value; a lenient reading, as Spark's, ignores what follows the object
      if (t != JsonToken.END_OBJECT || (strict && p.nextToken() != null)) {
        return null;
      }
    } catch (IOException e) {
      return null;
    }
    return bad;
  }

  /** Whether the value at t has f's kind; stores it in f's slot when it does. */
  private static boolean take(JsonParser p, JsonToken t, Field f, Object[] out) throws IOException {
    switch (f.kind) {
      case STRING:
        if (t != JsonToken.VALUE_STRING) {
          return false;
        }
        if (f.slot >= 0) {
          out[f.slot] = p.getText();
        }
        return true;
      case INTEGER:
        if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() != JsonParser.NumberType.INT) {
          return false;
        }
        if (f.slot >= 0) {
          out[f.slot] = p.getIntValue();
        }
        return true;
      case NUMBER:
        if (t != JsonToken.VALUE_NUMBER_INT && t != JsonToken.VALUE_NUMBER_FLOAT) {
          return false;
        }
        if (f.slot >= 0) {
          out[f.slot] = p.getDoubleValue();
        }
        return true;
      default:
        return t == JsonToken.START_OBJECT;
    }
  }
}
