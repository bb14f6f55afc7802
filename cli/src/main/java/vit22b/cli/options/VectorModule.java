package vit22b.cli.options;

/**
 * The CPU kernels use the incubating Vector API. The launcher adds {@code jdk.incubator.vector}
 * only for commands that compute (the JVM prints "Using incubator modules" whenever it is
 * added); a JVM started without it gets this message instead of a NoClassDefFoundError.
 */
public final class VectorModule {
    public static final String NAME = "jdk.incubator.vector";

    private VectorModule() {}

    public static boolean present() { return ModuleLayer.boot().findModule(NAME).isPresent(); }

    public static void require() {
        if (!present())
            throw new IllegalStateException("the cpu backend needs the Java Vector API: start java with --add-modules "
                    + NAME + " (./vit does this for every command that computes)");
    }
}
