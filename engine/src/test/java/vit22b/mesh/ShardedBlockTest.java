package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import vit22b.backend.cpu.CpuBackend;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.ParamLayout;
import vit22b.model.Presets;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;
import vit22b.train.AdamW;

/**
 * A block's forward, backward, gradient reduction and AdamW step on a t x k mesh of CPU-thread
 * devices equals the same step on one device with the backend's fused (unsharded) ops.
 * Loss: L = sum(out * P) for a fixed random P, so dL/dout = P.
 */
class ShardedBlockTest {
    static final int BATCH = 4;
    static final float LR = 1e-2f, B1 = 0.9f, B2 = 0.95f, EPS = 1e-8f, WD = 0.1f;

    record Reference(float[] out, float[] dx, float[] grads, float[] updated, double loss) {}

    static float[] blockParams(ModelConfig c, long seed) {
        ParamLayout l = new ParamLayout(c);
        var first = l.entry("blocks.0.in_norm.weight");
        long size = l.entry("blocks.1.in_norm.weight").offset() - first.offset();
        float[] p = Check.randn(seed, (int) size, 0.3);
        // Norm scales around 1, as trained models have them.
        for (String n : new String[]{"in_norm.weight", "q_norm.weight", "k_norm.weight"}) {
            var e = l.entry("blocks.0." + n);
            for (long i = e.offset() - first.offset(); i < e.offset() - first.offset() + e.size(); i++) p[(int) i] += 1f;
        }
        return p;
    }

    static Reference reference(ModelConfig c, float[] params, float[] x, float[] dout) {
        CpuBackend be = new CpuBackend();
        int d = c.width(), m = c.mlp(), hd = c.headDim(), h = c.heads(), n = c.tokens(), rows = BATCH * n;
        Tensor p = be.allocate(params.length), g = be.allocate(params.length);
        be.upload(p, params);
        long o = 0;
        Tensor inNorm = p.view(o, d), wIn = p.view(o += d, c.inProjRows(), d), bMlp = p.view(o += (long) c.inProjRows() * d, m),
                qS = p.view(o += m, hd), kS = p.view(o += hd, hd), wOut = p.view(o += hd, d, c.outProjCols()),
                bOut = p.view(o += (long) d * c.outProjCols(), d);
        o = 0;
        Tensor gIn = g.view(o, d), gWIn = g.view(o += d, c.inProjRows(), d), gB = g.view(o += (long) c.inProjRows() * d, m),
                gQ = g.view(o += m, hd), gK = g.view(o += hd, hd), gWOut = g.view(o += hd, d, c.outProjCols()),
                gBOut = g.view(o += (long) d * c.outProjCols(), d);
        Tensor xt = be.allocate(rows, d), y = be.allocate(rows, d), st = be.allocate(rows, 2), pre = be.allocate(rows, c.inProjRows()),
                ag = be.allocate(rows, d + m), q = be.allocate(BATCH, h, n, hd), k = be.allocate(BATCH, h, n, hd),
                v = be.allocate(BATCH, h, n, hd), qk = be.allocate(2, BATCH, h, n, 2), lse = be.allocate(BATCH, h, n),
                out = be.allocate(rows, d), dOut = be.allocate(rows, d), dag = be.allocate(rows, d + m),
                dq = be.allocate(BATCH, h, n, hd), dk = be.allocate(BATCH, h, n, hd), dv = be.allocate(BATCH, h, n, hd),
                dpre = be.allocate(rows, c.inProjRows()), dy = be.allocate(rows, d), dx = be.allocate(rows, d);
        be.upload(xt, x);
        be.upload(dOut, dout);
        boolean centered = c.norm() == NormKind.LAYER;
        be.normForward(y, st, xt, inNorm, null, centered, ModelConfig.EPS);
        be.inProjectionForward(c, BATCH, y, wIn, bMlp, qS, kS, pre, ag, q, k, v, qk);
        be.attentionForward(ag, lse, q, k, v);
        be.outProjectionForward(out, xt, ag, wOut, bOut);
        be.outProjectionBackward(dag, gWOut, gBOut, dOut, ag, wOut);
        be.attentionBackward(dq, dk, dv, dag, ag, lse, q, k, v);
        be.inProjectionBackward(c, BATCH, dag, dq, dk, dv, y, wIn, bMlp, qS, kS, pre, qk, dpre, dy, gWIn, gB, gQ, gK);
        be.copy(dx, dOut);
        be.normBackward(dx, gIn, null, dy, xt, inNorm, st, centered);
        float[] outA = be.download(out), grads = be.download(g);
        double loss = 0;
        for (int i = 0; i < outA.length; i++) loss += (double) outA[i] * dout[i];
        Tensor mm = be.allocate(params.length), vv = be.allocate(params.length);
        // AdamW with big_vision's groups: the block's kernels decay, its vectors do not.
        ParamLayout l = new ParamLayout(c);
        long first = l.entry("blocks.0.in_norm.weight").offset();
        for (ParamLayout.Entry e : l.entries()) {
            if (!e.name().startsWith("blocks.0.")) continue;
            long o0 = e.offset() - first;
            int n0 = (int) e.size();
            be.adamw(p.view(o0, n0), g.view(o0, n0), mm.view(o0, n0), vv.view(o0, n0), LR, B1, B2, EPS,
                    e.decay() == ParamLayout.Decay.BODY ? WD : 0f, 1f, 1);
        }
        return new Reference(outA, be.download(dx), grads, be.download(p), loss);
    }

    @ParameterizedTest
    @CsvSource({"1,1,true", "1,2,true", "2,1,true", "2,2,true", "1,4,true", "2,2,false", "1,4,false", "1,2,layer"})
    void shardedStepEqualsTheUnshardedStep(int t, int k, String variant) {
        ModelConfig c = Presets.get("test-small");
        if (variant.equals("layer")) c = c.withNorm(NormKind.LAYER);
        boolean overlap = !variant.equals("false");
        int d = c.width(), rows = BATCH * c.tokens();
        float[] params = blockParams(c, 7), x = Check.randn(8, rows * d, 1), dout = Check.randn(9, rows * d, 1);
        Reference ref = reference(c, params, x, dout);

        Mesh mesh = new Mesh(t, k);
        CpuMesh cm = new CpuMesh(mesh);
        int shardRows = rows / t, r = shardRows / k;
        float[] out = new float[rows * d], dx = new float[rows * d];
        double[] loss = new double[mesh.devices()];
        ShardedBlock[] blocks = new ShardedBlock[mesh.devices()];
        float[][] gradPieces = new float[mesh.devices()][], updated = new float[mesh.devices()][];
        ModelConfig cfg = c;
        cm.run(rank -> {
            CpuDevice dev = cm.device(rank);
            CpuBackend be = dev.backend();
            ShardedBlock b = blocks[rank] = new ShardedBlock(dev.backend(), dev.comm(), cfg, BATCH, params);
            int row0 = mesh.dataIndex(rank) * shardRows + mesh.modelIndex(rank) * r;
            Tensor xl = be.allocate(r, d), ol = be.allocate(r, d), gl = be.allocate(r, d), dxl = be.allocate(r, d);
            be.upload(xl, Arrays.copyOfRange(x, row0 * d, (row0 + r) * d));
            be.upload(gl, Arrays.copyOfRange(dout, row0 * d, (row0 + r) * d));
            TaskGraph g = new TaskGraph(overlap);
            var f = b.forward(g, xl, ol, b.gatherParams(g, null));
            var bw = b.backward(g, xl, gl, dxl, f);
            var red = b.reduceGradients(g, bw);
            var read = g.compute("read-grads", Cost.compute(0, 0), () -> gradPieces[rank] = be.download(b.gradPiece()), red);
            var opt = b.optimizerStep(g, read, new AdamW.Config(B1, B2, EPS, WD, WD, 0), LR, () -> 1, 1);
            var gathered = b.gatherParams(g, opt);
            g.compute("read", Cost.compute(0, 0), () -> {
                float[] o = be.download(ol), gx = be.download(dxl), gd = be.download(gl);
                System.arraycopy(o, 0, out, row0 * d, r * d);
                System.arraycopy(gx, 0, dx, row0 * d, r * d);
                for (int i = 0; i < o.length; i++) loss[rank] += (double) o[i] * gd[i];
                updated[rank] = be.download(b.params());
            }, gathered);
            return g;
        });
        double total = Arrays.stream(loss).sum();
        assertEquals(0, Math.abs(total - ref.loss()) / Math.abs(ref.loss()), 1e-5, "loss " + total + " vs " + ref.loss());
        Check.assertClose("block output", out, Check.toDouble(ref.out()), 1e-5);
        Check.assertClose("dL/dx", dx, Check.toDouble(ref.dx()), 1e-5);
        for (int j = 0; j < k; j++) {
            ShardLayout lay = blocks[j].layout();
            float[] grad = new float[(int) lay.size()];
            int piece = blocks[j].piece();
            for (int i = 0; i < t; i++) {
                float[] pc = gradPieces[mesh.rank(i, j)];
                int from = i * piece, len = (int) Math.min(piece, lay.size() - from);
                if (len > 0) System.arraycopy(pc, 0, grad, from, len);
            }
            Check.assertClose("gradients of model shard " + j, grad, Check.toDouble(lay.extract(ref.grads())), 1e-5);
            for (int i = 0; i < t; i++)
                Check.assertClose("updated parameters on device " + mesh.rank(i, j), updated[mesh.rank(i, j)],
                        Check.toDouble(lay.extract(ref.updated())), 1e-5);
        }
    }

    /** Two blocks; block 1's weights are gathered on the communication queue while block 0 computes. */
    @ParameterizedTest
    @CsvSource({"2,2", "1,2", "2,1"})
    void twoBlocksWithPrefetchedWeightsEqualTheUnshardedPair(int t, int k) {
        ModelConfig c = Presets.get("test-small");
        int d = c.width(), rows = BATCH * c.tokens();
        float[] p0 = blockParams(c, 11), p1 = blockParams(c, 12);
        float[] x = Check.randn(13, rows * d, 1), dout = Check.randn(14, rows * d, 1);
        float[] h = reference(c, p0, x, dout).out();
        Reference top = reference(c, p1, h, dout);
        Reference bottom = reference(c, p0, x, top.dx());

        Mesh mesh = new Mesh(t, k);
        CpuMesh cm = new CpuMesh(mesh);
        int shardRows = rows / t, r = shardRows / k;
        float[] out = new float[rows * d], dx = new float[rows * d];
        ShardedBlock[][] blocks = new ShardedBlock[mesh.devices()][2];
        float[][][] grads = new float[mesh.devices()][2][];
        cm.run(rank -> {
            CpuDevice dev = cm.device(rank);
            CpuBackend be = dev.backend();
            ShardedBlock b0 = blocks[rank][0] = new ShardedBlock(dev.backend(), dev.comm(), c, BATCH, p0);
            ShardedBlock b1 = blocks[rank][1] = new ShardedBlock(dev.backend(), dev.comm(), c, BATCH, p1);
            int row0 = mesh.dataIndex(rank) * shardRows + mesh.modelIndex(rank) * r;
            Tensor xl = be.allocate(r, d), hl = be.allocate(r, d), ol = be.allocate(r, d), gl = be.allocate(r, d),
                    dhl = be.allocate(r, d), dxl = be.allocate(r, d);
            be.upload(xl, Arrays.copyOfRange(x, row0 * d, (row0 + r) * d));
            be.upload(gl, Arrays.copyOfRange(dout, row0 * d, (row0 + r) * d));
            TaskGraph g = new TaskGraph(true);
            var w0 = b0.gatherParams(g, null);
            var w1 = b1.gatherParams(g, null);   // runs while block 0 computes
            var f0 = b0.forward(g, xl, hl, w0);
            var f1 = b1.forward(g, hl, ol, g.compute("join", Cost.compute(0, 0), () -> {}, f0, w1));
            var g1 = b1.backward(g, hl, gl, dhl, f1);
            var g0 = b0.backward(g, xl, dhl, dxl, g1);
            var red = b0.reduceGradients(g, b1.reduceGradients(g, g0));
            g.compute("read", Cost.compute(0, 0), () -> {
                System.arraycopy(be.download(ol), 0, out, row0 * d, r * d);
                System.arraycopy(be.download(dxl), 0, dx, row0 * d, r * d);
                grads[rank][0] = be.download(b0.gradPiece());
                grads[rank][1] = be.download(b1.gradPiece());
            }, red);
            return g;
        });
        Check.assertClose("output", out, Check.toDouble(top.out()), 1e-5);
        Check.assertClose("dL/dx", dx, Check.toDouble(bottom.dx()), 1e-5);
        Reference[] refs = {bottom, top};
        for (int blk = 0; blk < 2; blk++)
            for (int j = 0; j < k; j++) {
                ShardLayout lay = blocks[j][blk].layout();
                int piece = blocks[j][blk].piece();
                float[] grad = new float[(int) lay.size()];
                for (int i = 0; i < t; i++) {
                    int from = i * piece, len = (int) Math.min(piece, lay.size() - from);
                    if (len > 0) System.arraycopy(grads[mesh.rank(i, j)][blk], 0, grad, from, len);
                }
                Check.assertClose("block " + blk + " shard " + j + " gradients", grad,
                        Check.toDouble(lay.extract(refs[blk].grads())), 1e-5);
            }
    }

    /** The graph the CPU executor runs is also what the simulator times: one scheduler, two executors. */
    @org.junit.jupiter.api.Test
    void theExecutedGraphCanBeSimulated() {
        ModelConfig c = Presets.get("test-small");
        float[] params = blockParams(c, 7);
        double[] step = new double[2];
        for (boolean overlap : new boolean[]{true, false}) {
            Mesh mesh = new Mesh(1, 4);
            CpuMesh cm = new CpuMesh(mesh);
            CpuDevice dev = cm.device(0);
            ShardedBlock b = new ShardedBlock(dev.backend(), dev.comm(), c, BATCH, params);
            Tensor x = dev.backend().allocate(b.localRows(), c.width()), y = dev.backend().allocate(b.localRows(), c.width());
            TaskGraph g = new TaskGraph(overlap);
            b.backward(g, x, y, x, b.forward(g, x, y, b.gatherParams(g, null)));
            var tl = vit22b.mesh.sim.Simulator.run(g, vit22b.mesh.sim.CostModel.of(vit22b.mesh.sim.Chip.H100, mesh));
            step[overlap ? 0 : 1] = tl.step();
            assertEquals(true, tl.step() >= tl.compute() && tl.compute() > 0, "timeline " + tl);
        }
        assertEquals(true, step[0] < step[1], "overlap " + step[0] + " s vs none " + step[1] + " s");
    }
}
