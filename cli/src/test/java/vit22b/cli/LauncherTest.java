package vit22b.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ./vit launcher, copied into a scratch tree whose Maven and Java are stand-ins: launches
 * that start together while the jar is stale build once (the others wait on the build lock), and
 * all of them run.
 */
class LauncherTest {
    private static final Path REPO = Path.of("").toAbsolutePath().getParent();   // tests run in cli/

    @Test void concurrentLaunchesBuildOnce(@TempDir Path root) throws Exception {
        Files.copy(REPO.resolve("vit"), root.resolve("vit"));
        Files.createDirectories(root.resolve("scripts"));
        Files.copy(REPO.resolve("scripts/jvm.sh"), root.resolve("scripts/jvm.sh"));
        Files.writeString(root.resolve("pom.xml"), "<project/>");
        Files.createDirectories(root.resolve("cli/src/main"));
        Files.writeString(root.resolve("cli/src/main/A.java"), "class A {}");
        Path bin = Files.createDirectories(root.resolve("bin")), jdk = root.resolve("jdk");
        // Maven: a slow build (long enough for every launch to see the stale jar) that counts itself.
        script(bin.resolve("mvn"), "echo build >> \"" + root.resolve("builds.log") + "\"; sleep 2; "
                + "mkdir -p cli/target; touch cli/target/vit.jar");
        script(Files.createDirectories(jdk.resolve("bin")).resolve("java"),
                "case \"$*\" in *-version*) echo 'openjdk version \"25\" 2025-09-16' >&2 ;; *) echo \"ran $*\" ;; esac");

        List<Process> launches = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            var pb = new ProcessBuilder("bash", root.resolve("vit").toString(), "info").directory(root.toFile());
            pb.environment().put("PATH", bin + ":" + System.getenv("PATH"));
            pb.environment().put("JAVA_HOME", jdk.toString());
            launches.add(pb.start());
        }
        for (Process p : launches) {
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "a launch hung");
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), out + err);
            assertTrue(out.contains("ran ") && out.contains("-jar " + root.resolve("cli/target/vit.jar") + " info"), out + err);
        }
        assertEquals(List.of("build"), Files.readAllLines(root.resolve("builds.log")), "three launches, one build");
    }

    private static void script(Path file, String body) throws Exception {
        Files.writeString(file, "#!/usr/bin/env bash\n" + body + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
