package vit22b.backend.cuda;

import vit22b.backend.Precision;
import vit22b.io.DType;
import vit22b.kernels.MmaGemm.Epilogue;
import vit22b.kernels.MmaGemm.Form;
import vit22b.kernels.MmaGemm.Operands;
import vit22b.model.ModelConfig;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;

/**
 * The few launches Nsight Compute profiles in run-all.sh's ncu stage, each once after one
 * unprofiled warm-up: the ViT-22B in-projection GEMM with its GELU epilogue (NT, T = 16,384, the
 * shape of MmaGemmBench's 22B row; gemm_bf16_wgmma on a Hopper GPU, else gemm_bf16_mma), then bf16
 * attention forward and backward at B 16, H 16, N 1024, hd 128 (flash_attn.py's large shape)
 * through the bf16 backend. Data random, made on the GPU. Usage: NcuProbe.
 */
public final class NcuProbe {
    static final int IMAGES = 64, B = 16, H = 16, N = 1024, HD = 128;

    public static void main(String[] args) {
        try (CudaBackend be = new CudaBackend(0, CudaBackend.GemmPath.KERNELS, Precision.BF16)) {
            ModelConfig c = Presets.get("vit-22b");
            int D = c.width(), Mlp = c.mlp(), R = c.inProjRows(), T = IMAGES * c.tokens();
            var k = be.kernels();
            boolean hopper = MmaGemmBench.hopper(be);
            java.util.List<Long> mem = new java.util.ArrayList<>();
            try {
                long y = MmaGemmBench.rnd16(be, mem, (long) T * D, 1), w = MmaGemmBench.rnd16(be, mem, (long) R * D, 2);
                long gb = MmaGemmBench.rnd16(be, mem, Mlp, 3), pre = MmaGemmBench.alloc(be, mem, 2L * T * R);
                long ag = MmaGemmBench.alloc(be, mem, 2L * T * (D + Mlp));
                Operands nt = new Operands(Form.NT, y, D, w, D, pre, R, T, R, D);
                Epilogue e = Epilogue.plain(true).withGelu(c.gelu().ordinal(), 0, Mlp, ag + 2L * D, D + Mlp, gb);
                for (int i = 0; i < 2; i++) {
                    if (hopper) k.gemmBf16Wgmma(be.device(), nt, e);
                    else k.gemmBf16Mma(nt, e);
                }
                be.synchronize();
                System.out.println("NcuProbe: " + (hopper ? "gemm_bf16_wgmma" : "gemm_bf16_mma") + " NT " + T + "x" + R + "x" + D
                        + " with the GELU epilogue, twice");
            } finally {
                for (long p : mem) be.device().free(p);
            }
            Tensor q = rnd(be, B, H, N, HD), kk = rnd(be, B, H, N, HD), v = rnd(be, B, H, N, HD), dout = rnd(be, B * N, H * HD);
            Tensor out = be.allocate(DType.BF16, B * N, H * HD), lse = be.allocate(DType.F32, B, H, N);
            Tensor dq = be.allocate(DType.BF16, B, H, N, HD), dk = be.allocate(DType.BF16, B, H, N, HD);
            Tensor dv = be.allocate(DType.BF16, B, H, N, HD);
            for (int i = 0; i < 2; i++) {
                be.attentionForward(out, lse, q, kk, v);
                be.attentionBackward(dq, dk, dv, dout, out, lse, q, kk, v);
            }
            be.synchronize();
            System.out.printf("NcuProbe: attention forward and backward B %d H %d N %d hd %d, twice%n", B, H, N, HD);
            for (Tensor t : new Tensor[] {q, kk, v, dout, out, lse, dq, dk, dv}) be.free(t);
        }
    }

    /** A bf16 tensor of uniform [-1, 1) made on the GPU. */
    private static Tensor rnd(CudaBackend be, int... shape) {
        Tensor f = be.allocate(shape), t = be.allocate(DType.BF16, shape);
        GemmBench.fillRandom(be, f, t.size());
        be.cast(t, f);
        be.free(f);
        return t;
    }
}
