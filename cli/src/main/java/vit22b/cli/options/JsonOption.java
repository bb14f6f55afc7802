package vit22b.cli.options;

import java.io.PrintWriter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import picocli.CommandLine.Option;

/** {@code --json}: a reporting command prints one JSON object on standard output instead of text. */
public final class JsonOption {
    public static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Option(names = "--json", description = "Print one JSON object on standard output instead of text "
            + "(progress and the backend line go to standard error).")
    public boolean json;

    public static ObjectNode object() { return MAPPER.createObjectNode(); }

    /** Writes {@code value} (a tree, record, map...) as indented JSON and a newline. */
    public static void print(PrintWriter out, Object value) {
        try {
            out.println(MAPPER.writeValueAsString(value));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write JSON: " + e.getMessage(), e);
        }
        out.flush();
    }
}
