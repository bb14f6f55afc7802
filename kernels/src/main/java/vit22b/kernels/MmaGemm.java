package vit22b.kernels;

/**
 * What one launch of gemm_bf16_mma (the tensor-core bf16 GEMM, {@link Kernels#gemmBf16Mma}) takes:
 * its operands and its fused epilogue, as small records instead of two dozen positional numbers.
 * Addresses are raw device addresses (0 for none), strides in elements. The kernel source's header
 * (src/main/cuda/gemm_bf16_mma.cu) defines the arithmetic; this mirrors it.
 */
public final class MmaGemm {
    private MmaGemm() {}

    /** The kernel's gelu argument: MMA_GELU_NONE, MMA_GELU_FWD, MMA_GELU_BWD. */
    static final int GELU_NONE = 0, GELU_FORWARD = 1, GELU_BACKWARD = 2;

    static int geluMode(Gelu g) { return g == null ? GELU_NONE : g.backward() ? GELU_BACKWARD : GELU_FORWARD; }

    /** The three GEMMs of a training step; the ordinals are the kernel's MMA_NT, MMA_NN, MMA_TN. */
    public enum Form {
        /** C = A B^T: A is M x K, B is N x K (a Linear weight): the forward projection. */
        NT,
        /** C = A B: A is M x K, B is K x N: the data gradient dx = dy W. */
        NN,
        /** C = A^T B: A is stored K x M, B is K x N: the weight gradient dW = dy^T x. */
        TN;

        /** Columns of A's storage: A's rows run along k in NT and NN, along m in TN. */
        long aWidth(int m, int k) { return this == TN ? m : k; }

        /** Columns of B's storage: k in NT, n otherwise. */
        long bWidth(int n, int k) { return this == NT ? k : n; }
    }

    /**
     * C (M x N, row stride ldc; fp32, or bf16 when the epilogue says so) = op(A) op(B) with bf16
     * A and B at row strides lda, ldb (any; multiples of 8 at 16-byte aligned addresses load fastest).
     */
    public record Operands(Form form, long a, long lda, long b, long ldb, long c, long ldc, int m, int n, int k) {}

    /**
     * GELU fused into output columns [col0, col0 + cols), j = n - col0. Forward: aux[m*ld + j] =
     * GELU(v + bias[j]), C keeps v (the in-projection's MLP part: pre stays bias-free). Backward:
     * v *= gelu'(aux[m*ld + j] + bias[j]) before anything is added (aux = pre: the data gradient
     * of the out-projection becomes the MLP part of dpre). bias may be 0; kind is the GeluKind
     * ordinal (0 tanh, 1 exact); aux and bias have the output's element type.
     */
    public record Gelu(boolean backward, int kind, int col0, int cols, long aux, long ld, long bias) {}

    /**
     * The in-projection's QK-norm and head-major scatter, fused by gemm_bf16_wgmma_qk ({@link
     * Kernels#gemmBf16WgmmaQk}; norm.cu's qknorm_fwd on the rounded pre): C's columns [col0, col0 + D)
     * are q, then k, then v (D = heads x headDim), row m is token m % tokens of image m / tokens; q and k
     * are normalised per (row, head) over headDim with the shared scales qScale, kScale (bf16, headDim),
     * written with v head-major (B, H, N, hd) bf16, and stats (2, B, H, N, 2) fp32 = (mean, rstd).
     */
    public record QkNorm(long qScale, long kScale, long q, long k, long v, long stats, int col0, int tokens, int heads,
                         int headDim, boolean centered, float eps) {}

    /**
     * Whether gemm_bf16_wgmma_qk takes heads of headDim starting at column col0: a head lies inside one
     * 256-column tile (headDim a multiple of 8 dividing the tile width and col0; the kernel's lanes own
     * 8-column chunks, hd / 8 of them a head).
     */
    public static boolean qkFits(int headDim, int col0) {
        return headDim >= 8 && headDim % 8 == 0 && Kernels.WGMMA_TILE_N % headDim == 0 && col0 % headDim == 0;
    }

    /**
     * beta 0 writes C without reading it, else C = beta C_old + ...; bias[n]; residual
     * res[(m % resRows)*ldr + n] (may be C itself); bias and res have the output's element type
     * (bf16 when outBf16, else fp32); gelu (or null); dbias
     * (fp32, or 0): the row sums of op(A), written with the same beta (the bias gradient in TN,
     * where op(A) = dy^T).
     */
    public record Epilogue(float beta, boolean outBf16, long bias, long res, long ldr, int resRows, Gelu gelu, long dbias) {
        /** Nothing fused, beta 0; fp32 or bf16 output. */
        public static Epilogue plain(boolean outBf16) { return new Epilogue(0f, outBf16, 0, 0, 0, 1, null, 0); }

        /** C (and dbias) accumulate: beta 1. */
        public Epilogue accumulate() { return new Epilogue(1f, outBf16, bias, res, ldr, resRows, gelu, dbias); }

        public Epilogue withBias(long b) { return new Epilogue(beta, outBf16, b, res, ldr, resRows, gelu, dbias); }

        /** Adds residual row m % rows at stride ld (rows < M broadcasts, e.g. a position table). */
        public Epilogue withResidual(long r, long ld, int rows) { return new Epilogue(beta, outBf16, bias, r, ld, rows, gelu, dbias); }

        public Epilogue withGelu(int kind, int col0, int cols, long out, long ld, long gbias) {
            return new Epilogue(beta, outBf16, bias, res, ldr, resRows, new Gelu(false, kind, col0, cols, out, ld, gbias), dbias);
        }

        public Epilogue withGeluBackward(int kind, int col0, int cols, long pre, long ld, long gbias) {
            return new Epilogue(beta, outBf16, bias, res, ldr, resRows, new Gelu(true, kind, col0, cols, pre, ld, gbias), dbias);
        }

        public Epilogue withBiasGradient(long db) { return new Epilogue(beta, outBf16, bias, res, ldr, resRows, gelu, db); }
    }
}
