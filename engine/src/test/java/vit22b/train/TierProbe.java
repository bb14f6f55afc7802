package vit22b.train;

import java.util.Arrays;

import vit22b.backend.Backend;
import vit22b.backend.Backends;
import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;

/**
 * A few CPU training steps of a small model from a fixed seed, for both GELUs and both losses:
 * every loss's bits and a hash of the final parameters, as one line. {@link TierDeterminismTest}
 * runs it as a main in a cold JVM and compares with a warm one.
 */
public final class TierProbe {
    /** 25 tokens and an MLP of 68: rows that end in a partial vector, so the masked tails run too. */
    static final ModelConfig MODEL = new ModelConfig("tier-probe", 32, 2, 68, 4, 4, 20, 3, 6,
            NormKind.RMS, GeluKind.TANH, LossKind.SIGMOID, -1.6f);

    static String run(int steps) {
        StringBuilder sb = new StringBuilder();
        try (Backend be = Backends.open("cpu", new java.io.PrintStream(java.io.OutputStream.nullOutputStream()))) {
            for (GeluKind g : GeluKind.values())
                for (LossKind l : LossKind.values())
                    try (SyntheticStep s = new SyntheticStep(be, MODEL.withGelu(g).withLoss(l), 5, 42)) {
                        sb.append(g).append('/').append(l).append(':');
                        for (int i = 0; i < steps; i++) sb.append(' ').append(Long.toHexString(Double.doubleToRawLongBits(s.run())));
                        sb.append(" params ").append(Integer.toHexString(Arrays.hashCode(be.download(s.model().params())))).append('\n');
                    }
        }
        return sb.toString();
    }

    public static void main(String[] args) {
        System.out.print(run(Integer.parseInt(args[0])));
    }
}
