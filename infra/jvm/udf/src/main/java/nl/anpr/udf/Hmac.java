package nl.anpr.udf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * HMAC-SHA256 as anpr/pseudonym.py computes it, with the pepper read from a file on the executor.
 *
 * <p>The functions take the pepper file's path as an argument: a path is no secret, so plans and
 * event logs may show it; the bytes stay in this JVM. Peppers are cached per path, so a rotation is
 * a new file. Errors name the path, never the key or an input value.
 */
final class Hmac {
  private static final Map<String, byte[]> PEPPERS = new ConcurrentHashMap<>();
  // An initialized Mac per thread and key: Mac.init per row cost as much as the hashing itself.
  private static final ThreadLocal<Map<String, Mac>> MACS = ThreadLocal.withInitial(HashMap::new);
  private static final HexFormat HEX = HexFormat.of();

  private Hmac() {}

  static byte[] pepper(String path) {
    return PEPPERS.computeIfAbsent(path, Hmac::readPepper);
  }

  private static byte[] readPepper(String path) {
    try {
      String text = Files.readString(Path.of(path), StandardCharsets.UTF_8).strip();
      if (text.isEmpty()) {
        throw new IllegalStateException("pepper file " + path + " is empty");
      }
      return text.getBytes(StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the pepper file " + path, e);
    }
  }

  static Mac newMac(byte[] key) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is not available in this JVM", e);
    }
  }

  /** This thread's Mac for the key named {@code id} (a pepper file, or a pepper file and a month). */
  static Mac mac(String id, Supplier<byte[]> key) {
    return MACS.get().computeIfAbsent(id, k -> newMac(key.get()));
  }

  static byte[] digest(byte[] key, String message) {
    return newMac(key).doFinal(message.getBytes(StandardCharsets.UTF_8));
  }

  static String hex(Mac mac, String message) {
    return HEX.formatHex(mac.doFinal(message.getBytes(StandardCharsets.UTF_8)));
  }
}
