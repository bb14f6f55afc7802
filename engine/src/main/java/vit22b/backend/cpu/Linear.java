package vit22b.backend.cpu;

import static vit22b.backend.cpu.CpuBackend.seg;

import vit22b.tensor.Tensor;

/** Linear layer in PyTorch's layout (w is out x in): out = in @ w^T + bias, one sgemm each way. */
final class Linear {
    private Linear() {}

    static void forward(Tensor out, Tensor in, Tensor w, Tensor bias) {
        Args.require(w.rank() == 2, "linear: weight must be (out, in), got " + w);
        int n = w.dim(0), k = w.dim(1);
        int rows = Args.div(in.size(), k, "linear: input size vs weight's in-features");
        Args.size(out, (long) rows * n, "linear: out");
        if (bias != null) {
            Args.size(bias, n, "linear: bias");
            Elementwise.broadcastRows(out, bias);
        }
        Blas.sgemm(false, true, rows, n, k, 1f, seg(in), 0, k, seg(w), 0, k, bias == null ? 0f : 1f, seg(out), 0, n);
    }

    /** din (nullable) += dout @ w; dw += dout^T @ in; dbias (nullable) += column sums of dout. */
    static void backward(Tensor din, Tensor dw, Tensor dbias, Tensor dout, Tensor in, Tensor w) {
        Args.require(w.rank() == 2, "linear backward: weight must be (out, in), got " + w);
        int n = w.dim(0), k = w.dim(1);
        int rows = Args.div(in.size(), k, "linear backward: input size vs weight's in-features");
        Args.size(dout, (long) rows * n, "linear backward: dout");
        Args.size(dw, w.size(), "linear backward: dw");
        if (din != null) {
            Args.size(din, in.size(), "linear backward: din");
            Blas.sgemm(false, false, rows, k, n, 1f, seg(dout), 0, n, seg(w), 0, k, 1f, seg(din), 0, k);
        }
        Blas.sgemm(true, false, n, k, rows, 1f, seg(dout), 0, n, seg(in), 0, k, 1f, seg(dw), 0, k);
        if (dbias != null) Elementwise.sumRows(dbias, dout);
    }
}
