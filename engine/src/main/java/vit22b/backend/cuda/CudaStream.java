package vit22b.backend.cuda;

import jcuda.driver.CUgraph;
import jcuda.driver.CUstream;
import jcuda.driver.JCudaDriver;
import vit22b.kernels.Cuda;

/** A non-blocking CUDA stream; can record its launches into a {@link CudaGraph}. */
public final class CudaStream implements AutoCloseable {
    private static final int CU_STREAM_NON_BLOCKING = 1;
    private static final int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;

    /** CUstream whose raw handle we can read, to share the stream with cuBLASLt. */
    static final class Handle extends CUstream {
        long raw() { return getNativePointer(); }
    }

    private final Handle stream = new Handle();
    private boolean capturing;

    public CudaStream() {
        Cuda.check(JCudaDriver.cuStreamCreate(stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    }

    public CUstream handle() { return stream; }

    /** The raw cudaStream_t value. */
    public long raw() { return stream.raw(); }

    public void synchronize() {
        Cuda.check(JCudaDriver.cuStreamSynchronize(stream), "cuStreamSynchronize");
    }

    public boolean capturing() { return capturing; }

    /** Starts recording: launches are captured, not run, until {@link #endCapture}. */
    public void beginCapture() {
        Cuda.check(JCudaDriver.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL), "cuStreamBeginCapture");
        capturing = true;
    }

    /** Ends recording and instantiates the graph; replay it with {@link CudaGraph#launch}. */
    public CudaGraph endCapture() {
        CUgraph g = new CUgraph();
        capturing = false;
        Cuda.check(JCudaDriver.cuStreamEndCapture(stream, g), "cuStreamEndCapture");
        return new CudaGraph(g, this);
    }

    @Override public void close() {
        Cuda.check(JCudaDriver.cuStreamDestroy(stream), "cuStreamDestroy");
    }
}
