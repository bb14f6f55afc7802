package vit22b.backend.cpu;

import vit22b.tensor.Tensor;

/** Argument checks shared by the ops: a wrong size fails with a message, never a crash in native code. */
final class Args {
    private Args() {}

    static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    static void size(Tensor t, long expected, String what) {
        if (t.size() != expected)
            throw new IllegalArgumentException(what + " " + t + " has " + t.size() + " elements, expected " + expected);
    }

    /** Integer quotient a / b, refusing a remainder. */
    static int div(long a, long b, String what) {
        if (b <= 0 || a % b != 0)
            throw new IllegalArgumentException(what + ": " + a + " is not a multiple of " + b);
        return Math.toIntExact(a / b);
    }
}
