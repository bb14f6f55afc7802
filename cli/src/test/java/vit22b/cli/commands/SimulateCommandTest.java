package vit22b.cli.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;

import org.junit.jupiter.api.Test;

import vit22b.cli.Main;

class SimulateCommandTest {
    @Test void printsTheStepAndThePapersNumbers() {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf));
        int rc;
        try {
            rc = Main.commandLine().execute("simulate", "--model", "vit-22b", "--chips", "1024", "--chip", "tpuv4",
                    "--mesh", "256x4", "--batch", "65536", "--json");
        } finally {
            System.setOut(old);
        }
        String out = buf.toString();
        assertEquals(0, rc, out);
        assertTrue(out.contains("\"mfu\"") && out.contains("\"paper_mfu\" : 0.549") && out.contains("\"mesh\" : \"256x4\""), out);
    }

    @Test void aMeshThatDoesNotMatchTheChipsIsRefused() {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("simulate", "--model", "vit-22b", "--chips", "1024", "--mesh", "32x16");
        assertEquals(2, rc);
        assertTrue(err.toString().contains("error: mesh 32x16 has 512 devices but --chips is 1024"), err.toString());
    }
}
