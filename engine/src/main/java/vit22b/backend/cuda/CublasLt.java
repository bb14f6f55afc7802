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

/**
 * cuBLASLt (Bytedeco's CUDA 13 preset) as a peer GEMM path on a {@link CudaBackend}'s stream:
 * the reference our GEMM kernels are measured against. Device addresses from JCuda are
 * wrapped as JavaCPP pointers. Row-major C (M x N) = A (M x K) @ W^T (W is N x K, Linear
 * layout) is computed as the column-major C^T = W A^T ("TN"), cuBLAS's best-supported form.
 * fp32 uses CUBLAS_COMPUTE_32F (no TF32: exact peer of our fp32 kernels); bf16 takes bf16
 * A, W, C with fp32 accumulation.
 */
public final class CublasLt implements AutoCloseable {
    public enum Type { F32, BF16 }

    private static final long WORKSPACE_BYTES = 32L << 20;

    private final cublasLtContext handle = new cublasLtContext();
    private final CUstream_st stream;
    private final DeviceStorage workspace;
    private final Map<String, Plan> plans = new HashMap<>();

    private record Plan(cublasLtMatmulDescOpaque_t desc, cublasLtMatrixLayoutOpaque_t a,
                        cublasLtMatrixLayoutOpaque_t b, cublasLtMatrixLayoutOpaque_t c) {}

    public CublasLt(CudaBackend backend) {
        try {
            check(cublasLtCreate(handle), "cublasLtCreate");
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            throw new CudaException("cannot load cuBLASLt (" + e.getMessage() + "): put the CUDA 13 libraries "
                    + "(libcublasLt.so.13) on LD_LIBRARY_PATH or use the Docker image");
        }
        stream = new CUstream_st(at(backend.stream().raw()));
        workspace = backend.allocator().allocate(WORKSPACE_BYTES / Float.BYTES);
    }

    /** A JavaCPP pointer at a raw device address. */
    static Pointer at(long address) {
        return new Pointer() { { this.address = address; } };
    }

    private static void check(int status, String what) {
        if (status != 0) throw new CudaException(what + " failed: cuBLAS status " + status);
    }

    /** C (M x N) = A (M x K) @ W^T + beta * C, all row-major, on the backend's stream. */
    public void matmulNT(long c, long a, long w, int M, int N, int K, float beta, Type type) {
        Plan p = plans.computeIfAbsent(M + "x" + N + "x" + K + type, key -> plan(M, N, K, type));
        FloatPointer alpha = new FloatPointer(1f), b = new FloatPointer(beta);
        check(cublasLtMatmul(handle, p.desc(), alpha, at(w), p.a(), at(a), p.b(), b, at(c), p.c(), at(c), p.c(),
                null, at(workspace.address()), WORKSPACE_BYTES, stream), "cublasLtMatmul " + M + "x" + N + "x" + K);
        alpha.close();
        b.close();
    }

    private static Plan plan(int M, int N, int K, Type type) {
        int dt = type == Type.F32 ? cudart.CUDA_R_32F : cudart.CUDA_R_16BF;
        PointerPointer<?> out = new PointerPointer<>(1);
        check(cublasLtMatmulDescCreate(out, CUBLAS_COMPUTE_32F, cudart.CUDA_R_32F), "cublasLtMatmulDescCreate");
        cublasLtMatmulDescOpaque_t desc = new cublasLtMatmulDescOpaque_t(out.get(0));
        IntPointer opT = new IntPointer(1).put(CUBLAS_OP_T), opN = new IntPointer(1).put(CUBLAS_OP_N);
        check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, opT, 4), "set TRANSA");
        check(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, opN, 4), "set TRANSB");
        // column-major views: W^T is K x N (ld K), A^T is K x M (ld K), C^T is N x M (ld N)
        return new Plan(desc, layout(dt, K, N, K), layout(dt, K, M, K), layout(dt, N, M, N));
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
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
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
