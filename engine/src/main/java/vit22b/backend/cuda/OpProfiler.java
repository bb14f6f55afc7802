package vit22b.backend.cuda;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import vit22b.backend.Backend;
import vit22b.kernels.DeviceEvent;

/**
 * Where a training step's device time goes, by kind of work: a {@link Backend} that hands each op
 * to a {@link CudaBackend} and either brackets it with two device events on the backend's stream
 * (timing) or leaves it out (stage removal: the step without that kind of work, to time what is
 * left). The events are read only after the step's synchronize ({@link #collect}), so timing adds
 * two event records per op and no host wait inside the step.
 *
 * <p>Ops are classified by the Backend method's name ({@link #CATEGORY}); a method not listed
 * (one added to Backend later) is timed as {@link Category#OTHER}, under its own name in
 * {@link Timing#byOp}, so nothing is silently folded into a wrong row.
 */
public final class OpProfiler implements InvocationHandler, AutoCloseable {

    /** Kinds of device work in a step. */
    public enum Category {
        /** The linear layers' GEMMs with their fused epilogues (bias, residual, bias gradient). */
        GEMM,
        /** Softmax attention, forward and backward. */
        ATTENTION,
        /** The element-wise work outside the GEMMs: in-projection epilogue (GELU, QK-norm, head scatter), GELU, head moves, sums. */
        EPILOGUE,
        /** Row norms (the QK-norm inside the in-projection epilogue counts there). */
        NORM,
        /** Patch embedding (im2col + GEMM, and its weight gradient). */
        EMBED,
        /** Loss and its gradient. */
        LOSS,
        /** AdamW over the flat buffers with clipping (gradient norm included). */
        OPTIMIZER,
        /** Zeroing, copies and casts. */
        MEMORY,
        /** Backend ops not classified here. */
        OTHER;

        /** Categories a step can run without (the rest keep the step's control flow and its host reads). */
        public static final Set<Category> REMOVABLE = EnumSet.of(GEMM, ATTENTION, EPILOGUE, NORM, OPTIMIZER, MEMORY);
    }

    /** Backend method -> category; methods absent here and from {@link #UNTIMED} are OTHER. */
    static final Map<String, Category> CATEGORY = new LinkedHashMap<>();
    /** Host-side methods (allocation, waits, host transfers, reads of device results): never timed or removed. */
    static final Set<String> UNTIMED = Set.of("name", "allocate", "free", "precision", "synchronize", "queuedLoss",
            "queuedGradNorm", "record", "close", "toString", "hashCode", "equals", "upload", "download");

    static {
        for (String m : List.of("linearForward", "linearBackward", "inProjectionForward", "outProjectionForward", "outProjectionBackward"))
            CATEGORY.put(m, Category.GEMM);
        for (String m : List.of("attentionForward", "attentionBackward")) CATEGORY.put(m, Category.ATTENTION);
        for (String m : List.of("inProjectionEpilogueForward", "inProjectionEpilogueBackward", "geluForward", "geluBackward",
                "broadcastRows", "sumRows", "toHeads", "fromHeads", "add", "scale"))
            CATEGORY.put(m, Category.EPILOGUE);
        for (String m : List.of("normForward", "normBackward")) CATEGORY.put(m, Category.NORM);
        for (String m : List.of("patchEmbedForward", "patchEmbedBackward")) CATEGORY.put(m, Category.EMBED);
        for (String m : List.of("lossForwardBackward", "queueLoss")) CATEGORY.put(m, Category.LOSS);
        for (String m : List.of("adamw", "queueAdamw", "setAdamwStep", "sumSquares")) CATEGORY.put(m, Category.OPTIMIZER);
        for (String m : List.of("zero", "copy", "cast", "roundToBf16")) CATEGORY.put(m, Category.MEMORY);
    }

    /** The category of Backend method {@code name}, or null for a host-side one. */
    static Category categoryOf(String name) {
        return UNTIMED.contains(name) ? null : CATEGORY.getOrDefault(name, Category.OTHER);
    }

    /** Device milliseconds and op counts of the ops timed since the last {@link #collect}. */
    public record Timing(Map<Category, Double> ms, Map<Category, Integer> ops, Map<String, Double> byOp, double stepMs) {
        /** The sum over categories. */
        public double busyMs() { return ms.values().stream().mapToDouble(Double::doubleValue).sum(); }
    }

    private record Mark(String op, Category category, DeviceEvent start, DeviceEvent end) {}

    private final CudaBackend inner;
    private final Backend proxy;
    private final List<DeviceEvent> pool = new ArrayList<>();
    private final List<Mark> marks = new ArrayList<>();
    private final Map<Category, Integer> skipped = new EnumMap<>(Category.class);
    private Set<Category> removed = EnumSet.noneOf(Category.class);
    private boolean timing;
    private int used;
    private DeviceEvent stepStart, stepEnd;

    public OpProfiler(CudaBackend inner) {
        this.inner = inner;
        this.proxy = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, this);
    }

    /** The backend to build the model and optimiser on. */
    public Backend backend() { return proxy; }

    public CudaBackend inner() { return inner; }

    /** From now on the ops of {@code categories} are not run (each must be in {@link Category#REMOVABLE}). */
    public void remove(Set<Category> categories) {
        for (Category c : categories)
            if (!Category.REMOVABLE.contains(c))
                throw new IllegalArgumentException(c + " cannot be removed from a step; removable: " + Category.REMOVABLE);
        removed = categories.isEmpty() ? EnumSet.noneOf(Category.class) : EnumSet.copyOf(categories);
        skipped.clear();
    }

    /** How many ops of each category were left out since the last {@link #remove}. */
    public Map<Category, Integer> skipped() { return Map.copyOf(skipped); }

    /** Starts timing: every op from here until {@link #collect} is bracketed by events; the step's start is marked. */
    public void begin() {
        if (timing) throw new IllegalStateException("begin() twice without collect()");
        timing = true;
        used = 0;
        marks.clear();
        stepStart = event();
        stepStart.record(inner.stream());
    }

    /** Ends timing: marks the step's end, waits for the device and sums each category's op times. */
    public Timing collect() {
        if (!timing) throw new IllegalStateException("collect() without begin()");
        timing = false;
        stepEnd = event();
        stepEnd.record(inner.stream());
        stepEnd.synchronize();
        Map<Category, Double> ms = new EnumMap<>(Category.class);
        Map<Category, Integer> ops = new EnumMap<>(Category.class);
        Map<String, Double> byOp = new LinkedHashMap<>();
        for (Category c : Category.values()) { ms.put(c, 0.0); ops.put(c, 0); }
        for (Mark m : marks) {
            double t = m.end().millisSince(m.start());
            ms.merge(m.category(), t, Double::sum);
            ops.merge(m.category(), 1, Integer::sum);
            byOp.merge(m.op(), t, Double::sum);
        }
        return new Timing(ms, ops, byOp, stepEnd.millisSince(stepStart));
    }

    private DeviceEvent event() {
        if (used == pool.size()) pool.add(inner.device().createEvent());
        return pool.get(used++);
    }

    @Override public Object invoke(Object self, Method method, Object[] args) throws Throwable {
        String name = method.getName();
        if (name.equals("record"))
            throw new IllegalStateException("a profiled backend times each op apart; it cannot record a step as a graph");
        Category c = categoryOf(name);
        if (c != null && removed.contains(c)) {
            skipped.merge(c, 1, Integer::sum);
            return method.getReturnType() == double.class ? 0.0 : null;
        }
        if (c == null || !timing) return call(method, args);
        DeviceEvent a = event();
        a.record(inner.stream());
        Object r = call(method, args);
        DeviceEvent b = event();
        b.record(inner.stream());
        marks.add(new Mark(name, c, a, b));
        return r;
    }

    private Object call(Method method, Object[] args) throws Throwable {
        try {
            return method.invoke(inner, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** Frees the events (the backend stays the caller's). */
    @Override public void close() {
        for (DeviceEvent e : pool) e.close();
        pool.clear();
    }
}
