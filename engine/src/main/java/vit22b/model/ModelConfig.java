package vit22b.model;

/**
 * A ViT-22B-recipe model: width D, depth L, MLP width M, heads H, square images of
 * {@code imageSize} pixels with {@code channels} channels cut into P x P patches, and
 * {@code classes} outputs (0: backbone and MAP head only, no classifier).
 */
public record ModelConfig(
        String name,
        int width,
        int depth,
        int mlp,
        int heads,
        int patch,
        int imageSize,
        int channels,
        int classes,
        NormKind norm,
        GeluKind gelu,
        LossKind loss,
        float headBiasInit,
        Variant variant) {

    public static final float EPS = 1e-6f;

    public ModelConfig {
        validate(name, width, depth, mlp, heads, patch, imageSize, channels, classes);
        if (variant == null) throw new IllegalArgumentException("model '" + name + "': no block variant given");
    }

    /** The paper's block ({@link Variant#PAPER}). */
    public ModelConfig(String name, int width, int depth, int mlp, int heads, int patch, int imageSize, int channels,
                       int classes, NormKind norm, GeluKind gelu, LossKind loss, float headBiasInit) {
        this(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, gelu, loss, headBiasInit,
                Variant.PAPER);
    }

    private static void validate(String name, int width, int depth, int mlp, int heads, int patch,
                                 int imageSize, int channels, int classes) {
        String m = "model '" + name + "': ";
        if (width <= 0 || depth <= 0 || mlp <= 0 || heads <= 0 || patch <= 0 || imageSize <= 0 || channels <= 0)
            throw new IllegalArgumentException(m + "width, depth, mlp, heads, patch, image size and channels must be positive");
        if (classes < 0) throw new IllegalArgumentException(m + "classes must be >= 0");
        if (width % heads != 0)
            throw new IllegalArgumentException(m + heads + " heads do not divide width " + width
                    + "; choose heads that divide the width (e.g. " + nearestDivisor(width, heads) + ")");
        if (imageSize % patch != 0)
            throw new IllegalArgumentException(m + "patch " + patch + " does not divide image size " + imageSize
                    + "; choose an image size that is a multiple of the patch");
    }

    private static int nearestDivisor(int n, int near) {
        for (int d = 0; ; d++) {
            if (near - d > 0 && n % (near - d) == 0) return near - d;
            if (n % (near + d) == 0) return near + d;
        }
    }

    /** head_dim = D / H. */
    public int headDim() { return width / heads; }
    /** Patches per side. */
    public int grid() { return imageSize / patch; }
    /** Tokens per image N = grid^2 (no class token). */
    public int tokens() { return grid() * grid(); }
    /** Rows of the in-projections together: M + 3D (one fused matrix in the parallel block). */
    public int inProjRows() { return mlp + 3 * width; }
    /** Columns of the out-projections together: D + M (one fused matrix in the parallel block). */
    public int outProjCols() { return width + mlp; }

    public ModelConfig withClasses(int c) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, c, norm, gelu, loss, headBiasInit, variant); }
    public ModelConfig withImage(int size, int ch) { return new ModelConfig(name, width, depth, mlp, heads, patch, size, ch, classes, norm, gelu, loss, headBiasInit, variant); }
    public ModelConfig withPatch(int p) { return new ModelConfig(name, width, depth, mlp, heads, p, imageSize, channels, classes, norm, gelu, loss, headBiasInit, variant); }
    public ModelConfig withDepth(int l) { return new ModelConfig(name, width, l, mlp, heads, patch, imageSize, channels, classes, norm, gelu, loss, headBiasInit, variant); }
    public ModelConfig withNorm(NormKind n) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, n, gelu, loss, headBiasInit, variant); }
    public ModelConfig withGelu(GeluKind g) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, g, loss, headBiasInit, variant); }
    public ModelConfig withLoss(LossKind l) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, gelu, l, headBiasInit, variant); }
    public ModelConfig withHeadBiasInit(float b) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, gelu, loss, b, variant); }
    public ModelConfig withVariant(Variant v) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, gelu, loss, headBiasInit, v); }

    /**
     * The record's text, with the variant only when it is not the paper's: run recipes compare
     * this text on --resume, so runs started before variants existed still resume.
     */
    @Override public String toString() {
        String s = "ModelConfig[name=" + name + ", width=" + width + ", depth=" + depth + ", mlp=" + mlp + ", heads=" + heads
                + ", patch=" + patch + ", imageSize=" + imageSize + ", channels=" + channels + ", classes=" + classes
                + ", norm=" + norm + ", gelu=" + gelu + ", loss=" + loss + ", headBiasInit=" + headBiasInit;
        return s + (variant.isPaper() ? "" : ", variant=" + variant) + "]";
    }
}
