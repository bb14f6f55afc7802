package vit22b.kernels;

/** A CUDA driver call failed: names the call (or kernel) and the CUDA error. */
public final class CudaException extends RuntimeException {
    private final int code;

    public CudaException(String what, int code) {
        super(what + " failed: " + Cuda.errorName(code) + " (" + code + ")");
        this.code = code;
    }

    public CudaException(String message) {
        super(message);
        this.code = -1;
    }

    /** The CUresult code, or -1 when the failure was not a driver return code. */
    public int code() { return code; }
}
