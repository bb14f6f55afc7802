package vit22b.io;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import vit22b.model.ModelConfig;

/**
 * What a model file says about its meaning beyond the weights (safetensors metadata, JSON
 * text): the class names ({@value #CLASSES_KEY}), the preprocessing that feeds it
 * ({@value #PREPROCESS_KEY}, timm's pretrained_cfg vocabulary) and the architecture
 * ({@value #ARCHITECTURE_KEY}); the sizes are {@link ModelFiles#CONFIG_KEY}'s.
 */
public final class ModelMetadata {
    public static final String CLASSES_KEY = "vit22b.classes";
    public static final String PREPROCESS_KEY = "vit22b.preprocess";
    public static final String ARCHITECTURE_KEY = "vit22b.architecture";
    /** The block timm builds for this model: parallel attention + MLP with fused projections. */
    public static final String ARCHITECTURE = "ViT-22B recipe: timm ParallelScalingBlock (parallel attention and MLP, "
            + "fused in/out projections), QK-norm, no QKV/norm biases, MAP head";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ModelMetadata() {}

    /**
     * The preprocessing our data pipeline applies at evaluation: shorter side resized to the
     * model's size with PIL's anti-aliased bicubic filter, centre crop (crop_pct 1), pixels
     * scaled to [-1, 1] (mean 0.5, std 0.5 per channel on [0, 1] values).
     */
    public static ObjectNode preprocess(ModelConfig c) {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("input_size").add(c.channels()).add(c.imageSize()).add(c.imageSize());
        o.put("interpolation", "bicubic").put("crop_pct", 1.0).put("crop_mode", "center");
        var mean = o.putArray("mean");
        var std = o.putArray("std");
        for (int i = 0; i < c.channels(); i++) { mean.add(0.5); std.add(0.5); }
        return o;
    }

    /** The metadata entries for a model of {@code c} trained on {@code classes}. */
    public static Map<String, String> of(ModelConfig c, List<String> classes) {
        if (classes.size() != c.classes())
            throw new IllegalArgumentException(classes.size() + " class names for a model of " + c.classes() + " classes");
        Map<String, String> m = new LinkedHashMap<>();
        try {
            m.put(CLASSES_KEY, JSON.writeValueAsString(classes));
            m.put(PREPROCESS_KEY, JSON.writeValueAsString(preprocess(c)));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        m.put(ARCHITECTURE_KEY, ARCHITECTURE);
        return m;
    }

    /** The class names a file records, if it does. */
    public static Optional<List<String>> classes(Map<String, String> metadata) {
        String s = metadata.get(CLASSES_KEY);
        if (s == null) return Optional.empty();
        try {
            JsonNode n = JSON.readTree(s);
            if (!n.isArray()) throw new IllegalArgumentException("metadata " + CLASSES_KEY + " is not a JSON array");
            List<String> out = new ArrayList<>();
            n.forEach(x -> out.add(x.asText()));
            return Optional.of(List.copyOf(out));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("metadata " + CLASSES_KEY + " is not JSON: " + e.getOriginalMessage());
        }
    }

    /**
     * Refuses to score a model on a dataset whose classes are not the ones it was trained on:
     * by name when the file records them, by count otherwise (a timm file).
     */
    public static void requireSameClasses(Optional<List<String>> model, int modelClasses, List<String> data, String dataName) {
        if (model.isPresent() && !model.get().equals(data))
            throw new IllegalArgumentException("the model's classes " + shorten(model.get()) + " are not " + dataName + "'s "
                    + shorten(data) + "; evaluate it on the dataset it was trained on (or fine-tune it with --finetune-from)");
        if (model.isEmpty() && modelClasses != data.size())
            throw new IllegalArgumentException("the model has " + modelClasses + " classes but " + dataName + " has "
                    + data.size() + "; evaluate it on a dataset with its classes");
    }

    private static String shorten(List<String> names) {
        return names.size() <= 12 ? names.toString()
                : names.subList(0, 12).toString().replace("]", ", ... (" + names.size() + " classes)]");
    }
}
