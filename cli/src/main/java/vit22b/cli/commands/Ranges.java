package vit22b.cli.commands;

/** Range checks of numeric flags, each a one-line error naming the flag, the value and what it must be. */
final class Ranges {
    private Ranges() {}

    /** Null (not given) passes. */
    static void positive(String flag, Number v) {
        if (v != null && !(v.doubleValue() > 0 && Double.isFinite(v.doubleValue())))
            throw new IllegalArgumentException(flag + " must be a positive number, got " + v);
    }

    static void atLeastZero(String flag, Number v) {
        if (v != null && !(v.doubleValue() >= 0 && Double.isFinite(v.doubleValue())))
            throw new IllegalArgumentException(flag + " must be 0 or more (and finite), got " + v);
    }

    static void finite(String flag, Number v) {
        if (v != null && !Double.isFinite(v.doubleValue()))
            throw new IllegalArgumentException(flag + " must be a finite number, got " + v);
    }

    static void fraction(String flag, Number v) {
        if (v != null && !(v.doubleValue() > 0 && v.doubleValue() <= 1))
            throw new IllegalArgumentException(flag + " must be in (0, 1], got " + v);
    }
}
