package vit22b.cli.commands;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * A run's recipe as a file: one key per option of the command (its long name without "--"),
 * holding the resolved value, plus keys derived from the data ({@link #DERIVED}). Read back,
 * it gives every option the command line did not give, so that a file (or a run folder's
 * config.json) replaces retyping the flags and a flag still overrides it.
 */
final class RunConfig {
    private RunConfig() {}

    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    /** Written for the record, compared on resume, never read into an option. */
    static final Set<String> DERIVED = Set.of("architecture", "train_images");
    /** Options that say which run or file, not how to train. */
    private static final Set<String> NOT_SETTINGS = Set.of("resume", "config", "help", "version");

    /** Reads a recipe, JSON or (by its .yaml/.yml name) YAML. */
    static ObjectNode read(Path file) throws IOException {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        ObjectMapper m = name.endsWith(".yaml") || name.endsWith(".yml") ? YAML : JSON;
        JsonNode n;
        try {
            n = m.readTree(Files.readString(file));
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IOException("config " + file + " does not exist; give an existing JSON or YAML file", e);
        } catch (IOException e) {
            throw new IOException("config " + file + " is not valid " + (m == YAML ? "YAML" : "JSON") + ": "
                    + e.getMessage().lines().findFirst().orElse(""), e);
        }
        if (!(n instanceof ObjectNode o))
            throw new IOException("config " + file + " must be one object of settings (\"batch\": 128, ...)");
        return o;
    }

    static String key(OptionSpec o) { return o.longestName().replaceFirst("^-+", ""); }

    /**
     * Sets every option the command line left out from {@code cfg}. Unknown keys and values of
     * the wrong type are errors naming the key. {@code skip} keys are left to the command line.
     */
    static void apply(CommandSpec spec, ObjectNode cfg, Path source, Set<String> skip) {
        ParseResult given = spec.commandLine().getParseResult();
        Map<String, OptionSpec> byKey = new java.util.HashMap<>();
        for (OptionSpec o : spec.options()) byKey.put(key(o), o);
        for (Iterator<Map.Entry<String, JsonNode>> it = cfg.fields(); it.hasNext(); ) {
            var e = it.next();
            String k = e.getKey();
            if (DERIVED.contains(k) || skip.contains(k)) continue;
            OptionSpec o = byKey.get(k);
            if (o == null || NOT_SETTINGS.contains(k))
                throw new IllegalArgumentException("config " + source + ": unknown setting '" + k + "'; remove it (settings are "
                        + "the long names of `vit train --help` without the dashes)");
            if (given.hasMatchedOption(o)) continue;
            try {
                Class<?> type = o.type();
                Object v = e.getValue().isNull() ? null
                        : type == Path.class ? Path.of(e.getValue().asText())
                        : JSON.convertValue(e.getValue(), type);
                o.setValue(v);
            } catch (IllegalArgumentException bad) {
                throw new IllegalArgumentException("config " + source + ": '" + k + "' = " + e.getValue() + " is not a "
                        + o.type().getSimpleName().toLowerCase(Locale.ROOT) + "; fix the value", bad);
            }
        }
    }

    /** Keys whose values differ between two recipes, outside {@code allowed}, as "key (saved X, now Y)". */
    static List<String> differences(JsonNode saved, JsonNode now, Set<String> allowed) {
        Set<String> keys = new TreeSet<>();
        saved.fieldNames().forEachRemaining(keys::add);
        now.fieldNames().forEachRemaining(keys::add);
        List<String> out = new ArrayList<>();
        for (String k : keys) {
            if (allowed.contains(k)) continue;
            JsonNode a = saved.path(k), b = now.path(k);
            if (!a.equals(b)) out.add(k + " (saved " + show(a) + ", now " + show(b) + ")");
        }
        return out;
    }

    private static String show(JsonNode n) { return n.isMissingNode() ? "absent" : n.toString(); }
}
