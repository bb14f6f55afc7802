package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import vit22b.tensor.Tensor;

/**
 * Patch embedding as im2col + one sgemm: the P x P, stride-P convolution is a (B*N, C*P*P)
 * patch matrix times w^T. The patch matrix lives in scratch memory for the call (once per step; shared: chunks fill it).
 */
final class PatchEmbed {
    private PatchEmbed() {}

    /** Sizes of one call: batch, channels, image side, patch, grid side, tokens, width, K = C*P*P. */
    private record Dims(int b, int c, int side, int p, int grid, int n, int d, int k) {
        static Dims of(Tensor out, Tensor images, Tensor w, Tensor pos, int patch, String op) {
            Args.require(images.rank() == 4 && images.dim(2) == images.dim(3),
                    op + ": images must be (B, C, S, S), got " + images);
            Args.require(w.rank() == 4 && w.dim(2) == patch && w.dim(3) == patch,
                    op + ": weight must be (D, C, P, P) with P = " + patch + ", got " + w);
            int b = images.dim(0), c = images.dim(1), side = images.dim(2), d = w.dim(0);
            Args.require(w.dim(1) == c, op + ": weight has " + w.dim(1) + " channels, images have " + c);
            int grid = Args.div(side, patch, op + ": image side vs patch");
            int n = grid * grid;
            Args.size(pos, (long) n * d, op + ": pos");
            Args.size(out, (long) b * n * d, op + ": out");
            return new Dims(b, c, side, patch, grid, n, d, c * patch * patch);
        }
    }

    static void forward(Tensor out, Tensor images, Tensor w, Tensor b, Tensor pos, int patch) {
        Dims s = Dims.of(out, images, w, pos, patch, "patch embedding");
        Args.size(b, s.d, "patch embedding: bias");
        MemorySegment o = seg(out), ps = seg(pos), bs = seg(b);
        Parallel.range(s.b * s.n, s.d, (ch, from, to) -> {
            for (int row = from; row < to; row++) {
                Elementwise.addRow(o, (long) row * s.d, ps, (long) (row % s.n) * s.d, bs, s.d);
            }
        });
        try (Arena arena = Arena.ofShared()) {
            MemorySegment cols = im2col(arena, seg(images), s);
            Blas.sgemm(false, true, s.b * s.n, s.d, s.k, 1f, cols, 0, s.k, seg(w), 0, s.k, 1f, o, 0, s.d);
        }
    }

    /** dw += dout^T @ patches; db += sum over tokens; dpos += sum over images. */
    static void backward(Tensor dw, Tensor db, Tensor dpos, Tensor dout, Tensor images, int patch) {
        Dims s = Dims.of(dout, images, dw, dpos, patch, "patch embedding backward");
        Args.size(db, s.d, "patch embedding backward: db");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment cols = im2col(arena, seg(images), s);
            Blas.sgemm(true, false, s.d, s.k, s.b * s.n, 1f, seg(dout), 0, s.d, cols, 0, s.k, 1f, seg(dw), 0, s.k);
        }
        Elementwise.sumRows(db, dout);
        Elementwise.addColumnSums(seg(dpos), seg(dout), 0, s.b, s.n * s.d, s.n * s.d);
    }

    /** (B*N, C*P*P): row = image * N + patch (row-major over the grid), column = (channel, py, px). */
    private static MemorySegment im2col(Arena arena, MemorySegment img, Dims s) {
        MemorySegment cols = arena.allocate((long) s.b * s.n * s.k * Float.BYTES, 64);
        long rowBytes = (long) s.p * Float.BYTES;
        Parallel.range(s.b * s.n, s.k, (ch, from, to) -> {
            for (int row = from; row < to; row++) {
                int bb = row / s.n, gy = (row % s.n) / s.grid, gx = row % s.grid;
                for (int c = 0; c < s.c; c++)
                    for (int py = 0; py < s.p; py++) {
                        long src = (((long) bb * s.c + c) * s.side + gy * s.p + py) * s.side + (long) gx * s.p;
                        long dst = (long) row * s.k + ((long) c * s.p + py) * s.p;
                        MemorySegment.copy(img, src * Float.BYTES, cols, dst * Float.BYTES, rowBytes);
                    }
            }
        });
        return cols;
    }
}
