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
        float headBiasInit) {

    public static final float EPS = 1e-6f;

    public ModelConfig {
        validate(name, width, depth, mlp, heads, patch, imageSize, channels, classes);
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
    /** Rows of the fused in-projection: M + 3D. */
    public int inProjRows() { return mlp + 3 * width; }
    /** Columns of the fused out-projection: D + M. */
    public int outProjCols() { return width + mlp; }

    public ModelConfig withClasses(int c) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, c, norm, gelu, loss, headBiasInit); }
    public ModelConfig withImage(int size, int ch) { return new ModelConfig(name, width, depth, mlp, heads, patch, size, ch, classes, norm, gelu, loss, headBiasInit); }
    public ModelConfig withPatch(int p) { return new ModelConfig(name, width, depth, mlp, heads, p, imageSize, channels, classes, norm, gelu, loss, headBiasInit); }
    public ModelConfig withDepth(int l) { return new ModelConfig(name, width, l, mlp, heads, patch, imageSize, channels, classes, norm, gelu, loss, headBiasInit); }
    public ModelConfig withNorm(NormKind n) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, n, gelu, loss, headBiasInit); }
    public ModelConfig withGelu(GeluKind g) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, g, loss, headBiasInit); }
    public ModelConfig withLoss(LossKind l) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, gelu, l, headBiasInit); }
    public ModelConfig withHeadBiasInit(float b) { return new ModelConfig(name, width, depth, mlp, heads, patch, imageSize, channels, classes, norm, gelu, loss, b); }
}
