package vit22b.model;

import vit22b.backend.Backend;
import vit22b.graph.Axis;
import vit22b.graph.CollectiveMatmul;
import vit22b.graph.Communicator;
import vit22b.graph.Cost;
import vit22b.graph.TaskGraph.Task;
import vit22b.graph.TaskGraph;
import vit22b.tensor.Tensor;

/**
 * The block program (DESIGN.md; paper sections 2 and 3), written once: it emits one block's
 * tasks into a {@link TaskGraph} for one device's {@link Shard} (model shard j of k over a data
 * shard). With a {@link Bind} (backend, communicator, tensors) the tasks have bodies; without
 * one (null) they have costs only, which is what the simulator times. The unsharded model is the
 * k = 1 case on an eager graph with a {@link vit22b.graph.LocalCommunicator}.
 *
 * <p>The paper's parallel block, on a device holding r = rows / k token rows of its data shard:
 * <ol>
 * <li>y = Norm(x) on the local rows;</li>
 * <li>in-projection as an all-gather collective matmul: pre = gather(y) @ W_in_j^T, W_in_j the
 *     rows of this shard's MLP units and heads of q, k, v (k = 1: one GEMM on y);</li>
 * <li>the epilogue: GELU(pre_mlp + b_mlp) into ag's MLP columns, QK-norm, head-major q, k, v;</li>
 * <li>attention over the shard's heads into ag's first columns;</li>
 * <li>out-projection as a matmul reduce-scatter of the partial sums ag @ W_out_j^T back to token
 *     rows, then x' = x + that + b_out (k = 1: the fused out-projection with the residual).</li>
 * </ol>
 * Backward mirrors it: an all-gather matmul of dx' gives d[a|g] and dW_out chunk by chunk, a
 * matmul reduce-scatter of dpre @ W_in gives dy (accumulating dW_in). Gradients of the vectors
 * every model shard holds whole (in_norm, q/k norm scales, b_out) are partial sums over the model
 * axis: the caller all-reduces them.
 *
 * <p>The other {@link Variant}s (sequential, biases, no QK-norm) run on one device only (k = 1,
 * eager): one task each way composed of the backend's general ops, each projection still one
 * GEMM; the sequential block runs the attention half into a middle residual {@code x1}, then
 * {@code x1 + MLP(Norm2(x1))}.
 */
public final class Block {
    private Block() {}

    /**
     * What one block's forward keeps for its backward, on this device. pre is the in-projection's
     * output and ag the out-projection's input: (rows, inRows) and (rows, outCols) in the parallel
     * block, (rows, 3D) and (rows, D) in the sequential one. y is the normed local rows, yFull
     * the model group's gathered y (y itself when k = 1). The rest serves the variants and is
     * null for the paper's block: qRaw, kRaw (q and k before QK-norm, with it), h and g (the
     * MLP's GELU input and output), the sequential block's middle residual x1, its norm y2 and
     * that norm's statistics.
     */
    public record Saved(Tensor normStats, Tensor y, Tensor yFull, Tensor pre, Tensor ag, Tensor q, Tensor k, Tensor v,
                        Tensor qkStats, Tensor lse, Tensor qRaw, Tensor kRaw, Tensor h, Tensor g,
                        Tensor x1, Tensor y2, Tensor norm2Stats) {}

    /**
     * Scratch of one device's blocks, shared by its layers: backward's (dy of the local rows and
     * the rest; null for inference) and, when k > 1, the collective matmuls' (proj, part0, part1,
     * recv (r, D); full (rows, D) without overlap, doutFull (rows, D)).
     */
    public record Scratch(Tensor dy, Tensor dag, Tensor dq, Tensor dk, Tensor dv, Tensor dpre,
                          Tensor dqRaw, Tensor dkRaw, Tensor dh, Tensor dg,
                          Tensor proj, Tensor part0, Tensor part1, Tensor recv, Tensor full, Tensor doutFull) {}

    /**
     * One device's block with its tensors: weights w, gradients g (null for inference) and, when
     * {@code gradFlat} is not null, the flat they live in (zeroed when backward starts).
     */
    public record Bind(Backend be, Communicator comm, BlockParams w, BlockParams g, Tensor gradFlat, Saved a,
                       Scratch s) {}

    /** Allocates what one layer's forward keeps for shard s. */
    public static Saved saved(Buffers b, Shard s) {
        ModelConfig c = s.config();
        Variant v = c.variant();
        int r = s.localRows(), rows = s.rows(), d = c.width(), imgs = s.imgs(), hl = s.heads(), n = c.tokens();
        int hd = c.headDim(), m = c.mlp();
        boolean paper = v.isPaper(), rawQk = !paper && v.qkNorm();
        int preW = v.parallel() ? s.inRows() : 3 * d, agW = v.parallel() ? s.outCols() : d;
        Tensor y = b.get(r, d);
        // statistics (normStats, qkStats, lse, norm2Stats) float32 in every precision
        return new Saved(b.f32(r, 2), y, s.k() == 1 ? y : b.get(rows, d), b.get(rows, preW), b.get(rows, agW),
                b.get(imgs, hl, n, hd), b.get(imgs, hl, n, hd), b.get(imgs, hl, n, hd), b.f32(2, imgs, hl, n, 2),
                b.f32(imgs, hl, n), rawQk ? b.get(imgs, hl, n, hd) : null, rawQk ? b.get(imgs, hl, n, hd) : null,
                paper ? null : b.get(rows, m), paper ? null : b.get(rows, m),
                v.parallel() ? null : b.get(rows, d), v.parallel() ? null : b.get(rows, d),
                v.parallel() ? null : b.f32(rows, 2));
    }

    /** Allocates the scratch of shard s's blocks: backward's when {@code training}, the collectives' when k > 1. */
    public static Scratch scratch(Buffers b, Shard s, boolean training) {
        ModelConfig c = s.config();
        Variant v = c.variant();
        int r = s.localRows(), rows = s.rows(), d = c.width(), imgs = s.imgs(), hl = s.heads(), n = c.tokens();
        int hd = c.headDim(), m = c.mlp();
        boolean paper = v.isPaper(), rawQk = !paper && v.qkNorm(), t = training, comm = s.k() > 1;
        int preW = v.parallel() ? s.inRows() : 3 * d, agW = v.parallel() ? s.outCols() : d;
        return new Scratch(t ? b.get(r, d) : null, t ? b.get(rows, agW) : null,
                t ? b.get(imgs, hl, n, hd) : null, t ? b.get(imgs, hl, n, hd) : null, t ? b.get(imgs, hl, n, hd) : null,
                t ? b.get(rows, preW) : null,
                t && rawQk ? b.get(imgs, hl, n, hd) : null, t && rawQk ? b.get(imgs, hl, n, hd) : null,
                t && !paper ? b.get(rows, m) : null, t && !paper ? b.get(rows, m) : null,
                comm ? b.get(r, d) : null, comm ? b.get(r, d) : null, comm ? b.get(r, d) : null,
                comm ? b.get(r, d) : null, comm ? b.get(rows, d) : null, comm && t ? b.get(rows, d) : null);
    }

    /**
     * Adds the forward to g, its task names prefixed with p: out (r, D) = block(x (r, D)), both
     * this device's token rows. b null: costs only.
     */
    public static Task forward(TaskGraph g, String p, Shard s, Bind b, Tensor x, Tensor out, Task... deps) {
        ModelConfig c = s.config();
        if (!c.variant().isPaper()) {
            requireWhole(s);
            return g.compute(p + "block", Cost.compute(ModelStats.blockForwardFlops(c) * (double) s.imgs(), 0),
                    body(b, () -> variantForward(b, c, s.imgs(), x, out)), deps);
        }
        int d = c.width(), r = s.localRows(), rows = s.rows(), k = s.k(), in = s.inRows(), oc = s.outCols();
        int by = g.bytes();
        boolean centered = c.norm() == NormKind.LAYER;
        Task t = g.compute(p + "norm", Cost.elementwise((double) r * d, 1, 1, by, 4),
                body(b, () -> b.be().normForward(b.a().y(), b.a().normStats(), x, b.w().inNorm(), null, centered,
                        ModelConfig.EPS)), deps);
        Cost epilogue = Cost.elementwise((double) rows * in, 1, 1, by, 10);
        if (k == 1)   // one device: the backend may fuse the epilogue into the GEMM (the CUDA bf16 path does)
            t = g.compute(p + "in-proj+gelu+qk-norm", plus(Cost.matmul(r, d, in, by), epilogue),
                    body(b, () -> b.be().inProjectionForward(s.inProj(), b.a().pre(), b.a().y(), b.w().wIn(), b.w().bMlp(),
                            b.w().qScale(), b.w().kScale(), b.a().ag(), b.a().q(), b.a().k(), b.a().v(), b.a().qkStats(),
                            c.gelu(), centered)), t);
        else {   // the collective matmul over the model axis, then the epilogue on the gathered rows
            t = CollectiveMatmul.allGatherMatmul(g, p + "in-proj", k, Axis.MODEL, new CollectiveMatmul.Shape(r, d, in, by), null,
                    b == null ? null : CollectiveMatmul.matmul(b.be(), b.comm(), b.a().y(), b.a().yFull(), b.w().wIn(),
                            b.a().pre()), t);
            t = g.compute(p + "gelu+qk-norm", epilogue,
                    body(b, () -> b.be().inProjectionEpilogueForward(s.inProj(), b.a().pre(), b.w().bMlp(), b.w().qScale(),
                            b.w().kScale(), b.a().ag(), b.a().q(), b.a().k(), b.a().v(), b.a().qkStats(), c.gelu(),
                            centered)), t);
        }
        t = g.compute(p + "attention", attention(s, by, 1),
                body(b, () -> b.be().attentionForward(b.a().ag(), b.a().lse(), b.a().q(), b.a().k(), b.a().v())), t);
        Cost residual = Cost.elementwise((double) r * d, 2, 1, by, 2);
        if (k == 1)   // no partial sums to reduce: the fused out-projection adds the residual and the bias
            return g.compute(p + "out-proj", plus(Cost.matmul(r, oc, d, by), residual),
                    body(b, () -> b.be().outProjectionForward(out, x, b.a().ag(), b.w().wOut(), b.w().bOut())), t);
        t = CollectiveMatmul.matmulReduceScatter(g, p + "out-proj", k, Axis.MODEL, new CollectiveMatmul.Shape(r, oc, d, by),
                null, b == null ? null : CollectiveMatmul.matmul(b.be(), b.comm(), b.a().ag(), b.w().wOut(), b.s().proj(),
                        b.s().part0(), b.s().part1(), b.s().recv(), b.s().full()), t);
        return g.compute(p + "residual", residual, body(b, () -> {
            b.be().broadcastRows(out, b.w().bOut());
            b.be().add(out, x);
            b.be().add(out, b.s().proj());
        }), t);
    }

    /**
     * Adds the backward to g: from dout (r, D) = dL/d(out), writes dx (r, D) = dL/dx (residual
     * included; dx may be dout itself) and accumulates the block's gradients.
     */
    public static Task backward(TaskGraph g, String p, Shard s, Bind b, Tensor x, Tensor dout, Tensor dx, Task... deps) {
        ModelConfig c = s.config();
        if (!c.variant().isPaper()) {
            requireWhole(s);
            return g.compute(p + "block.bwd", Cost.compute(2.0 * ModelStats.blockForwardFlops(c) * s.imgs(), 0),
                    body(b, () -> variantBackward(b, c, s.imgs(), x, dout, dx)), deps);
        }
        int d = c.width(), r = s.localRows(), rows = s.rows(), k = s.k(), in = s.inRows(), oc = s.outCols();
        int by = g.bytes();
        boolean centered = c.norm() == NormKind.LAYER;
        Task t = g.compute(p + "residual.bwd", Cost.elementwise((double) r * d, 1, 1, by, 1), body(b, () -> {
            if (b.gradFlat() != null) b.be().zero(b.gradFlat());
            if (dx != dout) b.be().copy(dx, dout);
            b.be().sumRows(b.g().bOut(), dout);
            b.be().zero(b.s().dag());
        }), deps);
        // d[a|g] rows = dout rows @ W_out, and dW_out += those rows' dout^T @ [a|g], chunk by chunk.
        t = CollectiveMatmul.allGatherMatmul(g, p + "out-proj.bwd", k, Axis.MODEL, new CollectiveMatmul.Shape(r, d, oc, by),
                Cost.matmul(oc, r, d, by), b == null ? null : new CollectiveMatmul.AgBind(b.be(), b.comm(), dout,
                        k == 1 ? dout : b.s().doutFull(), (row, rowsT) -> b.be().linearBackward(
                                b.s().dag().view((long) row * oc, rowsT.dim(0), oc), b.g().wOut(), null, rowsT,
                                b.a().ag().view((long) row * oc, rowsT.dim(0), oc), b.w().wOut())), t);
        t = g.compute(p + "attention.bwd", attention(s, by, 2), body(b, () -> {
            Scratch sc = b.s();
            b.be().zero(sc.dq());
            b.be().zero(sc.dk());
            b.be().zero(sc.dv());
            b.be().attentionBackward(sc.dq(), sc.dk(), sc.dv(), sc.dag(), b.a().ag(), b.a().lse(), b.a().q(), b.a().k(),
                    b.a().v());
        }), t);
        t = g.compute(p + "gelu+qk-norm.bwd", Cost.elementwise((double) rows * in, 2, 1, by, 20),
                body(b, () -> b.be().inProjectionEpilogueBackward(s.inProj(), b.s().dag(), b.s().dq(), b.s().dk(),
                        b.s().dv(), b.a().pre(), b.w().bMlp(), b.w().qScale(), b.w().kScale(), b.a().qkStats(),
                        b.s().dpre(), b.g().bMlp(), b.g().qScale(), b.g().kScale(), c.gelu(), centered)), t);
        // dy rows = dpre @ W_in summed over the model group; dW_in += dpre^T @ gathered y, chunk by chunk.
        t = CollectiveMatmul.matmulReduceScatter(g, p + "in-proj.bwd", k, Axis.MODEL, new CollectiveMatmul.Shape(r, in, d, by),
                Cost.matmul(in, r, d, by), b == null ? null : new CollectiveMatmul.RsBind(b.be(), b.comm(), (row, o) -> {
                    b.be().zero(o);
                    b.be().linearBackward(o, b.g().wIn(), null, b.s().dpre().view((long) row * in, o.dim(0), in),
                            b.a().yFull().view((long) row * d, o.dim(0), d), b.w().wIn());
                }, b.s().dy(), b.s().part0(), b.s().part1(), b.s().recv(), b.s().full()), t);
        return g.compute(p + "norm.bwd", Cost.elementwise((double) r * d, 3, 1, by, 8),
                body(b, () -> b.be().normBackward(dx, b.g().inNorm(), null, b.s().dy(), x, b.w().inNorm(),
                        b.a().normStats(), centered)), t);
    }

    /** The variants run unsharded only (the mesh refuses them: {@link Shard#check}). */
    private static void requireWhole(Shard s) {
        if (s.k() != 1)
            throw new IllegalArgumentException("the " + s.config().variant() + " block runs on one device only; "
                    + "drop the mesh or the variant flags");
    }

    /**
     * Softmax attention of the shard's (image, head) pairs, not fused: logits and probabilities
     * go through memory. Backward ({@code times} 2) is twice the matmuls and the softmax traffic.
     */
    private static Cost attention(Shard s, int bytes, int times) {
        double heads = (double) s.imgs() * s.heads(), n = s.config().tokens(), hd = s.config().headDim();
        Cost.Compute mm = (Cost.Compute) Cost.matmul(n, hd, n, bytes);
        Cost.Compute sm = (Cost.Compute) Cost.elementwise(n * n, 1, 1, bytes, 5);
        return Cost.compute(times * heads * (2 * mm.flops() + sm.flops()), times * heads * (2 * mm.bytes() + sm.bytes()));
    }

    private static Cost plus(Cost a, Cost b) {
        Cost.Compute x = (Cost.Compute) a, y = (Cost.Compute) b;
        return Cost.compute(x.flops() + y.flops(), x.bytes() + y.bytes());
    }

    /** The body when tensors are bound, else none (a graph for the simulator). */
    private static Runnable body(Bind b, Runnable r) { return b == null ? null : r; }

    // ---- the other variants: one device, the backend's general ops ------------------------------

    private static void variantForward(Bind bind, ModelConfig c, int batch, Tensor x, Tensor out) {
        Backend be = bind.be();
        BlockParams w = bind.w();
        Saved a = bind.a();
        boolean centered = c.norm() == NormKind.LAYER, parallel = c.variant().parallel();
        int d = c.width(), m = c.mlp(), base = parallel ? m : 0;   // q's first column in pre
        be.normForward(a.y(), a.normStats(), x, w.inNorm(), w.inNormB(), centered, ModelConfig.EPS);
        be.linearForward(a.pre(), a.y(), w.wIn(), w.bIn());
        be.zero(a.ag());   // fromHeads accumulates
        if (parallel) {
            be.toHeads(mlpHeads(c, batch, a.h()), a.pre(), 0, batch, 1);
            if (w.bMlp() != null) {   // without the biases variant the MLP bias is separate from W_in
                be.broadcastRows(a.g(), w.bMlp());
                be.add(a.h(), a.g());
            }
            be.geluForward(a.g(), a.h(), c.gelu());
            be.fromHeads(a.ag(), d, mlpHeads(c, batch, a.g()), batch, 1);
        }
        heads(be, c, batch, w, a, base, centered);
        be.attentionForward(a.ag(), a.lse(), a.q(), a.k(), a.v());
        Tensor x1 = parallel ? out : a.x1();
        be.outProjectionForward(x1, x, a.ag(), w.wOut(), w.bOut());
        if (parallel) return;
        be.normForward(a.y2(), a.norm2Stats(), x1, w.norm2(), w.norm2B(), centered, ModelConfig.EPS);
        be.linearForward(a.h(), a.y2(), w.wFc1(), w.bFc1());
        be.geluForward(a.g(), a.h(), c.gelu());
        be.outProjectionForward(out, x1, a.g(), w.wFc2(), w.bFc2());
    }

    /** q, k, v head-major from pre's columns [base, base + 3D), q and k normed per head when QK-norm is on. */
    private static void heads(Backend be, ModelConfig c, int batch, BlockParams w, Saved a, int base, boolean centered) {
        int d = c.width(), h = c.heads();
        boolean qkNorm = c.variant().qkNorm();
        be.toHeads(qkNorm ? a.qRaw() : a.q(), a.pre(), base, batch, h);
        be.toHeads(qkNorm ? a.kRaw() : a.k(), a.pre(), base + d, batch, h);
        be.toHeads(a.v(), a.pre(), base + 2 * d, batch, h);
        if (!qkNorm) return;
        be.normForward(rows(a.q()), qkStats(a, 0), rows(a.qRaw()), w.qScale(), w.qBias(), centered, ModelConfig.EPS);
        be.normForward(rows(a.k()), qkStats(a, 1), rows(a.kRaw()), w.kScale(), w.kBias(), centered, ModelConfig.EPS);
    }

    private static void variantBackward(Bind bind, ModelConfig c, int batch, Tensor x, Tensor dout, Tensor dx) {
        Backend be = bind.be();
        BlockParams w = bind.w(), g = bind.g();
        Saved a = bind.a();
        Scratch s = bind.s();
        boolean centered = c.norm() == NormKind.LAYER;
        boolean parallel = c.variant().parallel(), qkNorm = c.variant().qkNorm();
        int d = c.width(), hh = c.heads(), base = parallel ? c.mlp() : 0;
        if (bind.gradFlat() != null) be.zero(bind.gradFlat());
        if (dx != dout) be.copy(dx, dout);
        if (!parallel) {   // the MLP half first: dx becomes dL/dx1
            be.zero(s.dg());
            be.outProjectionBackward(s.dg(), g.wFc2(), g.bFc2(), dx, a.g(), w.wFc2());
            be.zero(s.dh());
            be.geluBackward(s.dh(), s.dg(), a.h(), c.gelu());
            be.zero(s.dy());
            be.linearBackward(s.dy(), g.wFc1(), g.bFc1(), s.dh(), a.y2(), w.wFc1());
            be.normBackward(dx, g.norm2(), g.norm2B(), s.dy(), a.x1(), w.norm2(), a.norm2Stats(), centered);
        }
        be.zero(s.dag());
        be.outProjectionBackward(s.dag(), g.wOut(), g.bOut(), dx, a.ag(), w.wOut());
        be.zero(s.dq());
        be.zero(s.dk());
        be.zero(s.dv());
        be.attentionBackward(s.dq(), s.dk(), s.dv(), s.dag(), a.ag(), a.lse(), a.q(), a.k(), a.v());
        be.zero(s.dpre());   // fromHeads accumulates
        if (qkNorm) {
            be.zero(s.dqRaw());
            be.zero(s.dkRaw());
            be.normBackward(rows(s.dqRaw()), g.qScale(), g.qBias(), rows(s.dq()), rows(a.qRaw()), w.qScale(), qkStats(a, 0), centered);
            be.normBackward(rows(s.dkRaw()), g.kScale(), g.kBias(), rows(s.dk()), rows(a.kRaw()), w.kScale(), qkStats(a, 1), centered);
        }
        be.fromHeads(s.dpre(), base, qkNorm ? s.dqRaw() : s.dq(), batch, hh);
        be.fromHeads(s.dpre(), base + d, qkNorm ? s.dkRaw() : s.dk(), batch, hh);
        be.fromHeads(s.dpre(), base + 2 * d, s.dv(), batch, hh);
        if (parallel) {
            be.toHeads(mlpHeads(c, batch, s.dg()), s.dag(), d, batch, 1);
            be.zero(s.dh());
            be.geluBackward(s.dh(), s.dg(), a.h(), c.gelu());
            if (g.bMlp() != null) be.sumRows(g.bMlp(), s.dh());
            be.fromHeads(s.dpre(), 0, mlpHeads(c, batch, s.dh()), batch, 1);
        }
        be.zero(s.dy());
        be.linearBackward(s.dy(), g.wIn(), g.bIn(), s.dpre(), a.y(), w.wIn());
        be.normBackward(dx, g.inNorm(), g.inNormB(), s.dy(), x, w.inNorm(), a.normStats(), centered);
    }

    /** A (T, M) MLP tensor as one "head" of M columns, the shape toHeads/fromHeads take. */
    private static Tensor mlpHeads(ModelConfig c, int batch, Tensor t) {
        return t.reshape(batch, 1, c.tokens(), c.mlp());
    }

    /** A head-major (B, H, N, hd) tensor as rows of hd, the shape the norm ops take. */
    private static Tensor rows(Tensor t) {
        return t.reshape(t.dim(0) * t.dim(1) * t.dim(2), t.dim(3));
    }

    /** Plane 0 (q) or 1 (k) of the QK-norm statistics (2, B, H, N, 2) as (B*H*N, 2). */
    private static Tensor qkStats(Saved a, int plane) {
        Tensor st = a.qkStats();
        int r = st.dim(1) * st.dim(2) * st.dim(3);
        return st.view((long) plane * r * 2, r, 2);
    }
}
