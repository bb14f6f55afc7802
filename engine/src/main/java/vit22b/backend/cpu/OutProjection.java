package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;

import java.lang.foreign.MemorySegment;

import vit22b.tensor.Tensor;

/** Fused out-projection of the parallel block: out = x + [a | g] @ wOut^T + bOut. */
final class OutProjection {
    private OutProjection() {}

    static void forward(Tensor out, Tensor x, Tensor ag, Tensor wOut, Tensor bOut) {
        Args.require(wOut.rank() == 2, "out-projection: wOut must be (D, D+M), got " + wOut);
        int d = wOut.dim(0), dm = wOut.dim(1);
        int t = Args.div(x.size(), d, "out-projection: x size vs D");
        Args.size(out, x.size(), "out-projection: out");
        Args.size(ag, (long) t * dm, "out-projection: ag");
        Args.size(bOut, d, "out-projection: bOut");
        MemorySegment o = seg(out), xs = seg(x), b = seg(bOut);
        // out = x + b first (x may be out itself), then the GEMM accumulates onto it.
        Parallel.range(t, d, (c, from, to) -> {
            for (int r = from; r < to; r++) Elementwise.addRow(o, (long) r * d, xs, (long) r * d, b, d);
        });
        Blas.sgemm(false, true, t, d, dm, 1f, seg(ag), 0, dm, seg(wOut), 0, dm, 1f, o, 0, d);
    }

    /** dag += dout @ wOut; dwOut += dout^T @ ag; dbOut += column sums of dout: the linear backward. */
    static void backward(Tensor dag, Tensor dwOut, Tensor dbOut, Tensor dout, Tensor ag, Tensor wOut) {
        Linear.backward(dag, dwOut, dbOut, dout, ag, wOut);
    }
}
