package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;

import picocli.CommandLine;
import vit22b.cli.Main;

class InfoCommandTest {

    private record Run(int code, String out, String err) {}

    private static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test void jsonForVit22bHasThePartsAndTable1() throws Exception {
        Run r = run("info", "--model", "vit-22b", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        long backbone = j.at("/parameters/backbone").asLong(), head = j.at("/parameters/map_head").asLong();
        assertEquals(backbone + head, j.at("/parameters/total").asLong());
        assertEquals(48 * 453_021_952L + 6144 * (3 * 14 * 14 + 1) + 256 * 6144 + 6144, backbone);
        assertEquals(22_165_000_000L, j.at("/paper/params").asLong());
        assertEquals(backbone + head, j.at("/paper/ours").asLong());
        assertTrue(Math.abs(j.at("/paper/relative_difference").asDouble()) < 0.005);
        assertEquals("[\"backbone\",\"map_head\"]", j.at("/paper/counted").toString());
        long fwd = j.at("/flops_per_image/forward").asLong();
        assertTrue(fwd > 0);
        assertEquals(3 * fwd, j.at("/flops_per_image/training").asLong());
        assertEquals(16 * (backbone + head), j.at("/memory_bytes/fp32/total").asLong());
        assertEquals(18 * (backbone + head), j.at("/memory_bytes/bf16_fp32_master/total").asLong());
    }

    @Test void textForVitGStatesWhatTable1Counts() {
        Run r = run("info", "--model", "vit-g");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("1,843.0M counting backbone; ours 1,842.2M (-0.04%)"), r.out());
        assertTrue(r.out().contains("sequential"), r.out());
    }

    @Test void changedSizesDropTheTable1Comparison() throws Exception {
        Run r = run("info", "--model", "vit-e", "--classes", "1000", "--image-size", "70", "--patch", "10", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertTrue(j.path("paper").isMissingNode());
        assertEquals(49, j.at("/config/tokens").asInt());
        assertEquals(1000 * 1792 + 1000, j.at("/parameters/classifier").asLong());
    }

    @Test void unknownModelIsAClearError() {
        Run r = run("info", "--model", "vit-zz");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("error: unknown model 'vit-zz'"), r.err());
    }
}
