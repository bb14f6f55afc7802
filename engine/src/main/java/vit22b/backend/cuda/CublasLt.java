package vit22b.backend.cuda;

import static org.bytedeco.cuda.global.cublas.*;

import java.util.HashMap;
import java.util.Map;

import org.bytedeco.cuda.cublas.cublasLtContext;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.emu.EmulatedRuntime;

/**
 * cuBLASLt (Bytedeco's CUDA 13 preset) as a peer GEMM path on a {@link CudaBackend}'s stream:
 * the reference our GEMM kernels are measured against. Device addresses from JCuda are
 * wrapped as JavaCPP pointers. Row-major C = op(A) op(B) is computed as the column-major
 * C^T = op(B)^T op(A)^T: a row-major matrix is its transpose in column-major order, so only
 * the layouts and the transpose flags change.
 * fp32 uses CUBLAS_COMPUTE_32F (no TF32: exact peer of our fp32 kernels); bf16 takes bf16
 * A, W, C with fp32 accumulation.
 */
public final class CublasLt implements AutoCloseable {
    public enum Type { F32, BF16 }

    private static final long WORKSPACE_BYTES = 32L << 20;

    private final cublasLtContext handle;
    private final CUstream_st stream;
    private final DeviceStorage workspace;
    private final Map<String, Plan> plans = new HashMap<>();

    private record Plan(cublasLtMatmulDescOpaque_t desc, cublasLtMatrixLayoutOpaque_t a,
                        cublasLtMatrixLayoutOpaque_t b, cublasLtMatrixLayoutOpaque_t c) {}

    /** cuBLASLt on the backend's stream; the backend must run on a GPU with libcublasLt loadable. */
    public CublasLt(CudaBackend backend) {
        requireLoadable(backend.device());
        handle = new cublasLtContext();
        check(cublasLtCreate(handle), "cublasLtCreate");
        try {
            stream = new CUstream_st(at(backend.stream().raw()));
            workspace = backend.allocator().allocate(WORKSPACE_BYTES / Float.BYTES);
        } catch (RuntimeException e) {
            cublasLtDestroy(handle);
            throw e;
        }
    }

    /**
     * Fails with the fix unless cuBLASLt can run on {@code device}: its library loads (a missing
     * libcublasLt.so.13 surfaces from JavaCPP's loader as a linkage error of any kind) and the
     * device is a GPU.
     */
    static void requireLoadable(DeviceRuntime device) {
        try {
            cublasLtGetVersion();
        } catch (LinkageError e) {
            throw new CudaException("cannot load cuBLASLt (" + String.valueOf(e.getMessage()).lines().findFirst().orElse(e.toString())
                    + "): put the CUDA 13 libraries (libcublasLt.so.13) on LD_LIBRARY_PATH or use the Docker image");
        }
        if (device instanceof EmulatedRuntime)
            throw new CudaException("cuBLASLt runs only on a GPU, not on the emulated device; use our GEMM kernels (GemmPath.KERNELS)");
    }

    /** A JavaCPP pointer at a raw device address. */
    static Pointer at(long address) {
        return new Pointer() { { this.address = address; } };
    }

    private static void check(int status, String what) {
        if (status != 0) throw new CudaException(what + " failed: cuBLAS status " + status);
    }

    /** C (M x N) = A (M x K) @ W^T + beta * C, all row-major and contiguous, W is N x K. */
    public void matmulNT(long c, long a, long w, int M, int N, int K, float beta, Type type) {
        matmul(c, N, a, K, false, w, K, true, M, N, K, beta, type);
    }

    /**
     * Row-major C (M x N, row stride ldc) = op(A) op(B) + beta C, op(A) M x K and op(B) K x N;
     * transA: A is stored K x M (row stride lda), else M x K; transB: B is stored N x K, else K x N.
     */
    public void matmul(long c, long ldc, long a, long lda, boolean transA, long b, long ldb, boolean transB,
                       int M, int N, int K, float beta, Type type) {
        String key = M + "x" + N + "x" + K + "/" + ldc + "," + lda + "," + ldb + "/" + transA + transB + type;
        Plan p = plans.computeIfAbsent(key, x -> plan(ldc, lda, transA, ldb, transB, M, N, K, type));
        FloatPointer alpha = new FloatPointer(1f), bt = new FloatPointer(beta);
        check(cublasLtMatmul(handle, p.desc(), alpha, at(b), p.a(), at(a), p.b(), bt, at(c), p.c(), at(c), p.c(),
                null, at(workspace.address()), WORKSPACE_BYTES, stream), "cublasLtMatmul " + key);
        alpha.close();
        bt.close();
    }

    /** Column-major: first operand op(B)^T (N x K), second op(A)^T (K x M), result C^T (N x M, ld ldc). */
    private static Plan plan(long ldc, long lda, boolean transA, long ldb, boolean transB, int M, int N, int K, Type type) {
        int dt = type == Type.F32 ? cudart.CUDA_R_32F : cudart.CUDA_R_16BF;
        PointerPointer<?> out = new PointerPointer<>(1);
        check(cublasLtMatmulDescCreate(out, CUBLAS_COMPUTE_32F, cudart.CUDA_R_32F), "cublasLtMatmulDescCreate");
        cublasLtMatmulDescOpaque_t desc = new cublasLtMatmulDescOpaque_t(out.get(0));
        IntPointer opFirst = new IntPointer(1).put(transB ? CUBLAS_OP_T : CUBLAS_OP_N);
        IntPointer opSecond = new IntPointer(1).put(transA ? CUBLAS_OP_T : CUBLAS_OP_N);
        check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, opFirst, 4), "set TRANSA");
        check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, opSecond, 4), "set TRANSB");
        // B stored N x K (transB) is column-major K x N; stored K x N is column-major N x K. Same for A.
        cublasLtMatrixLayoutOpaque_t first = transB ? layout(dt, K, N, ldb) : layout(dt, N, K, ldb);
        cublasLtMatrixLayoutOpaque_t second = transA ? layout(dt, M, K, lda) : layout(dt, K, M, lda);
        return new Plan(desc, first, second, layout(dt, N, M, ldc));
    }

    private static cublasLtMatrixLayoutOpaque_t layout(int dt, long rows, long cols, long ld) {
        PointerPointer<?> out = new PointerPointer<>(1);
        check(cublasLtMatrixLayoutCreate(out, dt, rows, cols, ld), "cublasLtMatrixLayoutCreate");
        return new cublasLtMatrixLayoutOpaque_t(out.get(0));
    }

    /** cuBLASLt's version number, or a CudaException with the fix when the library is missing. */
    public static long version() {
        try {
            return cublasLtGetVersion();
        } catch (LinkageError e) {
            throw new CudaException("cuBLASLt does not load (" + e.getMessage() + ")");
        }
    }

    @Override public void close() {
        for (Plan p : plans.values()) {
            cublasLtMatmulDescDestroy(p.desc());
            cublasLtMatrixLayoutDestroy(p.a());
            cublasLtMatrixLayoutDestroy(p.b());
            cublasLtMatrixLayoutDestroy(p.c());
        }
        plans.clear();
        workspace.close();
        cublasLtDestroy(handle);
    }
}
