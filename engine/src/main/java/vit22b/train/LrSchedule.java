package vit22b.train;

/**
 * Learning rate as a function of the update number t = 1..total (t is also Adam's step).
 * Both schedules ramp linearly from base/warmup to base over the first {@code warmup} updates.
 */
public sealed interface LrSchedule permits LrSchedule.Rsqrt, LrSchedule.Cosine {

    double at(long t);

    long total();

    /**
     * The paper's schedule (big_vision's "rsqrt"): linear warmup, then base * sqrt(timescale /
     * (t - warmup + timescale)), times a linear cooldown to zero over the last {@code cooldown}
     * updates. Paper: base 1e-3, warmup 10k, timescale 10k, cooldown 30k.
     */
    record Rsqrt(double base, long total, long warmup, long cooldown, long timescale) implements LrSchedule {
        public Rsqrt {
            check(base, total, warmup);
            if (cooldown < 0 || cooldown > total)
                throw new IllegalArgumentException("cooldown " + cooldown + " must be in [0, total steps " + total + "]");
            if (timescale <= 0) throw new IllegalArgumentException("rsqrt timescale must be positive, got " + timescale);
        }

        @Override public double at(long t) {
            double lr = base * warm(t, warmup);
            if (t > warmup) lr *= Math.sqrt((double) timescale / (t - warmup + timescale));
            // t = total - cooldown + 1 .. total gets factors cooldown/cooldown .. 1/cooldown: no wasted step at lr 0.
            if (cooldown > 0) lr *= Math.min(1.0, (double) (total - t + 1) / cooldown);
            return lr;
        }
    }

    /** Linear warmup then half a cosine from base to zero at t = total + 1. */
    record Cosine(double base, long total, long warmup) implements LrSchedule {
        public Cosine { check(base, total, warmup); }

        @Override public double at(long t) {
            if (t <= warmup) return base * warm(t, warmup);
            double progress = (double) (t - warmup) / (total - warmup + 1);
            return base * 0.5 * (1 + StrictMath.cos(Math.PI * progress));   // tier-independent bits (exact resume)
        }
    }

    /** Parses "rsqrt" or "cosine" (the --schedule flag); the rsqrt timescale is the warmup (at least 1). */
    static LrSchedule of(String kind, double base, long total, long warmup, long cooldown) {
        return switch (kind.toLowerCase(java.util.Locale.ROOT)) {
            case "rsqrt" -> new Rsqrt(base, total, warmup, cooldown, Math.max(1, warmup));
            case "cosine" -> new Cosine(base, total, warmup);
            default -> throw new IllegalArgumentException("unknown schedule '" + kind + "'; use rsqrt or cosine");
        };
    }

    private static double warm(long t, long warmup) {
        return warmup > 0 ? Math.min(1.0, (double) t / warmup) : 1.0;
    }

    private static void check(double base, long total, long warmup) {
        if (!(base > 0) || Double.isInfinite(base))
            throw new IllegalArgumentException("learning rate must be a positive number, got " + base);
        if (total <= 0) throw new IllegalArgumentException("total steps must be positive, got " + total);
        if (warmup < 0 || warmup >= total)
            throw new IllegalArgumentException("warmup " + warmup + " must be in [0, total steps " + total
                    + "); lower --warmup or raise --steps");
    }
}
