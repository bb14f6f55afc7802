package vit22b.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * The README's promise that a resumed run equals an uninterrupted one bit for bit rests on every
 * CPU op giving the same bits whether its code is interpreted, C1- or C2-compiled. Here the same
 * steps run in a JVM limited to C1 (the Vector API's Java fallbacks, no intrinsics) and in this
 * JVM after a warm-up that gets them C2-compiled; losses and parameters must agree bit for bit.
 */
class TierDeterminismTest {
    static final int STEPS = 3, WARM_UP = 10;

    @Test
    void coldAndWarmJvmsGiveTheSameBits() throws Exception {
        long t0 = System.nanoTime();
        String cold = runChild("-XX:TieredStopAtLevel=1");
        long t1 = System.nanoTime();
        for (int i = 0; i < WARM_UP; i++) TierProbe.run(STEPS);
        String warm = TierProbe.run(STEPS);
        System.out.printf("cold (C1, %.1f s):%n%swarm (C2, after %.1f s of warm-up):%n%s", (t1 - t0) / 1e9, cold,
                (System.nanoTime() - t1) / 1e9, warm);
        assertEquals(cold, warm, "the same steps give different bits in a cold and a warm JVM");
    }

    /** Runs {@link TierProbe} in a fresh JVM with {@code flag}; returns its output. */
    static String runChild(String flag) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                flag, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), TierProbe.class.getName(), Integer.toString(STEPS)));
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "child JVM failed: " + cmd);
        return out;
    }
}
