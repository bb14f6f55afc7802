package vit22b.mesh.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.backend.cpu.CpuBackend;
import vit22b.graph.Axis;
import vit22b.graph.Mesh;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/**
 * What a rank does when others misbehave, with real sockets on loopback: the rendezvous keeps
 * accepting past a connection that never says hello, and still names a missing rank within
 * its timeout; a link receive fails within its timeout naming a silent peer; a peer process
 * that dies in the middle of a step makes the next receive fail at once, naming it.
 */
class LinkFailureTest {

    @Test void aSilentConnectionDoesNotStallTheRendezvous() throws Exception {
        int port = MultiProcessTest.freePort();
        long seed = System.nanoTime();
        System.out.println("payload seed " + seed);
        byte[] payload = new byte[300];
        new java.util.Random(seed).nextBytes(payload);
        var master = async(() -> Rendezvous.meet(
                new LaunchEnv(0, 3, 0, "127.0.0.1", port, "torchrun"), 40000, payload, Duration.ofSeconds(20)));
        long t0 = System.nanoTime();
        try (Socket silent = connectWhenListening(port)) {   // connects first and never writes a byte
            var one = async(() -> Rendezvous.meet(
                    new LaunchEnv(1, 3, 1, "127.0.0.1", port, "torchrun"), 40001, new byte[0], Duration.ofSeconds(20)));
            var two = async(() -> Rendezvous.meet(
                    new LaunchEnv(2, 3, 2, "127.0.0.1", port, "torchrun"), 40002, new byte[0], Duration.ofSeconds(20)));
            assertArrayEquals(payload, one.get(20, TimeUnit.SECONDS).payload());
            assertArrayEquals(payload, two.get(20, TimeUnit.SECONDS).payload());
            assertEquals(new Rendezvous.Peer("127.0.0.1", 40002), master.get(20, TimeUnit.SECONDS).peers().get(2));
        }
        double took = (System.nanoTime() - t0) / 1e9;
        // Sequential hellos would have waited out the silent connection's read timeout first.
        assertTrue(took * 1000 < Rendezvous.HELLO_MS, "the rendezvous took " + took + " s behind a silent connection");
    }

    @Test void aSilentConnectionAndAMissingRankFailWithinTheTimeoutNamingTheRank() throws Exception {
        int port = MultiProcessTest.freePort();
        var master = async(() -> {
            try {
                Rendezvous.meet(new LaunchEnv(0, 3, 0, "127.0.0.1", port, "torchrun"), 1, new byte[0], Duration.ofSeconds(2));
                return "no error";
            } catch (IllegalStateException e) {
                return e.getMessage();
            }
        });
        long t0 = System.nanoTime();
        try (Socket silent = connectWhenListening(port)) {
            async(() -> {
                try {
                    Rendezvous.meet(new LaunchEnv(1, 3, 1, "127.0.0.1", port, "torchrun"), 1, new byte[0], Duration.ofSeconds(2));
                } catch (IllegalStateException expected) {
                    // rank 0 tells rank 1 the rendezvous failed
                }
                return null;
            });
            String err = master.get(10, TimeUnit.SECONDS);
            double took = (System.nanoTime() - t0) / 1e9;
            assertTrue(err.contains("rank 2 of 3 did not join"), err);
            assertFalse(err.contains("\n"), "one line: " + err);
            assertTrue(took < 4, "failed after " + took + " s with a 2 s timeout");
        }
    }

    @Test void aReceiveFromASilentPeerFailsWithinTheTimeoutNamingIt() throws Exception {
        long seed = System.nanoTime();
        System.out.println("link seed " + seed);
        SocketLink[] links = pair(1000);
        try {
            float[] data = Check.randn(seed, 257, 1.0);
            links[1].send(0, MemorySegment.ofArray(data));
            float[] got = new float[data.length];
            links[0].recv(1, MemorySegment.ofArray(got));
            assertArrayEquals(data, got, "a message arrives intact");
            long t0 = System.nanoTime();
            var e = assertThrows(IllegalStateException.class, () -> links[0].recv(1, MemorySegment.ofArray(got)));
            double took = (System.nanoTime() - t0) / 1e9;
            assertTrue(e.getMessage().startsWith("rank 0 waited 1 s for data from rank 1, which sent nothing")
                    && e.getMessage().contains("raise --timeout"), e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line");
            assertTrue(took > 0.9 && took < 3, "failed after " + took + " s with a 1 s timeout");
        } finally {
            for (SocketLink l : links) l.close();
        }
    }

    @Test void aPeerProcessThatDiesMidStepIsNamed(@TempDir Path dir) throws Exception {
        long seed = System.nanoTime();
        int n = 1000, port = MultiProcessTest.freePort();
        System.out.println("dying peer seed " + seed);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder pb = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), DyingRank.class.getName(), Long.toString(seed),
                Integer.toString(n));
        pb.environment().putAll(Map.of("RANK", "1", "WORLD_SIZE", "2", "MASTER_ADDR", "127.0.0.1",
                "MASTER_PORT", Integer.toString(port)));
        Path log = dir.resolve("rank1.log");
        pb.redirectErrorStream(true).redirectOutput(log.toFile());
        Process rank1 = pb.start();
        try (ProcessGroup pg = ProcessGroup.join(new Mesh(1, 2), new LaunchEnv(0, 2, 0, "127.0.0.1", port, "torchrun"),
                Duration.ofSeconds(60));
             CpuBackend be = new CpuBackend()) {
            Tensor send = be.allocate(n), recv = be.allocate(n);
            be.upload(send, Check.randn(seed + 1, n, 1.0));
            pg.comm().shift(Axis.MODEL, send, recv).await();
            assertArrayEquals(Check.randn(seed, n, 1.0), be.download(recv), "the first step's data from rank 1");
            assertTrue(rank1.waitFor(30, TimeUnit.SECONDS), "rank 1 did not die");
            assertEquals(3, rank1.exitValue(), Files.readString(log));
            long t0 = System.nanoTime();
            var e = assertThrows(IllegalStateException.class, () -> pg.comm().shift(Axis.MODEL, send, recv).await());
            double took = (System.nanoTime() - t0) / 1e9;
            // The send may still fit in the socket's buffer (then the receive sees the closed connection) or not.
            assertTrue(e.getMessage().contains("rank 1 closed its connection") || e.getMessage().contains("cannot send to rank 1"),
                    e.getMessage());
            assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
            assertTrue(took < 5, "took " + took + " s to notice a closed connection (the timeout is 60 s)");
        } finally {
            rank1.destroyForcibly();
        }
    }

    /** On a thread of its own (the common pool may have a single thread on a small machine). */
    private static <T> CompletableFuture<T> async(java.util.function.Supplier<T> body) {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                f.complete(body.get());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        });
        return f;
    }

    /** Ranks 0 and 1 linked over loopback, with a receive timeout of {@code timeoutMs}. */
    private static SocketLink[] pair(long timeoutMs) throws Exception {
        try (ServerSocket l0 = new ServerSocket(0); ServerSocket l1 = new ServerSocket(0)) {
            List<Rendezvous.Peer> where = List.of(new Rendezvous.Peer("127.0.0.1", l0.getLocalPort()),
                    new Rendezvous.Peer("127.0.0.1", l1.getLocalPort()));
            var one = async(() -> SocketLink.connect(1, Set.of(0), where, l1, 10_000));
            SocketLink zero = SocketLink.connect(0, Set.of(1), where, l0, timeoutMs);
            return new SocketLink[]{zero, one.get(15, TimeUnit.SECONDS)};
        }
    }

    /** A connection to the master's port once it listens (it starts on another thread). */
    private static Socket connectWhenListening(int port) throws IOException, InterruptedException {
        for (int i = 0; ; i++) {
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress("127.0.0.1", port), 1000);
                return s;
            } catch (IOException e) {
                s.close();
                if (i > 100) throw e;
                Thread.sleep(50);
            }
        }
    }
}
