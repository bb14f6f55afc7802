"""The tensor-core flash attention (kernels/src/main/cuda/attention_bf16.cu) on the GPU, and on a
Hopper (compute capability 9.0) the wgmma + TMA forward (attention_wgmma.cu, FlashAttention-3's
structure), beside PyTorch's scaled_dot_product_attention (bf16, the flash backend) in the same process.

1. Checks: for hd 64, 128, 256 on shapes crossing the tiles (B*H > 1), attn_fwd_bf16's out and lse
   and the backward's dq, dk, dv (fed the kernel's own out and lse; bf16, accumulated onto random
   values) against float64 on the device, element-wise with the bounds of docs/DESIGN.md (the
   emulator tests' formulas, vectorised; the gradients' own rounding adds 2^-8 |want|). On a Hopper
   the same checks again with attn_fwd_wgmma's out and lse (the backward then runs on those).
2. Times forward and backward (delta + dq + dkdv) at hd 128 with N 256 and 1024, and ViT-L's
   N 197 x hd 64, 16 heads, beside SDPA. TFLOP/s count the useful work as FlashAttention-2 does:
   forward 4 B H N^2 hd, backward 10 B H N^2 hd (our backward computes 14: S and dP twice). On a
   Hopper also attn_fwd_wgmma's forward (issue 11's target: >= 500 TFLOP/s at hd 128, N 256 and 1024).
3. On a Hopper: the same checks and timings of the wgmma backward (attention_wgmma_bwd.cu, tensor maps
   encoded here through cuTensorMapEncodeTiled) beside the mma.sync backward and SDPA's (wgmma_backward).
4. On a Hopper: head dims that are not a multiple of 64, which only the wgmma kernels take (run at the
   padded head dim, TMA zero-filling the columns past hd): the checks at hd 112 (ViT-e's) and 40, and
   ViT-e's attention (N 256, 16 heads, hd 112) timed forward and backward beside SDPA (padded_head_dims).

The kernels come from the fatbin inside the kernels jar (.device/jars, packed by prepare.sh) or a
path given with --fatbin, loaded with the CUDA driver API through ctypes into PyTorch's context and
launched on its current stream: no Java on this path. Launch shapes mirror FlashAttention.java.

Usage: python3 flash_attn.py [--out FILE.json] [--fatbin PATH] [--reps 20] [--dry-run]
Exit status 1 when a check fails (the timings still print). --dry-run prints the plan and exits
before importing PyTorch (a check of this script where there is no GPU).
"""
import argparse, ctypes, glob, json, math, sys, zipfile

torch = F = None   # imported in main(), after --dry-run

# attention_bf16.cu's launch constants (FlashAttention.java mirrors them too)
THREADS, QUERY_ROWS, KEY_ROWS, DKDV_COLS = 128, 64, 64, 128
DELTA_ROWS = 8   # attention.cu's ROWS: its attn_bwd_delta_bf16 serves this backward
def fwd_keys(hd): return 64 if hd <= 128 else 32
def bwd_tile(hd): return 32 if hd <= 64 else 16
def smem_fwd(hd): return (QUERY_ROWS + 4 * fwd_keys(hd)) * hd * 2
def smem_dq(hd): return (2 * QUERY_ROWS + 4 * bwd_tile(hd)) * hd * 2
def smem_dkdv(hd): return (2 * KEY_ROWS + 4 * bwd_tile(hd)) * hd * 2 + 4 * bwd_tile(hd) * 4
def cdiv(a, b): return (a + b - 1) // b

# attention_wgmma.cu's launch constants (FlashAttention.java's WGMMA_*): 128 queries per block, a
# producer and two consumer warpgroups, 128 keys per tile at hd <= 128 (64 at hd 256), 2 K/V stages
WG_QUERY_ROWS, WG_THREADS, WG_STAGES, WG_BOX_COLS = 128, 384, 2, 64
# any hd that is a multiple of 8 runs at the padded head dim (FlashAttention.wgmmaPaddedHeadDim)
def wg_pad(hd): return 64 if hd <= 64 else 128 if hd <= 128 else 256
def wg_keys(hd): return 128 if wg_pad(hd) <= 128 else 64
def smem_wgmma(hd):
    p = wg_pad(hd)
    return WG_QUERY_ROWS * p * 2 + 2 * WG_STAGES * wg_keys(hd) * p * 2 + 8 * (1 + 4 * WG_STAGES) + 1024
# cuTensorMapEncodeTiled's enums (cuda.h), as TensorMapEncoder.java passes them
TMAP_BFLOAT16, TMAP_FLOAT32, TMAP_SWIZZLE_128B, TMAP_L2_256B, TMAP_OOB_ZERO = 9, 7, 3, 3, 0

CHECK_SHAPES = [(2, 3, 197, 197, 64), (1, 2, 1000, 1031, 64), (2, 2, 65, 300, 128),
                (1, 3, 257, 129, 128), (2, 1, 130, 97, 256), (1, 2, 17, 513, 256)]
BENCH_SHAPES = [("hd128 N256", 64, 16, 256, 128), ("hd128 N1024", 16, 16, 1024, 128), ("ViT-L N197 hd64", 64, 16, 197, 64)]

U, FU = 2.0 ** -8, 2.0 ** -23   # bf16 rounding, fp32 accumulation (with 2x to spare)


class Kernels:
    def __init__(self, fatbin):
        torch.zeros(1, device="cuda")   # PyTorch makes the primary context current
        self.hopper = torch.cuda.get_device_capability() == (9, 0)   # attn_fwd_wgmma is sm_90a only
        self.cu = ctypes.CDLL("libcuda.so.1")
        self.cu.cuInit(0)
        ctx = ctypes.c_void_p()
        self._ok(self.cu.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
        if not ctx.value:
            raise SystemExit("no current CUDA context after PyTorch's initialisation")
        self.mod = ctypes.c_void_p()
        self.image = ctypes.create_string_buffer(fatbin, len(fatbin))
        self._ok(self.cu.cuModuleLoadData(ctypes.byref(self.mod), self.image), "cuModuleLoadData")
        self.fn = {}
        kernels = [("attn_fwd_bf16", smem_fwd(256)), ("attn_bwd_delta_bf16", 0),
                   ("attn_bwd_dq_bf16", smem_dq(256)), ("attn_bwd_dkdv_bf16", smem_dkdv(256))]
        if self.hopper:
            kernels.append(("attn_fwd_wgmma", smem_wgmma(256)))
        for name, smem in kernels:
            f = ctypes.c_void_p()
            self._ok(self.cu.cuModuleGetFunction(ctypes.byref(f), self.mod, name.encode()), name)
            # CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8: over 48 KB needs the opt-in
            self._ok(self.cu.cuFuncSetAttribute(f, 8, ctypes.c_int(smem)), name + " shared memory opt-in")
            self.fn[name] = f

    def _ok(self, rc, what):
        if rc != 0:
            s = ctypes.c_char_p()
            self.cu.cuGetErrorString(rc, ctypes.byref(s))
            raise SystemExit(f"{what}: CUDA error {rc} {s.value.decode() if s.value else ''}")

    def launch(self, name, grid, block, smem, *args):
        # args: ('p', tensor) pointer, ('l', int) long long, ('i', int) int, ('f', float) float,
        # ('m', 128-byte buffer) a CUtensorMap by value
        vals = []
        for kind, a in args:
            if kind == "p": vals.append(ctypes.c_void_p(a.data_ptr()))
            elif kind == "m": vals.append(a)
            elif kind == "l": vals.append(ctypes.c_longlong(a))
            elif kind == "i": vals.append(ctypes.c_int(a))
            else: vals.append(ctypes.c_float(a))
        ptrs = (ctypes.c_void_p * len(vals))(*[ctypes.addressof(v) for v in vals])
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        self._ok(self.cu.cuLaunchKernel(self.fn[name], grid, 1, 1, block, 1, 1, smem, stream, ptrs, None), name)

    # q, k, v (B, H, N, hd) bf16 contiguous; out (B*Nq, ldo) bf16; lse (B, H, Nq) fp32
    def fwd(self, q, k, v, out, ldo, lse):
        B, H, Nq, hd = q.shape
        Nk = k.shape[2]
        self.launch("attn_fwd_bf16", B * H * cdiv(Nq, QUERY_ROWS), THREADS, smem_fwd(hd), ("p", out), ("l", ldo),
                    ("p", lse), ("p", q), ("p", k), ("p", v), ("i", H), ("i", Nq), ("i", Nk), ("i", hd), ("f", 1 / math.sqrt(hd)))

    def tensor_map(self, t, rows, hd, box_rows, ld=None, fp32=False):
        """The map Kernels.flashAttn*Wgmma build: t's rows x hd bf16 (row stride ld elements, default hd), boxes of
        box_rows x 64, 128B swizzle; fp32: rows x hd fp32 in boxes of box_rows x 32 (128 bytes, the dq scratch's)."""
        m = (ctypes.c_char * 192)()   # 128 bytes at a 64-byte aligned address inside
        at = (ctypes.addressof(m) + 63) // 64 * 64
        elem = 4 if fp32 else 2
        dims, strides = (ctypes.c_uint64 * 2)(hd, rows), (ctypes.c_uint64 * 1)((ld or hd) * elem)
        box, estr = (ctypes.c_uint32 * 2)(128 // elem, box_rows), (ctypes.c_uint32 * 2)(1, 1)
        self._ok(self.cu.cuTensorMapEncodeTiled(ctypes.c_void_p(at), TMAP_FLOAT32 if fp32 else TMAP_BFLOAT16, 2,
                                                ctypes.c_void_p(t.data_ptr()), dims, strides,
                                                box, estr, 0, TMAP_SWIZZLE_128B, TMAP_L2_256B, TMAP_OOB_ZERO), "cuTensorMapEncodeTiled")
        return (ctypes.c_char * 128).from_buffer_copy(ctypes.string_at(at, 128))   # the argument's bytes (the driver copies them)

    # attn_fwd_wgmma: fwd's computation on Hopper; q, k, v through tensor maps over their (B*H*N, hd) rows
    def fwd_wgmma(self, q, k, v, out, ldo, lse, maps=None):
        B, H, Nq, hd = q.shape
        Nk = k.shape[2]
        maps = maps or self.wgmma_maps(q, k, v)
        self.launch("attn_fwd_wgmma", B * H * cdiv(Nq, WG_QUERY_ROWS), WG_THREADS, smem_wgmma(hd), ("p", out), ("l", ldo), ("p", lse),
                    ("m", maps[0]), ("m", maps[1]), ("m", maps[2]), ("i", H), ("i", Nq), ("i", Nk), ("i", hd),
                    ("f", 1 / math.sqrt(hd)))

    def wgmma_maps(self, q, k, v):
        B, H, Nq, hd = q.shape
        Nk = k.shape[2]
        return (self.tensor_map(q, B * H * Nq, hd, WG_QUERY_ROWS), self.tensor_map(k, B * H * Nk, hd, wg_keys(hd)),
                self.tensor_map(v, B * H * Nk, hd, wg_keys(hd)))

    def bwd(self, q, k, v, out, dout, ldo, lse, delta, dq, dk, dv):
        B, H, Nq, hd = q.shape
        Nk, s = k.shape[2], 1 / math.sqrt(hd)
        self.launch("attn_bwd_delta_bf16", B * H * cdiv(Nq, DELTA_ROWS), 32 * DELTA_ROWS, 0, ("p", delta), ("p", out),
                    ("p", dout), ("l", ldo), ("i", H), ("i", Nq), ("i", hd))
        common = (("p", dout), ("l", ldo), ("p", lse), ("p", delta), ("p", q), ("p", k), ("p", v),
                  ("i", H), ("i", Nq), ("i", Nk), ("i", hd), ("f", s))
        self.launch("attn_bwd_dq_bf16", B * H * cdiv(Nq, QUERY_ROWS), THREADS, smem_dq(hd), ("p", dq), *common)
        self.launch("attn_bwd_dkdv_bf16", B * H * cdiv(Nk, KEY_ROWS) * (hd // min(hd, DKDV_COLS)), THREADS, smem_dkdv(hd),
                    ("p", dk), ("p", dv), *common)


def find_fatbin(path):
    if path:
        return open(path, "rb").read()
    for p in ["kernels/target/classes/vit22b/kernels/vit22b.fatbin"]:
        try:
            return open(p, "rb").read()
        except OSError:
            pass
    for jar in sorted(glob.glob(".device/jars/*.jar")):
        with zipfile.ZipFile(jar) as z:
            if "vit22b/kernels/vit22b.fatbin" in z.namelist():
                return z.read("vit22b/kernels/vit22b.fatbin")
    raise SystemExit("no vit22b.fatbin: not in kernels/target/classes nor in .device/jars/*.jar (run bench/gpu/prepare.sh)")


def tensors(B, H, Nq, Nk, hd, gen):
    dev = "cuda"
    q = ((torch.rand(B, H, Nq, hd, generator=gen, device=dev) * 4 - 2)).bfloat16()
    k = ((torch.rand(B, H, Nk, hd, generator=gen, device=dev) * 4 - 2)).bfloat16()
    v = ((torch.rand(B, H, Nk, hd, generator=gen, device=dev) * 2 - 1)).bfloat16()
    ldo = H * hd + 8   # a padded row: the padding must stay untouched
    dout = ((torch.rand(B * Nq, ldo, generator=gen, device=dev) * 2 - 1)).bfloat16()
    return q, k, v, ldo, dout


def check(K, B, H, Nq, Nk, hd, gen, wgmma=False, bwd=None):
    """Runs fwd (attn_fwd_wgmma when wgmma) and bwd (K.bwd, or `bwd` with its signature) on one shape; returns
    {name: (elements over the bound, worst excess ratio)}."""
    q, k, v, ldo, dout = tensors(B, H, Nq, Nk, hd, gen)
    out = torch.full((B * Nq, ldo), float("nan"), dtype=torch.bfloat16, device="cuda")
    lse = torch.full((B, H, Nq), float("nan"), device="cuda")
    (K.fwd_wgmma if wgmma else K.fwd)(q, k, v, out, ldo, lse)
    delta = torch.empty(B, H, Nq, device="cuda")
    # bf16 gradients, accumulated (+=): start from random values
    dq0 = (torch.rand(B, H, Nq, hd, generator=gen, device="cuda") * 2 - 1).bfloat16()
    dk0 = (torch.rand(B, H, Nk, hd, generator=gen, device="cuda") * 2 - 1).bfloat16()
    dv0 = (torch.rand(B, H, Nk, hd, generator=gen, device="cuda") * 2 - 1).bfloat16()
    dq, dk, dv = dq0.clone(), dk0.clone(), dv0.clone()
    (bwd or K.bwd)(q, k, v, out, dout, ldo, lse, delta, dq, dk, dv)
    torch.cuda.synchronize()

    d = torch.float64
    Q, Kt, V, s = q.to(d), k.to(d), v.to(d), 1 / math.sqrt(hd)
    dO = dout[:, :H * hd].to(d).reshape(B, Nq, H, hd).transpose(1, 2)           # (B, H, Nq, hd)
    S = Q @ Kt.transpose(-1, -2) * s
    L = torch.logsumexp(S, -1)
    P = torch.exp(S - L[..., None])
    O = P @ V
    e = (hd + 8) * FU * s * (Q.abs() @ Kt.abs().transpose(-1, -2)) + 2.0 ** -21 * (S.abs() + L.abs()[..., None] + 1)
    em = e.amax(-1)
    out_tol = (2 * U + 4 * em[..., None] + (Nk + 8) * FU) * (P @ V.abs()) + U * O.abs()
    lse_tol = 2 * em + (Nk + 8) * FU + 2.0 ** -20 * (L.abs() + 1)
    got_o = out[:, :H * hd].to(d).reshape(B, Nq, H, hd).transpose(1, 2)
    res = {}

    def over(name, got, want, tol):
        ex = ((got - want).abs() / tol).nan_to_num(nan=float("inf"))
        res[name] = (int((ex > 1).sum()), float(ex.max()))
    over("out", got_o, O, out_tol)
    over("lse", lse.to(d), L, lse_tol)
    res["out padding untouched"] = (int((~out[:, H * hd:].isnan()).sum()), 0.0)
    # backward: from the kernel's own out and lse (their bounds enter, as in FlashAttentionEmuTest)
    dP = dO @ V.transpose(-1, -2)
    dl = (O * dO).sum(-1)
    dl_tol = (dO.abs() * out_tol).sum(-1) + 1.01 * (hd + 8) * FU * (O * dO).abs().sum(-1)
    eP = e + 1.01 * lse_tol[..., None]
    dS = P * (dP - dl[..., None])
    E = U * dS.abs() + P * (eP * ((dP - dl[..., None]).abs() + dl_tol[..., None]) + (hd + 8) * FU * (dO.abs() @ V.abs().transpose(-1, -2))
                            + dl_tol[..., None] + FU * dl.abs()[..., None])
    def grad(name, got, start, want, tol):   # start + want, rounded to bf16 once
        w = start.to(d) + want
        over(name, got.to(d), w, tol + U * w.abs())
    grad("dq", dq, dq0, s * (dS @ Kt), s * ((2 * E + (Nk + 8) * FU * dS.abs()) @ Kt.abs()))
    grad("dk", dk, dk0, s * (dS.transpose(-1, -2) @ Q), s * ((2 * E + (Nq + 8) * FU * dS.abs()).transpose(-1, -2) @ Q.abs()))
    grad("dv", dv, dv0, P.transpose(-1, -2) @ dO, ((2 * (U + eP) + (Nq + 8) * FU) * P).transpose(-1, -2) @ dO.abs())
    return res


# attention_wgmma_bwd.cu's launch constants (FlashAttention.WGMMA_BWD_* mirror them)
WB_KEYS, WB_QUERIES, WB_STAGES, WB_THREADS = 128, 64, 2, 384
def smem_wgmma_bwd(hd):
    p = wg_pad(hd)   # hd <= 128: 64 or 128
    return 2 * WB_KEYS * p * 2 + 2 * WB_KEYS * WB_QUERIES * 2 + 2 * WB_QUERIES * 64 * 4 + WB_STAGES * (2 * WB_QUERIES * p * 2 + 1024) + 2048


class WgmmaBackward:
    """attn_bwd_wgmma + attn_bwd_dq_add (Hopper only) through K's module, with the tensor maps
    Kernels.flashAttnBwdWgmma builds; K.bwd's signature."""
    def __init__(self, K):
        self.K, self.acc = K, None
        for name, smem in (("attn_bwd_wgmma", smem_wgmma_bwd(128)), ("attn_bwd_dq_add", 0)):
            f = ctypes.c_void_p()
            K._ok(K.cu.cuModuleGetFunction(ctypes.byref(f), K.mod, name.encode()), name)
            K._ok(K.cu.cuFuncSetAttribute(f, 8, ctypes.c_int(smem)), name + " shared memory opt-in")
            K.fn[name] = f

    def __call__(self, q, k, v, out, dout, ldo, lse, delta, dq, dk, dv):
        K = self.K
        B, H, Nq, hd = q.shape
        Nk, s = k.shape[2], 1 / math.sqrt(hd)
        K.launch("attn_bwd_delta_bf16", B * H * cdiv(Nq, DELTA_ROWS), 32 * DELTA_ROWS, 0, ("p", delta), ("p", out),
                 ("p", dout), ("l", ldo), ("i", H), ("i", Nq), ("i", hd))
        if self.acc is None or self.acc.numel() < dq.numel():
            self.acc = torch.empty(dq.numel(), device="cuda")
        self.acc.zero_()
        K.launch("attn_bwd_wgmma", B * H * cdiv(Nk, WB_KEYS), WB_THREADS, smem_wgmma_bwd(hd),
                 ("m", K.tensor_map(q, B * H * Nq, hd, WB_QUERIES)), ("m", K.tensor_map(k, B * H * Nk, hd, WB_KEYS)),
                 ("m", K.tensor_map(v, B * H * Nk, hd, WB_KEYS)), ("m", K.tensor_map(dout, B * Nq, H * hd, WB_QUERIES, ld=ldo)),
                 ("m", K.tensor_map(self.acc, B * H * Nq, hd, WB_QUERIES, fp32=True)), ("p", dk), ("p", dv), ("p", lse),
                 ("p", delta), ("i", H), ("i", Nq), ("i", Nk), ("i", hd), ("f", s))
        n = dq.numel()
        K.launch("attn_bwd_dq_add", min(cdiv(n, 256), 65535), 256, 0, ("p", dq), ("p", self.acc), ("l", n), ("f", s))


def wgmma_backward(K, reps, gen):
    """The Hopper backward (attention_wgmma_bwd.cu): checks on tile-crossing shapes, then times it beside
    the mma.sync backward and SDPA's backward; returns (failed, rows). Needs compute capability 9.0."""
    if not K.hopper:
        print("wgmma backward: not a Hopper GPU, skipped")
        return False, []
    W, failed = WgmmaBackward(K), False
    for (B, H, Nq, Nk, hd) in [sh for sh in CHECK_SHAPES if sh[4] <= 128]:   # hd 64, 128: the kernel's head dims
        res = {n: r for n, r in check(K, B, H, Nq, Nk, hd, gen, bwd=W).items() if n in ("dq", "dk", "dv")}
        bad = {n: r for n, r in res.items() if r[0]}
        failed |= bool(bad)
        print(f"check wgmma bwd B={B} H={H} Nq={Nq} Nk={Nk} hd={hd}: {'MISMATCH ' + str(bad) if bad else 'ok'}"
              f" (worst error / bound {max(r[1] for r in res.values()):.3f})")
    rows = []
    for name, B, H, N, hd in BENCH_SHAPES:
        q, k, v, _, _ = tensors(B, H, N, N, hd, gen)
        ldo = H * hd
        out = torch.empty(B * N, ldo, dtype=torch.bfloat16, device="cuda")
        lse, delta = torch.empty(B, H, N, device="cuda"), torch.empty(B, H, N, device="cuda")
        K.fwd(q, k, v, out, ldo, lse)
        dout = torch.rand_like(out) - 0.5
        dq, dk, dv = (torch.zeros(B, H, N, hd, dtype=torch.bfloat16, device="cuda") for _ in range(3))
        t_w = timed(lambda: W(q, k, v, out, dout, ldo, lse, delta, dq, dk, dv), reps)
        t_m = timed(lambda: K.bwd(q, k, v, out, dout, ldo, lse, delta, dq, dk, dv), reps)
        _, t_s = sdpa_times(name, q, k, v, dout, reps)
        f = 10.0 * B * H * N * N * hd
        rows.append(dict(name=name, B=B, H=H, N=N, hd=hd, wgmma_bwd_ms=t_w * 1e3, wgmma_bwd_tflops=f / t_w / 1e12,
                         mma_bwd_tflops=f / t_m / 1e12, sdpa_bwd_tflops=f / t_s / 1e12))
        r = rows[-1]
        print(f"wgmma bwd {name:18} {r['wgmma_bwd_tflops']:7.1f} TFLOP/s  (mma.sync bwd {r['mma_bwd_tflops']:.1f}, "
              f"sdpa bwd {r['sdpa_bwd_tflops']:.1f}; 10BHN^2hd)")
    return failed, rows


# Head dims that are not a multiple of 64 (the wgmma kernels only): checks crossing the tiles, B*H > 1 (a padded
# dout box reads the next head's columns), and ViT-e's attention (224 px, patch 14: 256 tokens; 16 heads of 112)
PADDED_CHECK_SHAPES = [(2, 3, 197, 257, 112), (1, 2, 130, 70, 40)]
PADDED_BENCH_SHAPES = [("ViT-e N256 hd112", 32, 16, 256, 112)]


def padded_head_dims(K, reps, gen):
    """Section 4: attn_fwd_wgmma + attn_bwd_wgmma at head dims that are not a multiple of 64, checked, then
    timed beside SDPA; returns (failed, rows). Needs compute capability 9.0."""
    if not K.hopper:
        print("padded head dims: not a Hopper GPU, skipped")
        return False, []
    W, failed = WgmmaBackward(K), False
    for (B, H, Nq, Nk, hd) in PADDED_CHECK_SHAPES:
        res = check(K, B, H, Nq, Nk, hd, gen, wgmma=True, bwd=W)
        bad = {n: r for n, r in res.items() if r[0]}
        failed |= bool(bad)
        print(f"check wgmma fwd + bwd B={B} H={H} Nq={Nq} Nk={Nk} hd={hd} (padded to {wg_pad(hd)}): "
              f"{'MISMATCH ' + str(bad) if bad else 'ok'} (worst error / bound {max(r[1] for r in res.values()):.3f})")
    rows = []
    for name, B, H, N, hd in PADDED_BENCH_SHAPES:
        q, k, v, _, _ = tensors(B, H, N, N, hd, gen)
        ldo = H * hd
        out = torch.empty(B * N, ldo, dtype=torch.bfloat16, device="cuda")
        dout = torch.rand_like(out) - 0.5
        lse, delta = torch.empty(B, H, N, device="cuda"), torch.empty(B, H, N, device="cuda")
        dq, dk, dv = (torch.zeros(B, H, N, hd, dtype=torch.bfloat16, device="cuda") for _ in range(3))
        maps = K.wgmma_maps(q, k, v)
        t_f = timed(lambda: K.fwd_wgmma(q, k, v, out, ldo, lse, maps), reps)
        t_b = timed(lambda: W(q, k, v, out, dout, ldo, lse, delta, dq, dk, dv), reps)
        t_sf, t_sb = sdpa_times(name, q, k, v, dout, reps)
        f = 4.0 * B * H * N * N * hd   # useful work at hd (the padded columns are not counted)
        rows.append(dict(name=name, B=B, H=H, N=N, hd=hd, wgmma_fwd_ms=t_f * 1e3, wgmma_fwd_tflops=f / t_f / 1e12,
                         wgmma_bwd_ms=t_b * 1e3, wgmma_bwd_tflops=2.5 * f / t_b / 1e12,
                         sdpa_fwd_tflops=f / t_sf / 1e12, sdpa_bwd_tflops=2.5 * f / t_sb / 1e12))
        r = rows[-1]
        print(f"padded {name:18} wgmma fwd {r['wgmma_fwd_tflops']:7.1f} TFLOP/s (sdpa {r['sdpa_fwd_tflops']:.1f}), "
              f"wgmma bwd {r['wgmma_bwd_tflops']:7.1f} (sdpa {r['sdpa_bwd_tflops']:.1f}); 4BHN^2hd, 10BHN^2hd at hd {hd}")
    return failed, rows


def timed(fn, reps):
    for _ in range(3): fn()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    for _ in range(reps): fn()
    b.record()
    torch.cuda.synchronize()
    return a.elapsed_time(b) / reps / 1e3


def sdpa_times(name, q, k, v, dout, reps):
    """SDPA (flash, cuDNN or memory-efficient) on the same bf16 q, k, v (B, H, N, hd): seconds of its forward and of
    its backward through autograd with our token-major dout viewed as (B, H, N, hd); NaN where no backend takes it."""
    from torch.nn.attention import sdpa_kernel, SDPBackend
    B, H, N, hd = q.shape
    qs, ks, vs = (x.detach().clone().requires_grad_() for x in (q, k, v))
    dos = dout.view(B, N, H, hd).transpose(1, 2).contiguous()
    try:
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
            t_f = timed(lambda: F.scaled_dot_product_attention(qs, ks, vs), reps)
            o = F.scaled_dot_product_attention(qs, ks, vs)
            t_b = timed(lambda: torch.autograd.grad(o, (qs, ks, vs), dos, retain_graph=True), reps)
    except RuntimeError as err:   # no SDPA backend for this shape: our figures still stand
        print(f"{name}: SDPA failed: {err}")
        t_f = t_b = float("nan")
    return t_f, t_b


def bench(K, name, B, H, N, hd, reps, gen):
    q, k, v, ldo, _ = tensors(B, H, N, N, hd, gen)
    ldo = H * hd
    out = torch.empty(B * N, ldo, dtype=torch.bfloat16, device="cuda")
    dout = torch.rand_like(out) - 0.5
    lse, delta = torch.empty(B, H, N, device="cuda"), torch.empty(B, H, N, device="cuda")
    dq, dk, dv = (torch.zeros(B, H, N, hd, dtype=torch.bfloat16, device="cuda") for _ in range(3))
    t_fwd = timed(lambda: K.fwd(q, k, v, out, ldo, lse), reps)
    t_wg = float("nan")
    if K.hopper:
        maps = K.wgmma_maps(q, k, v)
        t_wg = timed(lambda: K.fwd_wgmma(q, k, v, out, ldo, lse, maps), reps)
    t_bwd = timed(lambda: K.bwd(q, k, v, out, dout, ldo, lse, delta, dq, dk, dv), reps)
    t_sfwd, t_sbwd = sdpa_times(name, q, k, v, dout, reps)
    f = 4.0 * B * H * N * N * hd
    return dict(name=name, B=B, H=H, N=N, hd=hd, fwd_ms=t_fwd * 1e3, bwd_ms=t_bwd * 1e3,
                ours_fwd_tflops=f / t_fwd / 1e12, ours_bwd_tflops=2.5 * f / t_bwd / 1e12,
                sdpa_fwd_tflops=f / t_sfwd / 1e12, sdpa_bwd_tflops=2.5 * f / t_sbwd / 1e12,
                fwd_ratio=t_sfwd / t_fwd, bwd_ratio=t_sbwd / t_bwd,
                wgmma_fwd_ms=t_wg * 1e3, wgmma_fwd_tflops=f / t_wg / 1e12, wgmma_fwd_ratio=t_sfwd / t_wg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--fatbin")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--dry-run", action="store_true", help="print the plan; import nothing, launch nothing")
    a = ap.parse_args()
    if a.dry_run:
        print("checks (B, H, Nq, Nk, hd), attn_fwd_bf16 + backward, and attn_fwd_wgmma on a Hopper:", CHECK_SHAPES)
        print("timed (name, B, H, N, hd): ours fwd/bwd, attn_fwd_wgmma fwd on a Hopper, SDPA:", BENCH_SHAPES)
        print("attn_fwd_wgmma shared memory at hd 64/128/256:", [smem_wgmma(h) for h in (64, 128, 256)], "bytes")
        print("attn_bwd_wgmma on a Hopper: checks", [sh for sh in CHECK_SHAPES if sh[4] <= 128], "; timed on the same shapes; "
              "shared memory at hd 64/128:", [smem_wgmma_bwd(h) for h in (64, 128)], "bytes")
        print("padded head dims on a Hopper (wgmma fwd + bwd): checks", PADDED_CHECK_SHAPES, "; timed beside SDPA:",
              PADDED_BENCH_SHAPES, "; shared memory at hd 112:", smem_wgmma(112), smem_wgmma_bwd(112), "bytes")
        return
    global torch, F
    import torch
    import torch.nn.functional as F
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    K = Kernels(find_fatbin(a.fatbin))
    gen = torch.Generator(device="cuda")
    seed = torch.seed() & 0xffffffff
    gen.manual_seed(seed)
    print(f"seed {seed}")
    failed = False
    print("attn_fwd_wgmma:", "checked and timed (compute capability 9.0)" if K.hopper else "skipped (not a Hopper)")
    for wgmma in ([False, True] if K.hopper else [False]):
        for (B, H, Nq, Nk, hd) in CHECK_SHAPES:
            res = check(K, B, H, Nq, Nk, hd, gen, wgmma)
            bad = {n: r for n, r in res.items() if r[0]}
            failed |= bool(bad)
            worst = max(r[1] for r in res.values())
            print(f"check{' (attn_fwd_wgmma)' if wgmma else ''} B={B} H={H} Nq={Nq} Nk={Nk} hd={hd}: "
                  f"{'MISMATCH ' + str(bad) if bad else 'ok'} (worst error / bound {worst:.3f})")
    rows = [bench(K, name, B, H, N, hd, a.reps, gen) for (name, B, H, N, hd) in BENCH_SHAPES]
    print(f"{'shape':18} {'B':>3} {'H':>3} {'N':>5} {'hd':>4} {'ours fwd':>9} {'sdpa fwd':>9} {'ratio':>6} "
          f"{'ours bwd':>9} {'sdpa bwd':>9} {'ratio':>6} {'wgmma fwd':>9} {'ratio':>6}  TFLOP/s (fwd 4BHN^2hd, bwd 10BHN^2hd)")
    for r in rows:
        print(f"{r['name']:18} {r['B']:3} {r['H']:3} {r['N']:5} {r['hd']:4} {r['ours_fwd_tflops']:9.1f} {r['sdpa_fwd_tflops']:9.1f} "
              f"{r['fwd_ratio']:6.2f} {r['ours_bwd_tflops']:9.1f} {r['sdpa_bwd_tflops']:9.1f} {r['bwd_ratio']:6.2f} "
              f"{r['wgmma_fwd_tflops']:9.1f} {r['wgmma_fwd_ratio']:6.2f}")
    wfailed, wrows = wgmma_backward(K, a.reps, gen)
    pfailed, prows = padded_head_dims(K, a.reps, gen)
    failed |= wfailed or pfailed
    if a.out:
        json.dump(rows + wrows + prows, open(a.out, "w"), indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
