package vit22b.io;

import java.util.Locale;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import vit22b.model.GeluKind;
import vit22b.model.LossKind;
import vit22b.model.ModelConfig;
import vit22b.model.NormKind;
import vit22b.model.Variant;

/** {@link ModelConfig} to and from a flat JSON object (enums in lower case). */
public final class ConfigJson {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ConfigJson() {}

    public static String toJson(ModelConfig c) {
        ObjectNode o = JSON.createObjectNode();
        o.put("name", c.name());
        o.put("width", c.width());
        o.put("depth", c.depth());
        o.put("mlp", c.mlp());
        o.put("heads", c.heads());
        o.put("patch", c.patch());
        o.put("image_size", c.imageSize());
        o.put("channels", c.channels());
        o.put("classes", c.classes());
        o.put("norm", lower(c.norm()));
        o.put("gelu", lower(c.gelu()));
        o.put("loss", lower(c.loss()));
        o.put("head_bias_init", c.headBiasInit());
        o.put("qk_norm", c.variant().qkNorm());
        o.put("parallel", c.variant().parallel());
        o.put("biases", c.variant().biases());
        return o.toString();
    }

    /** Parses {@link #toJson}'s format; a missing or mistyped field is an IllegalArgumentException naming it. */
    public static ModelConfig fromJson(String json) {
        JsonNode o;
        try {
            o = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("model config is not valid JSON: " + e.getOriginalMessage());
        }
        if (o == null || !o.isObject()) throw new IllegalArgumentException("model config is not a JSON object");
        return new ModelConfig(text(o, "name"), integer(o, "width"), integer(o, "depth"), integer(o, "mlp"),
                integer(o, "heads"), integer(o, "patch"), integer(o, "image_size"), integer(o, "channels"),
                integer(o, "classes"), parse(NormKind.class, text(o, "norm")), parse(GeluKind.class, text(o, "gelu")),
                parse(LossKind.class, text(o, "loss")), (float) number(o, "head_bias_init"),
                new Variant(flag(o, "qk_norm", Variant.PAPER.qkNorm()), flag(o, "parallel", Variant.PAPER.parallel()),
                        flag(o, "biases", Variant.PAPER.biases())));
    }

    /** A variant flag; files written before variants existed lack it and hold the paper's block. */
    private static boolean flag(JsonNode o, String k, boolean absent) {
        JsonNode v = o.get(k);
        if (v == null || v.isNull()) return absent;
        if (!v.isBoolean()) throw new IllegalArgumentException("model config field '" + k + "' must be true or false");
        return v.booleanValue();
    }

    public static String lower(Enum<?> e) { return e.name().toLowerCase(Locale.ROOT); }

    /** The constant of {@code type} named {@code s}, case-insensitive; the error lists the choices. */
    public static <E extends Enum<E>> E parse(Class<E> type, String s) {
        for (E e : type.getEnumConstants()) if (e.name().equalsIgnoreCase(s)) return e;
        StringBuilder known = new StringBuilder();
        for (E e : type.getEnumConstants()) known.append(known.isEmpty() ? "" : ", ").append(lower(e));
        throw new IllegalArgumentException("unknown " + type.getSimpleName() + " '" + s + "'; known: " + known);
    }

    private static JsonNode field(JsonNode o, String k) {
        JsonNode v = o.get(k);
        if (v == null || v.isNull()) throw new IllegalArgumentException("model config lacks field '" + k + "'");
        return v;
    }

    private static String text(JsonNode o, String k) {
        JsonNode v = field(o, k);
        if (!v.isTextual()) throw new IllegalArgumentException("model config field '" + k + "' must be a string");
        return v.textValue();
    }

    private static int integer(JsonNode o, String k) {
        JsonNode v = field(o, k);
        if (!v.isIntegralNumber() || !v.canConvertToInt())
            throw new IllegalArgumentException("model config field '" + k + "' must be an integer");
        return v.intValue();
    }

    private static double number(JsonNode o, String k) {
        JsonNode v = field(o, k);
        if (!v.isNumber()) throw new IllegalArgumentException("model config field '" + k + "' must be a number");
        return v.doubleValue();
    }
}
