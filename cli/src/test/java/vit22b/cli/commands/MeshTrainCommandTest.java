package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.ObjectMapper;

import vit22b.cli.Main;

class MeshTrainCommandTest {
    @Test void trainsOnAMeshOfThreadsAndWritesATrace(@TempDir Path dir) throws Exception {
        StringWriter buf = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(buf));
        Path trace = dir.resolve("t.json");
        int rc = cl.execute("mesh-train", "--mesh", "2x2", "--steps", "2", "--trace", trace.toString());
        String out = buf.toString();
        assertEquals(0, rc, out);
        assertTrue(out.contains("step 2  loss") && out.contains("device 3: communication"), out);
        assertTrue(new ObjectMapper().readTree(Files.readString(trace)).get("traceEvents").size() > 100, "trace events");
    }

    @Test void aMeshThatCannotShardTheModelIsAUsageError() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("mesh-train", "--mesh", "1x3");
        assertEquals(2, rc);
        assertTrue(err.toString().contains("model axis 3 does not divide the 4 heads"), err.toString());
    }
}
