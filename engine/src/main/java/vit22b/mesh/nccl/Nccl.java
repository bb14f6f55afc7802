package vit22b.mesh.nccl;

import static org.bytedeco.cuda.global.nccl.NCCL_UNIQUE_ID_BYTES;
import static org.bytedeco.cuda.global.nccl.ncclGetErrorString;
import static org.bytedeco.cuda.global.nccl.ncclGetUniqueId;
import static org.bytedeco.cuda.global.nccl.ncclGetVersion;

import jcuda.driver.JCudaDriver;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.Pointer;
import vit22b.kernels.Cuda;
import vit22b.kernels.CudaException;

/** The NCCL library as the mesh uses it: loading it (with the fix when it does not load), ids, errors. */
public final class Nccl {
    /** ncclSend/ncclRecv, which shift and exchange need, arrived in NCCL 2.7. */
    private static final int MIN_VERSION = 20700;

    private Nccl() {}

    /** NCCL's version code (e.g. 22805 for 2.28.5); a CudaException with the fix when libnccl.so.2 does not load or is too old. */
    public static int version() {
        int[] v = new int[1];
        try {
            check(ncclGetVersion(v), "ncclGetVersion");
        } catch (LinkageError e) {   // UnsatisfiedLinkError, or the preset's class failing to initialise
            throw new CudaException("cannot load NCCL (" + firstLine(e) + "): put libnccl.so.2 and the CUDA 13 runtime (libcudart.so.13) on LD_LIBRARY_PATH, "
                    + "e.g. `pip install nvidia-nccl-cu13` and add its nvidia/nccl/lib directory, or use the Docker image");
        }
        if (v[0] < MIN_VERSION)
            throw new CudaException("NCCL " + v[0] + " is too old: send/recv needs NCCL >= 2.7; install a newer libnccl.so.2");
        return v[0];
    }

    /** The most specific line of a native-loading error (the loader puts the cause last). */
    private static String firstLine(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause())
            if (t.getMessage() != null && !t.getMessage().isBlank()) {
                String[] lines = t.getMessage().strip().split("\n");
                return lines[lines.length - 1].strip();
            }
        return e.toString();
    }

    /** The number of GPUs the CUDA driver sees in this process (after CUDA_VISIBLE_DEVICES). */
    public static int visibleGpus() {
        Cuda.init();
        int[] n = new int[1];
        Cuda.check(JCudaDriver.cuDeviceGetCount(n), "cuDeviceGetCount");
        return n[0];
    }

    /** A fresh unique id (rank 0 makes one per communicator; it also starts NCCL's bootstrap listener for it). */
    static byte[] newId() {
        try (ncclUniqueId id = new ncclUniqueId()) {
            check(ncclGetUniqueId(id), "ncclGetUniqueId");
            byte[] b = new byte[NCCL_UNIQUE_ID_BYTES];
            id.internal().get(b);
            return b;
        }
    }

    /** An id as NCCL takes it (by value). */
    static ncclUniqueId id(byte[] bytes) {
        ncclUniqueId id = new ncclUniqueId();
        id.internal().put(bytes);
        return id;
    }

    /** A JavaCPP pointer at a raw address (a device buffer, a stream handle). */
    static Pointer at(long address) {
        return new Pointer() { { this.address = address; } };
    }

    static void check(int status, String what) {
        if (status != 0)
            throw new CudaException(what + " failed: NCCL error " + status + " (" + ncclGetErrorString(status).getString() + ")");
    }
}
