package vit22b.experiment;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

import vit22b.model.Variant;

/** One of the paper's block choices, compared by a sweep as the paper's setting against the other. */
public enum Compare {
    QK_NORM("qk-norm", "no-qk-norm", Variant.PAPER.withQkNorm(false)),
    PARALLEL("parallel", "sequential", Variant.PAPER.withParallel(false)),
    BIASES("no-biases", "biases", Variant.PAPER.withBiases(true));

    /** Names of the two arms in tables and plots: the paper's block, then the other. */
    public final String paperArm, otherArm;
    /** The block that differs from the paper's in this choice only. */
    public final Variant other;

    Compare(String paperArm, String otherArm, Variant other) {
        this.paperArm = paperArm;
        this.otherArm = otherArm;
        this.other = other;
    }

    /** The --compare spelling: qk-norm, parallel or biases. */
    public String flag() { return name().toLowerCase(Locale.ROOT).replace('_', '-'); }

    public static String choices() {
        return Arrays.stream(values()).map(Compare::flag).collect(Collectors.joining(", "));
    }

    /** From its --compare spelling; the error names the choices. */
    public static Compare parse(String s) {
        for (Compare c : values()) if (c.flag().equalsIgnoreCase(s)) return c;
        throw new IllegalArgumentException("unknown --compare '" + s + "'; choose one of " + choices());
    }
}
