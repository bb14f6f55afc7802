package vit22b.kernels;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The tensor maps one device has encoded, kept: encoding is a driver call
 * (cuTensorMapEncodeTiled) per map, and a training step asks for the same few hundred maps
 * (its weights and activations at the same addresses) every step. The 128 bytes are a pure
 * function of the {@link TensorMap2d} record (address, shape, stride, box, swizzle), so a map
 * keyed by the record is exact; it is bounded ({@value #CAPACITY} maps, least recently used
 * dropped first). A CUDA graph that captured a launch holds that launch's bytes by value, so
 * dropping or clearing entries never affects a recorded graph. Not for concurrent use (one per
 * backend, as the backend's stream).
 */
public final class TensorMapCache {
    /** Maps kept: a ViT-22B step's GEMMs use about 12 per block, 48 blocks. */
    public static final int CAPACITY = 2048;

    private final DeviceRuntime device;
    private final Map<TensorMap2d, byte[]> maps = new LinkedHashMap<>(64, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<TensorMap2d, byte[]> eldest) { return size() > CAPACITY; }
    };
    private long encodes;

    public TensorMapCache(DeviceRuntime device) { this.device = device; }

    /** The device whose runtime encodes the maps (and runs the kernels that take them). */
    public DeviceRuntime device() { return device; }

    /**
     * The kernel argument's 128 bytes for {@code map}: {@link DeviceRuntime#encodeTensorMap}'s,
     * from the cache after the first time. The array is shared: pass it to a launch, never modify it.
     */
    public byte[] encode(TensorMap2d map) {
        byte[] b = maps.get(map);
        if (b == null) {
            b = device.encodeTensorMap(map);
            encodes++;
            maps.put(map, b);
        }
        return b;
    }

    /**
     * Forgets every map: for when device memory went back to the driver, so that a map of a freed
     * range is checked again (the emulated device refuses a map outside its allocations) if it is
     * asked for after that range is allocated anew.
     */
    public void clear() { maps.clear(); }

    /** How many maps the runtime encoded (cache misses) so far. */
    public long encodes() { return encodes; }

    /** Maps held now. */
    public int size() { return maps.size(); }
}
