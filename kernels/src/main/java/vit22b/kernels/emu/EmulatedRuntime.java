package vit22b.kernels.emu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import vit22b.kernels.CudaException;
import vit22b.kernels.DeviceEvent;
import vit22b.kernels.DeviceGraph;
import vit22b.kernels.DeviceRuntime;
import vit22b.kernels.DeviceStream;
import vit22b.kernels.KernelLauncher;
import vit22b.kernels.TensorMap2d;

/**
 * The emulated CUDA device: our kernels run on the host by {@link EmuLibrary}, device memory is
 * host memory. It models what bites on a real GPU so that tests catch it without one:
 * <ul>
 * <li>fresh allocations hold NaN bytes (0xFF), so reading memory nobody wrote shows;</li>
 * <li>streams are queues run lazily, only when someone waits (stream or event synchronize, a
 *     wait on another stream's event, free): work that is not ordered by a stream or an event
 *     does not run in the order it was issued;</li>
 * <li>capture records a stream's work for replay and refuses, with CUDA's error, what a capture
 *     forbids (synchronize, waiting for an event, allocation or freeing); after a refusal the
 *     capture is invalidated and {@code endCapture} fails as CUDA's does. An event recorded in a
 *     capture is recorded afresh by each replay, on the stream the graph is launched on;</li>
 * <li>copies and memsets must lie inside one allocation (CUDA_ERROR_INVALID_VALUE otherwise), and
 *     so must the matrix of a tensor map (TMA on the emulated device reads host memory directly);</li>
 *     a kernel is refused at launch when its arguments do not match the library's signature;</li>
 * <li>a kernel failure (barrier deadlock, bad launch shape, ...) is reported when the stream
 *     runs, and sticks: every later call fails, as a GPU context does after a fault.</li>
 * </ul>
 * One lock serialises all calls. Not for speed: each CUDA thread is a fiber.
 */
public final class EmulatedRuntime implements DeviceRuntime {
    private static final int INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_FOUND = 500, LAUNCH_FAILED = 719,
            CAPTURE_UNSUPPORTED = 900, CAPTURE_INVALIDATED = 901, CAPTURE_ISOLATION = 905;
    private static final byte POISON = (byte) 0xFF;

    private final EmuLibrary lib;
    private final TreeMap<Long, Arena> memory = new TreeMap<>();
    private final Map<Long, Long> sizes = new HashMap<>();
    private final Map<Long, Arena> hostArenas = new HashMap<>();
    private final List<Stream> streams = new ArrayList<>();
    private final Launcher launcher = new Launcher();
    private final boolean hopper;
    private String fault;
    private boolean closed;
    /** Device memory in bytes ({@link #limitMemory}); unlimited by default (host memory). */
    private long memoryLimit = Long.MAX_VALUE;

    /** The emulated device of {@code lib}; {@code hopper}: it answers {@link #hopper()} true (see there). */
    public EmulatedRuntime(EmuLibrary lib, boolean hopper) {
        this.lib = lib;
        this.hopper = hopper;
    }

    public EmulatedRuntime(EmuLibrary lib) { this(lib, false); }

    /** The emulator built into the classpath, as an sm_80-class device (the mma.sync kernels). */
    public static EmulatedRuntime open() { return open(false); }

    /**
     * The emulator built into the classpath; {@code hopper}: as a Hopper, so a backend on it takes
     * the sm_90a kernels (wgmma, TMA), which the emulator runs like every other kernel. Either way
     * every kernel may be launched directly; this only answers {@link #hopper()}.
     */
    public static EmulatedRuntime open(boolean hopper) { return new EmulatedRuntime(EmuLibrary.bundled(), hopper); }

    @Override public boolean hopper() { return hopper; }

    /**
     * The emulated device's streaming multiprocessors, for {@link #maxActiveClusters}: few, so that a
     * persistent kernel's clusters in the tests each walk several work items.
     */
    public static final int MULTIPROCESSORS = 4;
    /** The launch limits emu_launch enforces (runtime.cpp): threads per block, dynamic shared memory per block. */
    private static final int MAX_THREADS = 1024, MAX_SHARED_BYTES = 227 * 1024;
    private long clusterQueries;

    /**
     * The emulator's model of cuOccupancyMaxActiveClusters: one block per multiprocessor, so
     * {@link #MULTIPROCESSORS} / clusterSize clusters, or 0 for a block emu_launch would refuse.
     */
    @Override public synchronized int maxActiveClusters(String kernel, int clusterSize, int threads, int sharedBytes) {
        usable();
        if (clusterSize < 1 || clusterSize > 8)
            throw new IllegalArgumentException(kernel + ": cluster size " + clusterSize + " is outside 1..8 (the portable sizes)");
        clusterQueries++;
        return threads < 1 || threads > MAX_THREADS || sharedBytes < 0 || sharedBytes > MAX_SHARED_BYTES ? 0 : MULTIPROCESSORS / clusterSize;
    }

    /** How many times {@link #maxActiveClusters} was asked. */
    public synchronized long clusterQueries() { return clusterQueries; }

    public EmuLibrary library() { return lib; }

    @Override public String description() {
        return "emulated CUDA device" + (hopper ? " as a Hopper (sm_90a kernels)" : "") + " (" + lib.kernels().size() + " kernels compiled for the host, " + lib.path().getFileName() + ")";
    }

    @Override public KernelLauncher launcher() { return launcher; }

    @Override public synchronized DeviceStream createStream() {
        usable();
        Stream s = new Stream();
        streams.add(s);
        return s;
    }

    @Override public synchronized DeviceEvent createEvent() {
        usable();
        return new Event();
    }

    // ---- memory ---------------------------------------------------------------------------

    @Override public synchronized long allocate(long bytes) {
        usable();
        refuseWhileCapturing("cuMemAlloc");
        if (bytes <= 0) throw new CudaException("cuMemAlloc of " + bytes + " bytes", INVALID_VALUE);
        if (bytes > freeBytes())
            throw new CudaException("cuMemAlloc of " + bytes + " bytes (" + memoryReport() + ")", OUT_OF_MEMORY);
        Arena arena = Arena.ofShared();
        MemorySegment s = arena.allocate(bytes, 256);
        s.fill(POISON);
        memory.put(s.address(), arena);
        sizes.put(s.address(), bytes);
        return s.address();
    }

    @Override public synchronized void free(long address) {
        usable();
        refuseWhileCapturing("cuMemFree");
        if (!memory.containsKey(address))
            throw new CudaException("cuMemFree(0x" + Long.toHexString(address) + "): not an allocation", INVALID_VALUE);
        // cuMemFree waits for the device: no queued work may still use the block. Drained before the
        // block leaves the table, so that a kernel fault here leaves it for close() to release.
        drainAll();
        sizes.remove(address);
        memory.remove(address).close();
    }

    /** Bytes allocated and not freed (tests check that nothing leaks). */
    public synchronized long bytesAllocated() {
        return sizes.values().stream().mapToLong(Long::longValue).sum();
    }

    @Override public synchronized MemorySegment allocateHost(long bytes) {
        usable();
        refuseWhileCapturing("cuMemAllocHost");
        Arena arena = Arena.ofShared();
        MemorySegment s = arena.allocate(bytes, 256);
        hostArenas.put(s.address(), arena);
        return s;
    }

    @Override public synchronized void freeHost(MemorySegment host) {
        usable();
        refuseWhileCapturing("cuMemFreeHost");
        if (!hostArenas.containsKey(host.address()))
            throw new IllegalArgumentException("host memory at 0x" + Long.toHexString(host.address())
                    + " was not allocated by allocateHost");
        drainAll();   // as free: a fault here leaves the block for close()
        hostArenas.remove(host.address()).close();
    }

    /** The device memory [address, address + bytes) as a segment; it must lie inside one allocation. */
    private MemorySegment device(long address, long bytes, String what) {
        Map.Entry<Long, Arena> e = memory.floorEntry(address);
        if (e == null || bytes < 0 || address + bytes > e.getKey() + sizes.get(e.getKey()))
            throw new CudaException(what + " of " + bytes + " bytes at 0x" + Long.toHexString(address)
                    + ": outside every allocation of the emulated device", INVALID_VALUE);
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    /**
     * The CUtensorMap argument in the emulator's own encoding (hopper.cpp, kernels/src/emu/README.md:
     * address, dimensions, row stride, element size, box, swizzle), which the kernels' TMA calls
     * decode. The record has applied the driver's rules; the library applies them again, and the
     * whole matrix must lie inside one allocation.
     */
    @Override public synchronized byte[] encodeTensorMap(TensorMap2d map) {
        usable();
        String what = "cuTensorMapEncodeTiled(" + map.rows() + "x" + map.cols() + " of " + map.elementBytes() + "-byte elements)";
        device(map.address(), (map.rows() - 1) * map.rowStrideBytes() + map.cols() * map.elementBytes(), what);
        String[] why = new String[1];
        byte[] bytes = lib.encodeTensorMap(map.address(), map.rows(), map.cols(), map.rowStrideBytes(), map.elementBytes(),
                map.boxRows(), map.boxCols(), map.swizzle().ordinal(), why);
        if (bytes == null) throw new CudaException(what + ": " + why[0], INVALID_VALUE);
        return bytes;
    }

    @Override public synchronized void copyToDevice(long dst, MemorySegment src, long bytes, DeviceStream stream) {
        MemorySegment d = device(dst, bytes, "cuMemcpyHtoDAsync");
        MemorySegment s = src.asSlice(0, bytes);
        queue(stream, "cuMemcpyHtoDAsync", () -> MemorySegment.copy(s, 0, d, 0, bytes));
    }

    @Override public synchronized void copyToHost(MemorySegment dst, long src, long bytes, DeviceStream stream) {
        MemorySegment s = device(src, bytes, "cuMemcpyDtoHAsync");
        MemorySegment d = dst.asSlice(0, bytes);
        queue(stream, "cuMemcpyDtoHAsync", () -> MemorySegment.copy(s, 0, d, 0, bytes));
    }

    @Override public synchronized void copy(long dst, long src, long bytes, DeviceStream stream) {
        MemorySegment s = device(src, bytes, "cuMemcpyDtoDAsync"), d = device(dst, bytes, "cuMemcpyDtoDAsync");
        queue(stream, "cuMemcpyDtoDAsync", () -> MemorySegment.copy(s, 0, d, 0, bytes));
    }

    @Override public synchronized void fill32(long dst, int value, long count, DeviceStream stream) {
        MemorySegment d = device(dst, count * 4, "cuMemsetD32Async");
        queue(stream, "cuMemsetD32Async", () -> {
            for (long i = 0; i < count; i++) d.setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, i, value);
        });
    }

    @Override public void makeCurrent() {}

    /**
     * Test hook: from now on the device has {@code bytes} of memory, as a GPU that size would:
     * {@link #freeBytes} says what is left and an allocation past it fails out of memory.
     */
    public synchronized void limitMemory(long bytes) { memoryLimit = bytes; }

    @Override public synchronized long freeBytes() {
        return memoryLimit == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(0, memoryLimit - bytesAllocated());
    }

    @Override public synchronized String memoryReport() {
        return bytesAllocated() + " bytes allocated on the emulated device (host memory"
                + (memoryLimit == Long.MAX_VALUE ? ")" : "; limited to " + memoryLimit + " bytes)");
    }

    @Override public synchronized void close() {
        if (closed) return;
        try {
            if (fault == null) drainAll();
        } finally {
            closed = true;
            for (Arena a : memory.values()) a.close();
            for (Arena a : hostArenas.values()) a.close();
            memory.clear();
            sizes.clear();
            hostArenas.clear();
        }
    }

    // ---- queues -----------------------------------------------------------------------------

    private void usable() {
        if (closed) throw new IllegalStateException("the emulated device is closed");
        if (fault != null)
            throw new CudaException("the emulated device is unusable after an earlier kernel failure (" + fault + ")", LAUNCH_FAILED);
    }

    private Stream own(DeviceStream s) {
        if (!(s instanceof Stream es) || !streams.contains(es))
            throw new IllegalArgumentException("stream " + s + " does not belong to this emulated device");
        return es;
    }

    private void queue(DeviceStream stream, String what, Runnable op) {
        usable();
        own(stream).add(new Op(what, op));
    }

    /** Work a capture forbids: every capturing stream's capture becomes invalid, and the call fails. */
    private void refuseWhileCapturing(String call) {
        boolean any = false;
        for (Stream s : streams)
            if (s.capture != null) {
                s.invalidated = true;
                any = true;
            }
        if (any) throw new CudaException(call + " while a stream is being captured into a graph", CAPTURE_UNSUPPORTED);
    }

    private void drainAll() {
        for (Stream s : streams) s.drain();
    }

    /** Queued work; {@code recorded} is non-null for an event record captured into a graph (see Graph.launch). */
    private record Op(String what, Runnable body, Event recorded) {
        Op(String what, Runnable body) { this(what, body, null); }
    }

    /** A point in a stream's queue: reached when the stream has run everything before it. */
    private static final class Marker {
        final Stream stream;
        boolean reached;
        long nanos;
        Marker(Stream stream) { this.stream = stream; }
    }

    private final class Stream implements DeviceStream {
        final ArrayDeque<Op> pending = new ArrayDeque<>();
        List<Op> capture;        // non-null while capturing
        boolean invalidated;
        boolean closed;

        void add(Op op) {
            if (closed) throw new IllegalStateException("stream is closed");
            if (capture != null) capture.add(op);
            else pending.add(op);
        }

        /** Runs the oldest queued op; false when the queue is empty. */
        boolean runOne() {
            Op op = pending.poll();
            if (op == null) return false;
            try {
                op.body().run();
            } catch (RuntimeException e) {
                fault = e.getMessage();
                pending.clear();
                throw e;
            }
            return true;
        }

        void drain() {
            while (runOne()) { /* lazily: only now does the queued work run */ }
        }

        @Override public void synchronize() {
            synchronized (EmulatedRuntime.this) {
                usable();
                if (capture != null) {
                    invalidated = true;
                    throw new CudaException("cuStreamSynchronize on a stream being captured", CAPTURE_UNSUPPORTED);
                }
                drain();
            }
        }

        @Override public void waitFor(DeviceEvent event) {
            synchronized (EmulatedRuntime.this) {
                usable();
                Event e = (Event) event;
                if (capture != null && e.capturedBy == this) return;   // recorded earlier in this capture: already ordered
                if (e.capturedBy != null && e.capturedBy.capture != null)   // CUDA would join this stream to the capture
                    throw new CudaException("cuStreamWaitEvent on an event recorded in another stream's capture: the emulated "
                            + "device does not model cross-stream capture; capture on one stream", INVALID_VALUE);
                Marker m = e.latest;
                if (m == null) return;   // never recorded (or only in a graph not yet launched): CUDA treats it as satisfied
                if (capture != null) {
                    invalidated = true;
                    throw new CudaException("cuStreamWaitEvent on a captured stream for an event recorded outside the capture",
                            CAPTURE_ISOLATION);
                }
                add(new Op("cuStreamWaitEvent", () -> {
                    while (!m.reached) {
                        if (!m.stream.runOne()) throw new IllegalStateException("event's stream drained without reaching it");
                    }
                }));
            }
        }

        @Override public void beginCapture() {
            synchronized (EmulatedRuntime.this) {
                usable();
                if (capture != null) throw new CudaException("cuStreamBeginCapture on a stream already capturing", INVALID_VALUE);
                capture = new ArrayList<>();
                invalidated = false;
            }
        }

        @Override public DeviceGraph endCapture() {
            synchronized (EmulatedRuntime.this) {
                if (capture == null) throw new CudaException("cuStreamEndCapture on a stream that is not capturing", INVALID_VALUE);
                List<Op> ops = capture;
                capture = null;
                if (invalidated) {
                    invalidated = false;
                    throw new CudaException("cuStreamEndCapture: the capture was invalidated by a call it does not allow",
                            CAPTURE_INVALIDATED);
                }
                return new Graph(List.copyOf(ops));
            }
        }

        @Override public boolean capturing() { return capture != null; }

        @Override public long raw() {
            throw new UnsupportedOperationException("the emulated device has no cudaStream_t: cuBLASLt and NCCL need a GPU");
        }

        @Override public void close() {
            synchronized (EmulatedRuntime.this) {
                if (closed) return;
                if (fault == null) drain();
                closed = true;
                streams.remove(this);
            }
        }
    }

    private final class Event implements DeviceEvent {
        Marker latest;
        Stream capturedBy;

        @Override public void record(DeviceStream stream) {
            synchronized (EmulatedRuntime.this) {
                usable();
                Stream s = own(stream);
                if (s.capture == null) {
                    mark(s);
                    return;
                }
                // A captured record has no point in any queue yet: each launch of the graph makes its own
                // (one marker shared by all replays would stay reached after the first and order nothing).
                latest = null;
                capturedBy = s;
                s.capture.add(new Op("cuEventRecord", null, this));
            }
        }

        /** Records this event at the current end of {@code s}'s queue. */
        void mark(Stream s) {
            Marker m = new Marker(s);
            latest = m;
            capturedBy = null;
            s.add(new Op("cuEventRecord", () -> {
                m.reached = true;
                m.nanos = System.nanoTime();
            }));
        }

        @Override public void synchronize() {
            synchronized (EmulatedRuntime.this) {
                usable();
                if (capturedBy != null) refuseWhileCapturing("cuEventSynchronize");
                if (latest == null) return;
                while (!latest.reached)
                    if (!latest.stream.runOne())
                        throw new IllegalStateException("cuEventSynchronize: the event's stream drained without reaching it");
            }
        }

        @Override public float millisSince(DeviceEvent start) {
            synchronized (EmulatedRuntime.this) {
                Marker a = ((Event) start).latest, b = latest;
                if (a == null || b == null || !a.reached || !b.reached)
                    throw new CudaException("cuEventElapsedTime on an event not yet reached", INVALID_VALUE);
                return (b.nanos - a.nanos) / 1e6f;
            }
        }

        @Override public void close() {}
    }

    private final class Graph implements DeviceGraph {
        final List<Op> ops;

        Graph(List<Op> ops) { this.ops = ops; }

        @Override public void launch(DeviceStream stream) {
            synchronized (EmulatedRuntime.this) {
                usable();
                Stream s = own(stream);
                for (Op op : ops) {
                    if (op.recorded() != null) op.recorded().mark(s);
                    else s.add(op);
                }
            }
        }

        @Override public void close() {}
    }

    // ---- kernels ----------------------------------------------------------------------------

    private final class Launcher implements KernelLauncher {
        @Override public void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                                     DeviceStream stream, Object... args) {
            long[] want = lib.signature(name);
            if (want == null)
                throw new CudaException("kernel " + name + ": not in the emulated device's kernel table", NOT_FOUND);
            if (want.length != args.length)
                throw new CudaException("kernel " + name + " takes " + want.length + " arguments, the launch passes "
                        + args.length, INVALID_VALUE);
            byte[][] bytes = new byte[args.length][];
            for (int i = 0; i < args.length; i++) {
                bytes[i] = KernelLauncher.argumentBytes(name, i, args[i]);
                if (bytes[i].length != want[i])
                    throw new CudaException("kernel " + name + " argument " + i + " is " + bytes[i].length
                            + " bytes, the kernel takes " + want[i], INVALID_VALUE);
            }
            if (gx <= 0 || gy <= 0 || gz <= 0) return;   // empty problem: nothing to launch
            int[] grid = {gx, gy, gz}, block = {bx, by, bz};
            String shape = " (grid " + gx + "x" + gy + "x" + gz + ", block " + bx + "x" + by + "x" + bz + ", smem " + sharedBytes + ")";
            synchronized (EmulatedRuntime.this) {
                queue(stream, "kernel " + name, () -> {
                    String err = lib.run(name, grid, block, sharedBytes, bytes);
                    if (err != null) throw new CudaException("kernel " + name + shape + ": " + err, LAUNCH_FAILED);
                });
            }
        }
    }
}
