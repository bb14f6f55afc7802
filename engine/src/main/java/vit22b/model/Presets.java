package vit22b.model;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named model configurations. Table 1 of the paper for the large ones (patch 14, 224 px);
 * the usual ViT-Ti/S/B/L/H sizes; small presets for Fashion-MNIST and tests.
 */
public final class Presets {
    /** JFT's label count, used by Table 1's ViT-e row. */
    public static final int JFT_CLASSES = 29_593;

    private static final Map<String, ModelConfig> ALL = new LinkedHashMap<>();

    static {
        // name, D, L, M, H, patch, image, channels, classes
        add("vit-ti", 192, 12, 768, 3, 16, 224, 3, 1000);
        add("vit-s", 384, 12, 1536, 6, 16, 224, 3, 1000);
        add("vit-b", 768, 12, 3072, 12, 16, 224, 3, 1000);
        add("vit-l", 1024, 24, 4096, 16, 16, 224, 3, 1000);
        add("vit-h", 1280, 32, 5120, 16, 14, 224, 3, 1000);
        add("vit-giant", 1408, 40, 6144, 16, 14, 224, 3, 1000);   // big_vision's ViT-g
        add("vit-g", 1664, 48, 8192, 16, 14, 224, 3, 0);          // Table 1's ViT-G (also "vit-G")
        add("vit-e", 1792, 56, 15360, 16, 14, 224, 3, JFT_CLASSES);
        add("vit-22b", 6144, 48, 24576, 48, 14, 224, 3, 0);
        // Fashion-MNIST: 28x28 grayscale, patch 4 -> 49 tokens, 10 classes.
        add("vit-s-fmnist", 384, 12, 1536, 6, 4, 28, 1, 10);
        add("vit-ti-fmnist", 192, 6, 768, 3, 4, 28, 1, 10);
        add("vit-micro-fmnist", 64, 4, 256, 4, 4, 28, 1, 10);
        // Tests: small enough for finite differences in float64.
        add("test-tiny", 16, 2, 32, 2, 4, 8, 3, 5);
        add("test-small", 32, 2, 64, 4, 4, 16, 3, 7);
    }

    private Presets() {}

    private static void add(String name, int d, int l, int m, int h, int p, int img, int ch, int classes) {
        ALL.put(name, new ModelConfig(name, d, l, m, h, p, img, ch, classes,
                NormKind.RMS, GeluKind.TANH, LossKind.SIGMOID, 0f));
    }

    /** The preset called {@code name}, case-insensitive. */
    public static ModelConfig get(String name) {
        ModelConfig c = ALL.get(name);
        if (c != null) return c;
        for (var e : ALL.entrySet()) if (e.getKey().equalsIgnoreCase(name)) return e.getValue();
        throw new IllegalArgumentException("unknown model '" + name + "'; known: " + String.join(", ", ALL.keySet()));
    }

    public static Map<String, ModelConfig> all() { return Map.copyOf(ALL); }

    public static java.util.List<String> names() { return java.util.List.copyOf(ALL.keySet()); }
}
