package vit22b.backend.cuda;

import java.util.ArrayList;
import java.util.List;

import vit22b.backend.Precision;
import vit22b.io.DType;
import vit22b.kernels.Kernels;
import vit22b.kernels.MmaGemm.Epilogue;
import vit22b.kernels.MmaGemm.Form;
import vit22b.kernels.MmaGemm.Operands;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;

/**
 * The few launches Nsight Compute profiles in run-all.sh's ncu stage (bench/gpu/ncu-probe.sh),
 * each twice (the first warms up): the in-projection GEMM with its GELU epilogue (NT) at ViT-22B's
 * shape at {@value #IMAGES} images, MmaGemmBench's 22B row (gemm_bf16_wgmma where the device is a
 * Hopper, else gemm_bf16_mma), then bf16 attention forward and backward at B {@value #B}, H
 * {@value #H}, N {@value #N}, hd {@value #HD} (flash_attn.py's large shape) through the bf16
 * backend. Random data made on the device. Usage: NcuProbe.
 */
public final class NcuProbe {
    static final int IMAGES = 64, B = 16, H = 16, N = 1024, HD = 128;

    public static void main(String[] args) {
        try (CudaBackend be = new CudaBackend(0, CudaBackend.GemmPath.KERNELS, Precision.BF16)) {
            run(be, Presets.get("vit-22b"), IMAGES, B, H, N, HD);
        }
    }

    /**
     * The launches on {@code be} (bf16): the in-projection of {@code c} at {@code images}, attention at
     * (b, h, n, hd). Returns the sum of squares of the attention output (a check that it ran).
     */
    static double run(CudaBackend be, ModelConfig c, int images, int b, int h, int n, int hd) {
        int D = c.width(), Mlp = c.mlp(), R = c.inProjRows(), T = images * c.tokens();
        Kernels k = be.kernels();
        boolean hopper = be.device().hopper();
        List<Long> mem = new ArrayList<>();
        try {
            long y = MmaGemmBench.rnd16(be, mem, (long) T * D, 1), w = MmaGemmBench.rnd16(be, mem, (long) R * D, 2);
            long gb = MmaGemmBench.rnd16(be, mem, Mlp, 3), pre = MmaGemmBench.alloc(be, mem, 2L * T * R);
            long ag = MmaGemmBench.alloc(be, mem, 2L * T * (D + Mlp));
            Operands nt = new Operands(Form.NT, y, D, w, D, pre, R, T, R, D);
            Epilogue e = Epilogue.plain(true).withGelu(c.gelu().ordinal(), 0, Mlp, ag + 2L * D, D + Mlp, gb);
            for (int i = 0; i < 2; i++) {
                if (hopper) k.gemmBf16Wgmma(be.tensorMaps(), nt, e);
                else k.gemmBf16Mma(nt, e);
            }
            be.synchronize();
            System.out.printf("NcuProbe: %s NT %dx%dx%d with the GELU epilogue, twice%n", hopper ? "gemm_bf16_wgmma" : "gemm_bf16_mma",
                    T, R, D);
        } finally {
            for (long p : mem) be.device().free(p);
        }
        List<Tensor> ts = new ArrayList<>();
        Tensor q = rnd(be, ts, b, h, n, hd), kk = rnd(be, ts, b, h, n, hd), v = rnd(be, ts, b, h, n, hd);
        Tensor dout = rnd(be, ts, b * n, h * hd);
        Tensor out = keep(ts, be.allocate(DType.BF16, b * n, h * hd)), lse = keep(ts, be.allocate(DType.F32, b, h, n));
        Tensor dq = keep(ts, be.allocate(DType.BF16, b, h, n, hd)), dk = keep(ts, be.allocate(DType.BF16, b, h, n, hd));
        Tensor dv = keep(ts, be.allocate(DType.BF16, b, h, n, hd));
        try {
            for (int i = 0; i < 2; i++) {
                be.attentionForward(out, lse, q, kk, v);
                be.attentionBackward(dq, dk, dv, dout, out, lse, q, kk, v);
            }
            be.synchronize();
            System.out.printf("NcuProbe: attention forward and backward B %d H %d N %d hd %d, twice%n", b, h, n, hd);
            return be.sumSquares(out);
        } finally {
            for (Tensor t : ts) be.free(t);
        }
    }

    private static Tensor keep(List<Tensor> ts, Tensor t) {
        ts.add(t);
        return t;
    }

    /** A bf16 tensor of uniform [-1, 1) made on the device. */
    private static Tensor rnd(CudaBackend be, List<Tensor> ts, int... shape) {
        Tensor f = be.allocate(shape), t = keep(ts, be.allocate(DType.BF16, shape));
        GemmBench.fillRandom(be, f, ts.size());
        be.cast(t, f);
        be.free(f);
        return t;
    }
}
