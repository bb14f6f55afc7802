package vit22b.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static vit22b.cli.Fixtures.vit;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import vit22b.model.ModelConfig;
import vit22b.train.Weights;

/**
 * The shared vocabulary of every command: --weights (a checkpoint and a timm file of the same
 * weights give identical numbers), --json (parses), --backend, exit codes, help without warnings.
 */
class CommonOptionsTest {
    static final long SEED = 20261129L;
    @TempDir static Path dir;
    static Path ckpt, timm, data;

    @BeforeAll static void files() throws Exception {
        System.out.println("CommonOptionsTest seed " + SEED);
        ckpt = Fixtures.checkpoint(dir, SEED);
        Weights.Host h = Weights.read(ckpt);
        timm = Fixtures.timmFile(dir, h.config(), h.params());
        ModelConfig c = h.config();
        data = Fixtures.folderDataset(dir.resolve("data"), c.classes(), 6, c.imageSize(), SEED + 1);
    }

    static JsonNode json(Fixtures.Run r) throws Exception {
        assertEquals(0, r.code(), r.err());
        return new ObjectMapper().readTree(r.out());
    }

    /** The same command with the checkpoint (under --ckpt, the alias) and the timm file (under --weights). */
    private static JsonNode[] bothFiles(String cmd, String... args) throws Exception {
        List<String> a = new ArrayList<>(List.of(cmd, "--ckpt", ckpt.toString(), "--json", "--backend", "cpu"));
        a.addAll(List.of(args));
        JsonNode fromCkpt = json(vit(a.toArray(String[]::new)));
        a.set(1, "--weights");
        a.set(2, timm.toString());
        JsonNode fromTimm = json(vit(a.toArray(String[]::new)));
        return new JsonNode[] {fromCkpt, fromTimm};
    }

    @Test void evalReadsCheckpointAndTimmFileAlike() throws Exception {
        JsonNode[] j = bothFiles("eval", "--data", data.toString());
        assertEquals(30, j[0].get("images").asInt());
        double acc = j[0].get("accuracy").asDouble(), loss = j[0].get("loss").asDouble();
        assertTrue(acc >= 0 && acc <= 1 && loss > 0, j[0].toString());
        assertEquals(acc, j[1].get("accuracy").asDouble());
        assertEquals(loss, j[1].get("loss").asDouble());
    }

    @Test void probeReadsBoth() throws Exception {
        JsonNode[] j = bothFiles("probe", "--data", data.toString(), "--epochs", "2", "--batch", "8");
        assertEquals(16, j[0].get("features").asInt());
        assertEquals(j[0].get("test_accuracy").asDouble(), j[1].get("test_accuracy").asDouble());
    }

    @Test void fewshotReadsBoth() throws Exception {
        JsonNode[] j = bothFiles("fewshot", "--data", data.toString(), "--shots", "1,2", "--seeds", "2");
        assertEquals(2, j[0].get("results").size());
        assertEquals(j[0].get("results"), j[1].get("results"));
    }

    @Test void predictReadsBoth() throws Exception {
        JsonNode[] j = bothFiles("predict", "--image", data.resolve("test").toString(), "--top", "2");
        assertEquals(30, j[0].get("images").size());
        assertEquals(j[0].get("images"), j[1].get("images"));
    }

    @Test void reportingCommandsPrintParsableJson() throws Exception {
        assertEquals("vit-b", json(vit("info", "--model", "vit-s", "--model", "vit-b", "--json")).get("model").asText(),
                "a repeated option takes its last value");
        assertEquals("64x16", json(vit("simulate", "--model", "vit-22b", "--chips", "1024", "--mesh", "64x16", "--json"))
                .get("mesh").asText());
        assertTrue(json(vit("doctor", "--json")).get("findings").size() > 0);
        JsonNode b = json(vit("bench", "--backend", "cpu", "--model", "test-tiny", "--batch", "2", "--steps", "1",
                "--warmup", "0", "--json"));
        assertEquals("cpu", b.get("backend").asText());
        assertTrue(b.get("images_per_second").asDouble() > 0 && b.get("fraction_of_sgemm").asDouble() > 0, b.toString());
    }

    @Test void unknownBackendIsAUsageErrorNamingIt() {
        for (String cmd : new String[] {"eval", "probe", "fewshot", "predict"}) {
            var r = cmd.equals("predict") ? vit(cmd, "--weights", timm.toString(), "--image", timm.toString(), "--backend", "tpu")
                    : vit(cmd, "--weights", timm.toString(), "--data", data.toString(), "--backend", "tpu");
            assertEquals(2, r.code(), cmd + ": " + r.err());
            assertTrue(r.err().contains("unknown backend 'tpu'"), r.err());
        }
        var r = vit("bench", "--model", "test-tiny", "--batch", "1", "--backend", "tpu");
        assertEquals(2, r.code(), r.err());
    }

    @Test void exitCodesAndDebug() {
        var none = vit();
        assertEquals(2, none.code());
        var unknown = vit("experimentz");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("'experimentz'"), unknown.err());
        var opt = vit("info", "--model", "vit-s", "--colour");
        assertEquals(2, opt.code());
        assertTrue(opt.err().contains("--colour"), opt.err());
        Path missing = dir.resolve("missing.safetensors");
        var rt = vit("predict", "--weights", missing.toString(), "--image", timm.toString());
        assertEquals(1, rt.code(), "a missing file is a runtime error: " + rt.err());
        assertTrue(rt.err().contains(missing.toString()) && !rt.err().contains("\tat "), rt.err());
        var dbg = vit("predict", "--weights", missing.toString(), "--image", timm.toString(), "--debug");
        assertEquals(1, dbg.code());
        assertTrue(dbg.err().contains("\tat vit22b."), "--debug prints the stack trace: " + dbg.err());
    }

    /** Any command with subcommands (vit, and groups added later): none or an unknown one is a usage error. */
    @Test void parentCommandsRefuseMissingAndUnknownSubcommands() {
        for (CommandLine cl : commands(Main.commandLine())) {
            if (cl.getSubcommands().isEmpty()) continue;
            List<String> path = new ArrayList<>(List.of(cl.getCommandSpec().qualifiedName().split(" ")));
            path.removeFirst();
            var none = vit(path.toArray(String[]::new));
            assertEquals(2, none.code(), cl.getCommandName() + " without a subcommand: " + none.out() + none.err());
            path.add("no-such-command");
            var unknown = vit(path.toArray(String[]::new));
            assertEquals(2, unknown.code(), cl.getCommandName() + " no-such-command");
            assertTrue(unknown.err().contains("no-such-command"), unknown.err());
        }
    }

    /** Every command, ours and those added later, recursively. */
    private static List<CommandLine> commands(CommandLine cl) {
        List<CommandLine> all = new ArrayList<>(List.of(cl));
        for (CommandLine sub : cl.getSubcommands().values()) all.addAll(commands(sub));
        return all;
    }

    @Test void helpHasNoPicocliWarningAndEveryOptionIsDescribedWithItsDefault() {
        PrintStream old = System.err;
        var captured = new ByteArrayOutputStream();
        List<String> problems = new ArrayList<>();
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));   // picocli's tracer writes here
            for (CommandLine cl : commands(Main.commandLine())) {
                String name = cl.getCommandSpec().qualifiedName();
                String usage = cl.getUsageMessage();
                if (usage.contains("WARN")) problems.add(name + ": usage contains a warning");
                var help = vit((name.replaceFirst("^vit ?", "") + " --help").trim().split(" "));
                if (help.code() != 0) problems.add(name + " --help exits " + help.code());
                CommandSpec spec = cl.getCommandSpec();
                for (OptionSpec o : spec.options()) {
                    String d = String.join(" ", o.description()).trim();
                    boolean flag = o.type() == boolean.class || o.type() == Boolean.class || o.usageHelp() || o.versionHelp();
                    if (d.isEmpty()) problems.add(name + " " + o.longestName() + ": no description");
                    else if (!flag && !o.required() && o.defaultValue() == null && !d.toLowerCase(Locale.ROOT).contains("default"))
                        problems.add(name + " " + o.longestName() + ": neither a default value nor a description of it");
                }
            }
        } finally {
            System.setErr(old);
        }
        String err = captured.toString(StandardCharsets.UTF_8);
        assertFalse(err.contains("picocli WARN"), err);
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }
}
