package vit22b.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import vit22b.kernels.LaunchTable.Launch;
import vit22b.kernels.LaunchTable.Problem;

/**
 * The Java wrappers against the CUDA sources, without a GPU: every {@code extern "C" __global__}
 * signature is parsed from src/main/cuda, every wrapper of {@link Kernels} is called on a
 * recording launcher ({@link LaunchTable}), and each launch must pass exactly the kernel's
 * parameters: Long for a pointer or long long (8 bytes), Integer for int, Float for float. JCuda
 * accepts any mismatch silently (a Long where the kernel takes an int shifts every later
 * argument). Also: every kernel has a wrapper, every wrapper is exercised, grids stay inside the
 * device limits at ViT-22B sizes.
 */
class KernelSignaturesTest {
    enum Kind { POINTER, LONG, INT, FLOAT, TENSOR_MAP }

    record Param(String decl, Kind kind, boolean restrict) {}

    static Map<String, List<Param>> signatures;

    /** A small odd-sized model and ViT-22B (48 heads of 128, 256 tokens) at 4,096 images. */
    static final Problem SMALL = new Problem(3, 40, 8, 3, 96, 3, 200, 7);
    static final Problem VIT_22B = new Problem(4096, 224, 14, 3, 6144, 48, 24576, 1000);

    @BeforeAll static void parse() throws IOException {
        signatures = parseSignatures(Path.of("src/main/cuda"));
    }

    static Map<String, List<Param>> parseSignatures(Path dir) throws IOException {
        Map<String, List<Param>> out = new TreeMap<>();
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.toString().endsWith(".cu") || p.toString().endsWith(".cuh")).sorted().toList();
        }
        Pattern kernel = Pattern.compile("extern\\s+\"C\"\\s+__global__([^{;]*)\\{", Pattern.DOTALL);
        Pattern nameAndParams = Pattern.compile("(\\w+)\\s*\\((.*)\\)\\s*$", Pattern.DOTALL);
        for (Path f : files) {
            String src = Files.readString(f).replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\n]*", " ");
            Matcher m = kernel.matcher(src);
            while (m.find()) {
                String head = m.group(1).replaceAll("(__launch_bounds__|__cluster_dims__)\\s*\\([^)]*\\)", " ").strip();
                Matcher np = nameAndParams.matcher(head);
                assertTrue(np.find(), f + ": cannot parse kernel declaration: " + head);
                List<Param> params = new ArrayList<>();
                for (String p : np.group(2).split(","))
                    if (!p.isBlank()) params.add(param(f.getFileName() + " " + np.group(1), p.strip().replaceAll("\\s+", " ")));
                assertTrue(out.put(np.group(1), params) == null, "kernel " + np.group(1) + " declared twice");
            }
        }
        assertFalse(out.isEmpty(), "no extern \"C\" __global__ kernels found under " + dir.toAbsolutePath());
        return out;
    }

    static Param param(String where, String decl) {
        boolean restrict = decl.contains("__restrict__");
        if (decl.contains("*")) return new Param(decl, Kind.POINTER, restrict);
        if (decl.contains("CUtensorMap")) return new Param(decl, Kind.TENSOR_MAP, false);
        String type = decl.substring(0, decl.lastIndexOf(' ')).replace("const ", "").strip();
        Kind k = switch (type) {
            case "long long", "unsigned long long" -> Kind.LONG;
            case "int", "unsigned int" -> Kind.INT;
            case "float" -> Kind.FLOAT;
            default -> throw new AssertionError(where + ": parameter '" + decl + "' has a type this check does not map"
                    + " to a Java argument (pointer, long long, int, float)");
        };
        return new Param(decl, k, false);
    }

    /** Every mismatch between one launch's arguments and its kernel's parameters. */
    static List<String> mismatches(Launch l) {
        List<Param> params = signatures.get(l.kernel());
        String at = "Kernels." + l.wrapper() + " -> " + l.kernel();
        if (params == null) return List.of(at + ": no such kernel in src/main/cuda");
        List<String> bad = new ArrayList<>();
        if (params.size() != l.args().length)
            bad.add(at + ": passes " + l.args().length + " arguments, the kernel takes " + params.size());
        for (int i = 0; i < Math.min(params.size(), l.args().length); i++) {
            Object a = l.args()[i];
            Kind want = params.get(i).kind();
            boolean ok = switch (a) {
                case null -> want == Kind.POINTER;
                case Long x -> want == Kind.POINTER || want == Kind.LONG;
                case Integer x -> want == Kind.INT;
                case Float x -> want == Kind.FLOAT;
                case byte[] x -> want == Kind.TENSOR_MAP && x.length == TensorMapEncoder.BYTES;
                default -> false;
            };
            if (!ok)
                bad.add(at + ": argument " + i + " is " + (a == null ? "null" : a.getClass().getSimpleName() + " (" + bytes(a)
                        + " bytes)") + " but parameter '" + params.get(i).decl() + "' needs " + javaType(want));
        }
        return bad;
    }

    static int bytes(Object a) { return a instanceof Long ? 8 : a instanceof byte[] b ? b.length : 4; }

    static String javaType(Kind k) {
        return switch (k) {
            case POINTER, LONG -> "Long (8 bytes)";
            case INT -> "Integer (4 bytes)";
            case FLOAT -> "Float (4 bytes)";
            case TENSOR_MAP -> "byte[] (the 128 bytes of DeviceRuntime.encodeTensorMap)";
        };
    }

    @Test void everyLaunchMatchesItsKernelSignature() {
        for (Problem p : List.of(SMALL, VIT_22B)) {
            List<String> bad = LaunchTable.record(p).stream().flatMap(l -> mismatches(l).stream()).toList();
            assertTrue(bad.isEmpty(), "wrapper/kernel argument mismatches:\n  " + String.join("\n  ", bad));
        }
    }

    @Test void everyKernelHasAWrapperAndEveryWrapperIsExercised() {
        List<Launch> launches = LaunchTable.record(SMALL);
        Set<String> launched = launches.stream().map(Launch::kernel).collect(Collectors.toCollection(TreeSet::new));
        Set<String> unwrapped = new TreeSet<>(signatures.keySet());
        unwrapped.removeAll(launched);
        assertTrue(unwrapped.isEmpty(), "kernels without a Java wrapper call in LaunchTable: " + unwrapped);
        Set<String> wrappers = new TreeSet<>();
        for (Method m : Kernels.class.getDeclaredMethods())
            if (Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers())) wrappers.add(m.getName());
        wrappers.removeAll(launches.stream().map(Launch::wrapper).collect(Collectors.toSet()));
        assertTrue(wrappers.isEmpty(), "public wrappers that LaunchTable.callEveryWrapper never calls: " + wrappers);
    }

    @Test void gridsStayInsideDeviceLimitsAtVit22bSizes() {
        for (Launch l : LaunchTable.record(VIT_22B)) {
            String at = "Kernels." + l.wrapper() + " -> " + l.kernel() + " grid " + l.grid()[0] + "x" + l.grid()[1] + "x" + l.grid()[2];
            assertTrue(l.grid()[0] >= 1 && l.grid()[1] >= 1 && l.grid()[2] >= 1, at + ": empty grid");
            assertTrue(l.grid()[1] <= 65535 && l.grid()[2] <= 65535, at + ": grid.y and grid.z stop at 65,535");
            assertTrue(l.threads() >= 32 && l.threads() <= 1024, at + ": " + l.threads() + " threads per block");
        }
    }

    @Test void attentionGridCoversEveryHeadAndRowTileOnX() {
        for (int batch : new int[] {1, 1365, 1366, 4096}) {
            Problem p = new Problem(batch, 224, 14, 3, 6144, 48, 24576, 1000);
            long heads = (long) batch * p.heads(), tiles = (p.tokens() + Kernels.ATTN_ROWS - 1) / Kernels.ATTN_ROWS;
            for (Launch l : LaunchTable.record(p))
                if (l.kernel().startsWith("attn_") && !l.wrapper().startsWith("flash")) {   // attention.cu's, both types
                    assertEquals(heads * tiles, l.grid()[0], l.kernel() + " at batch " + batch + ": grid.x = heads x row tiles");
                    assertEquals(1, l.grid()[1] * l.grid()[2], l.kernel() + " at batch " + batch + ": grid.y, grid.z");
                }
        }
    }

    /** The tensor-core attention's flat grids: heads x row tiles (x the dk/dv column split at hd 256). */
    @Test void flashAttentionGridsCoverEveryHeadAndTile() {
        for (int hd : FlashAttention.HEAD_DIMS)
            for (int n : new int[] {1, 197, 4096}) {
                LaunchTable.Recorder r = new LaunchTable.Recorder();
                Kernels k = new Kernels(r, null);
                FlashAttention.Shape sh = new FlashAttention.Shape(3, 5, n, n + 1, hd);
                long base = 0x7f00_0000_0000L;
                FlashAttention.Forward f = new FlashAttention.Forward(base, base + 0x1000_0000L, base + 0x2000_0000L,
                        base + 0x3000_0000L, 5L * hd, base + 0x4000_0000L);
                k.flashAttnFwd(sh, f);
                k.flashAttnBwd(sh, new FlashAttention.Backward(f, base + 0x5000_0000L, base + 0x6000_0000L, base + 0x7000_0000L,
                        base + 0x8000_0000L, base + 0x9000_0000L));
                Map<String, Launch> by = r.launches().stream().collect(Collectors.toMap(Launch::kernel, l -> l));
                long qTiles = (n + 63) / 64, kTiles = (n + 1 + 63) / 64, dTiles = (n + 7) / 8;
                String at = " at hd " + hd + ", n " + n;
                assertEquals(15 * qTiles, by.get("attn_fwd_bf16").grid()[0], "fwd" + at);
                assertEquals(15 * qTiles, by.get("attn_bwd_dq_bf16").grid()[0], "dq" + at);
                assertEquals(15 * kTiles * (hd == 256 ? 2 : 1), by.get("attn_bwd_dkdv_bf16").grid()[0], "dkdv" + at);
                assertEquals(15 * dTiles, by.get("attn_bwd_delta_bf16").grid()[0], "delta" + at);
                assertEquals(hd == 256 ? (64 + 4 * 32) * 256 * 2 : (64 + 4 * 64) * hd * 2, by.get("attn_fwd_bf16").sharedBytes(), "fwd smem" + at);
            }
    }

    /**
     * attn_bwd_wgmma: grid heads x 128-key blocks, three warpgroups, AWB_SMEM at the padded head dim (64
     * or 128; written out here); its dq add covers bh x nq x hd; hd 256 is refused (its accumulators
     * would not fit), and head dims that are not a multiple of 8 (TMA's rows).
     */
    @Test void wgmmaAttentionBackwardLaunches() {
        TensorMapCache maps = new TensorMapCache(LaunchTable.zeroTensorMaps());
        long base = 0x7f00_0000_0000L;
        for (int hd : new int[] {8, 40, 64, 72, 112, 128})
            for (int n : new int[] {1, 197, 4096}) {
                LaunchTable.Recorder r = new LaunchTable.Recorder();
                FlashAttention.Shape sh = new FlashAttention.Shape(3, 5, n, n + 1, hd);
                FlashAttention.Forward f = new FlashAttention.Forward(base, base + 0x1000_0000L, base + 0x2000_0000L,
                        base + 0x3000_0000L, 5L * hd, base + 0x4000_0000L);
                new Kernels(r, null).flashAttnBwdWgmma(maps, sh, new FlashAttention.Backward(f, base + 0x5000_0000L,
                        base + 0x6000_0000L, base + 0x7000_0000L, base + 0x8000_0000L, base + 0x9000_0000L), base + 0xa000_0000L);
                Map<String, Launch> by = r.launches().stream().collect(Collectors.toMap(Launch::kernel, l -> l));
                String at = " at hd " + hd + ", n " + n;
                Launch w = by.get("attn_bwd_wgmma");
                assertEquals(15 * ((n + 1 + 127) / 128), w.grid()[0], "grid" + at);
                assertEquals(384, w.block()[0], "threads" + at);
                assertEquals(hd <= 64 ? 135_168 : 200_704, w.sharedBytes(), "smem" + at);
                assertEquals(15L * n * hd, by.get("attn_bwd_dq_add").args()[2], "dq add's n" + at);
            }
        FlashAttention.Forward ok = new FlashAttention.Forward(base, base, base, base, 512, base);
        for (int hd : new int[] {256, 100, 136}) {
            String m = assertThrows(IllegalArgumentException.class, () -> new Kernels(new LaunchTable.Recorder(), null)
                    .flashAttnBwdWgmma(maps, new FlashAttention.Shape(1, 2, 8, 8, hd), new FlashAttention.Backward(ok, base, base,
                            base, base, base), base)).getMessage();
            assertTrue(m.contains("head_dim a multiple of 8 up to 128"), m);
        }
    }

    /**
     * attn_fwd_wgmma: grid heads x 128-query blocks, three warpgroups, ATW_SMEM at the padded head dim
     * (64, 128, 256; written out here) for every head dim that is a multiple of 8 up to 256; others refused.
     */
    @Test void wgmmaAttentionForwardLaunches() {
        TensorMapCache maps = new TensorMapCache(LaunchTable.zeroTensorMaps());
        long base = 0x7f00_0000_0000L;
        for (int hd : new int[] {8, 64, 72, 112, 128, 136, 200, 256}) {
            LaunchTable.Recorder r = new LaunchTable.Recorder();
            FlashAttention.Shape sh = new FlashAttention.Shape(3, 5, 197, 198, hd);
            new Kernels(r, null).flashAttnFwdWgmma(maps, sh, new FlashAttention.Forward(base, base + 0x1000_0000L,
                    base + 0x2000_0000L, base + 0x3000_0000L, 5L * hd, base + 0x4000_0000L));
            Launch w = r.launches().getFirst();
            assertEquals("attn_fwd_wgmma", w.kernel());
            assertEquals(15 * 2, w.grid()[0], "grid at hd " + hd);
            assertEquals(384, w.block()[0], "threads at hd " + hd);
            // q [128][p] + 2 stages x (K, V) [keys][p] bf16 + 9 barriers + 1 KB: p 64, 128 (128 keys); 256 (64 keys)
            assertEquals(hd <= 64 ? 83_016 : hd <= 128 ? 164_936 : 197_704, w.sharedBytes(), "smem at hd " + hd);
        }
        FlashAttention.Forward ok = new FlashAttention.Forward(base, base, base, base, 2048, base);
        for (int hd : new int[] {264, 100, 4}) {
            String m = assertThrows(IllegalArgumentException.class, () -> new Kernels(new LaunchTable.Recorder(), null)
                    .flashAttnFwdWgmma(maps, new FlashAttention.Shape(1, 2, 8, 8, hd), ok)).getMessage();
            assertTrue(m.contains("head_dim must be a multiple of 8 up to 256"), m);
        }
    }

    @Test void flashAttentionRefusesWhatTheKernelsCannotDo() {
        Kernels k = new Kernels(new LaunchTable.Recorder(), null);
        long base = 0x7f00_0000_0000L;
        FlashAttention.Forward ok = new FlashAttention.Forward(base, base, base, base, 256, base);
        String m = assertThrows(IllegalArgumentException.class,
                () -> k.flashAttnFwd(new FlashAttention.Shape(1, 2, 8, 8, 96), ok)).getMessage();
        assertTrue(m.contains("head_dim must be one of [64, 128, 256]"), m);
        m = assertThrows(IllegalArgumentException.class,
                () -> k.flashAttnFwd(new FlashAttention.Shape(1, 2, 8, 8, 128), new FlashAttention.Forward(base, base, base, base, 260, base))).getMessage();
        assertTrue(m.contains("ldo=260") && m.contains("multiple of 8"), m);
        m = assertThrows(IllegalArgumentException.class,
                () -> k.flashAttnFwd(new FlashAttention.Shape(1, 4, 8, 8, 128), ok)).getMessage();
        assertTrue(m.contains("at least heads x hd = 512"), m);
        m = assertThrows(IllegalArgumentException.class,
                () -> k.flashAttnFwd(new FlashAttention.Shape(1, 2, 8, 8, 128), new FlashAttention.Forward(base + 2, base, base, base, 256, base))).getMessage();
        assertTrue(m.contains("16-byte aligned"), m);
        m = assertThrows(IllegalArgumentException.class,
                () -> k.flashAttnFwd(new FlashAttention.Shape(1, 2, 8, 0, 128), ok)).getMessage();
        assertTrue(m.contains("nk >= 1"), m);
    }

    /**
     * The Java side's tile sizes (grids, threads, shared memory) are the ones the kernels are
     * compiled with: a change on one side only would launch too few blocks or overrun shared memory.
     */
    @Test void tileSizesInJavaMatchTheCudaDefines() throws IOException {
        Map<String, Integer> want = new TreeMap<>(Map.of("attention.cu ROWS", Kernels.ATTN_ROWS, "attention.cu TILE", Kernels.ATTN_TILE,
                "attention.cu MAXC", Kernels.MAX_HEAD_DIM / 32, "gemm.cu BM", Kernels.GEMM_TILE_M,
                "gemm.cu BN", Kernels.GEMM_TILE_N));
        want.putAll(Map.of("gemm_bf16_mma.cu MMA_BM", Kernels.MMA_TILE_M, "gemm_bf16_mma.cu MMA_BN", Kernels.MMA_TILE_N,
                "gemm_bf16_mma.cu MMA_BK", Kernels.MMA_TILE_K, "gemm_bf16_mma.cu MMA_STAGES", Kernels.MMA_STAGES,
                "gemm_bf16_mma.cu MMA_THREADS", Kernels.MMA_THREADS));
        for (MmaGemm.Form f : MmaGemm.Form.values()) want.put("gemm_common.cuh MMA_" + f, f.ordinal());
        want.putAll(Map.of("gemm_bf16_wgmma.cu WG_BM", Kernels.WGMMA_TILE_M, "gemm_bf16_wgmma.cu WG_BN", Kernels.WGMMA_TILE_N,
                "gemm_bf16_wgmma.cu WG_BK", Kernels.WGMMA_TILE_K, "gemm_bf16_wgmma.cu WG_STAGES", Kernels.WGMMA_STAGES,
                "gemm_bf16_wgmma.cu WG_THREADS", Kernels.WGMMA_THREADS, "gemm_bf16_wgmma.cu WG_BOX", Kernels.WGMMA_BOX,
                "gemm_bf16_wgmma.cu WG_CLUSTER", Kernels.WGMMA_CLUSTER, "gemm_bf16_wgmma.cu WG_QK_STAGES", Kernels.WGMMA_QK_STAGES,
                "gemm_bf16_wgmma.cu WG_EPI_ROWS", Kernels.WGMMA_EPI_ROWS, "gemm_bf16_wgmma.cu WG_EPI_ROW_BYTES", Kernels.WGMMA_EPI_ROW_BYTES));
        want.put("gemm_bf16_wgmma.cu WG_EPI_PRIV_BYTES", Kernels.WGMMA_EPI_PRIV_BYTES);
        want.putAll(Map.of("attention_bf16.cu ATT_WARPS", FlashAttention.THREADS / 32, "attention_bf16.cu ATT_BQ", FlashAttention.QUERY_ROWS,
                "attention_bf16.cu ATT_BKV", FlashAttention.KEY_ROWS,
                "attention_bf16.cu ATT_FWD_KEYS", FlashAttention.FWD_KEYS, "attention_bf16.cu ATT_FWD_KEYS_256", FlashAttention.FWD_KEYS_256,
                "attention_bf16.cu ATT_BWD_TILE", FlashAttention.BWD_TILE, "attention_bf16.cu ATT_BWD_TILE_WIDE", FlashAttention.BWD_TILE_WIDE,
                "attention_bf16.cu ATT_DKDV_COLS", FlashAttention.DKDV_COLS));
        want.putAll(Map.of("attention_wgmma.cu ATW_BQ", FlashAttention.WGMMA_QUERY_ROWS, "attention_wgmma.cu ATW_THREADS",
                FlashAttention.WGMMA_THREADS, "attention_wgmma.cu ATW_STAGES", FlashAttention.WGMMA_STAGES,
                "attention_wgmma.cu ATW_BOX_COLS", FlashAttention.WGMMA_BOX_COLS, "attention_wgmma.cu ATW_KEYS_NARROW",
                FlashAttention.WGMMA_KEYS_NARROW, "attention_wgmma.cu ATW_KEYS_WIDE", FlashAttention.WGMMA_KEYS_WIDE));
        want.putAll(Map.of("attention_wgmma_bwd.cu AWB_BK", FlashAttention.WGMMA_BWD_KEYS,
                "attention_wgmma_bwd.cu AWB_BQ", FlashAttention.WGMMA_BWD_QUERIES,
                "attention_wgmma_bwd.cu AWB_STAGES", FlashAttention.WGMMA_BWD_STAGES,
                "attention_wgmma_bwd.cu AWB_THREADS", FlashAttention.WGMMA_BWD_THREADS,
                "attention_wgmma_bwd.cu AWB_DQ_COLS", FlashAttention.WGMMA_BWD_DQ_COLS,
                "attention_common.cuh ATT_WGMMA_HD_STEP", FlashAttention.WGMMA_HEAD_DIM_STEP,
                "attention_wgmma.cu ATW_HD_MAX", FlashAttention.WGMMA_MAX_HEAD_DIM,
                "attention_wgmma_bwd.cu AWB_HD_MAX", FlashAttention.WGMMA_BWD_MAX_HEAD_DIM));
        want.putAll(Map.of("gemm_common.cuh MMA_GELU_NONE", MmaGemm.GELU_NONE, "gemm_common.cuh MMA_GELU_FWD",
                MmaGemm.GELU_FORWARD, "gemm_common.cuh MMA_GELU_BWD", MmaGemm.GELU_BACKWARD));
        for (var e : new TreeMap<>(want).entrySet()) {
            String[] fileAndName = e.getKey().split(" ");
            String src = Files.readString(Path.of("src/main/cuda", fileAndName[0]));
            Matcher m = Pattern.compile("(?m)^#define\\s+" + fileAndName[1] + "\\s+(\\d+)").matcher(src);
            assertTrue(m.find(), e.getKey() + ": no #define with a number");
            assertEquals(e.getValue().intValue(), Integer.parseInt(m.group(1)), e.getKey() + " vs Kernels");
        }
        Matcher m = Pattern.compile("__launch_bounds__\\((\\d+)\\)").matcher(Files.readString(Path.of("src/main/cuda", "gemm.cu")));
        assertTrue(m.find(), "gemm.cu: no __launch_bounds__");
        assertEquals(Kernels.GEMM_THREADS, Integer.parseInt(m.group(1)), "gemm.cu __launch_bounds__ vs Kernels.GEMM_THREADS");
    }

    /** The GEMM epilogues add a residual that may be the output itself (out = x + ...): no restrict on it. */
    @Test void residualsThatMayAliasTheOutputAreNotRestrict() {
        for (String k : List.of("gemm_f32", "gemm_bf16_mma", "gemm_bf16_wgmma", "gemm_epilogue")) {
            List<Param> res = signatures.get(k).stream().filter(p -> p.decl().endsWith(" res")).toList();
            assertEquals(1, res.size(), k + ": one parameter named res");
            assertFalse(res.get(0).restrict(), k + ": res may alias C, so it must not be __restrict__: " + res.get(0).decl());
        }
    }
}
