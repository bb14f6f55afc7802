package vit22b.mesh.net;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The job's meeting point: rank 0 listens on MASTER_ADDR:MASTER_PORT, every other rank
 * connects and says its rank, the world size and the port of its data listener; rank 0 answers
 * each with every rank's address (the host it saw the connection come from) and rank 0's
 * payload (bytes every rank needs, e.g. NCCL's unique id). A rank that does not arrive within
 * the timeout fails the whole job with one line naming it.
 */
public final class Rendezvous {
    private static final int MAGIC = 0x56695432;   // "ViT2"
    private static final byte OK = 0, FAILED = 1;
    /** How long a connection may take to say hello: a rank sends it as soon as it connects. */
    static final long HELLO_MS = 10_000;

    private Rendezvous() {}

    /** Where a rank's data listener is. */
    public record Peer(String host, int port) {}

    /** Every rank's listener (index = rank) and rank 0's payload. */
    public record Result(List<Peer> peers, byte[] payload) {}

    /**
     * Meets the other ranks. {@code dataPort} is this rank's data listener; {@code payload} is
     * sent by rank 0 (ignored elsewhere). Throws IllegalStateException with one line on a missing
     * or inconsistent rank, IllegalArgumentException when the master port is taken.
     */
    public static Result meet(LaunchEnv env, int dataPort, byte[] payload, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        return env.rank() == 0 ? host(env, dataPort, payload, timeout, deadline) : join(env, dataPort, timeout, deadline);
    }

    /** A rank's greeting: who it says it is, on which connection. */
    private record Hello(Socket socket, int rank, int world, int port) {}

    private static Result host(LaunchEnv env, int dataPort, byte[] payload, Duration timeout, long deadline) {
        int world = env.worldSize();
        Socket[] joined = new Socket[world];
        Peer[] peers = new Peer[world];
        peers[0] = new Peer(env.masterAddr(), dataPort);
        BlockingQueue<Hello> hellos = new LinkedBlockingQueue<>();
        boolean[] over = {false};   // guarded by hellos
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            try {
                server.bind(new InetSocketAddress(env.masterPort()));
            } catch (BindException e) {
                throw new IllegalArgumentException("MASTER_PORT " + env.masterPort() + " is in use on this host (another job's master?): "
                        + "set MASTER_PORT to a free port on every rank");
            }
            // Each connection says hello on its own thread, so that one that never does (a half-open
            // connection, a port scanner) costs the others nothing; closing the server ends the acceptor.
            Thread acceptor = Thread.ofVirtual().name("rendezvous-accept").start(() -> acceptHellos(server, hellos, over, deadline));
            String error = null;
            int arrived = 1;
            try {
                while (arrived < world && error == null) {
                    long left = deadline - System.nanoTime();
                    Hello h = left <= 0 ? null : hellos.poll(left, TimeUnit.NANOSECONDS);
                    if (h == null) break;
                    int rank = h.rank();
                    if (h.world() != world) error = "rank " + rank + " has WORLD_SIZE " + h.world() + " but rank 0 has " + world
                            + ": give every rank the same WORLD_SIZE";
                    else if (rank <= 0 || rank >= world) error = "a process says it is rank " + rank + " of " + world
                            + ": ranks run from 0 to " + (world - 1) + " and only one process may be rank 0";
                    else if (joined[rank] != null) error = "two processes say they are rank " + rank
                            + ": give every process its own RANK/SLURM_PROCID";
                    if (error == null) {
                        joined[rank] = h.socket();
                        peers[rank] = new Peer(h.socket().getInetAddress().getHostAddress(), h.port());
                        arrived++;
                    } else {
                        replyQuietly(h.socket(), error);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                error = "rank 0 was interrupted during the rendezvous";
            } finally {
                closeQuietly(server);
                acceptor.interrupt();
                List<Hello> late = new ArrayList<>();
                synchronized (hellos) {   // a hello read from now on is closed by its reader (see acceptHellos)
                    over[0] = true;
                    hellos.drainTo(late);
                }
                for (Hello h : late)
                    if (error != null) replyQuietly(h.socket(), error);
                    else closeQuietly(h.socket());
            }
            if (error == null && arrived < world) {
                TreeSet<Integer> missing = new TreeSet<>();
                for (int r = 1; r < world; r++) if (joined[r] == null) missing.add(r);
                error = "rendezvous on port " + env.masterPort() + " timed out after " + timeout.toSeconds() + " s: rank"
                        + (missing.size() > 1 ? "s " : " ") + join(missing) + " of " + world + " did not join; start every rank "
                        + "with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE";
            }
            for (int r = 1; r < world; r++) if (joined[r] != null) {
                try {
                    reply(joined[r], error == null ? OK : FAILED, error, peers, payload);
                } catch (IOException e) {
                    if (error == null) error = "rank " + r + " left the rendezvous before it finished: see its log";
                } finally {
                    joined[r].close();
                }
            }
            if (error != null) throw new IllegalStateException(error);
            return new Result(List.of(peers), payload);
        } catch (IOException e) {
            throw new IllegalStateException("rendezvous on port " + env.masterPort() + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * Accepts connections until {@code server} closes; reads each one's hello on a thread of its
     * own, within {@link #HELLO_MS} (or what is left of the rendezvous), and queues the valid ones
     * until the rendezvous is {@code over}.
     */
    private static void acceptHellos(ServerSocket server, BlockingQueue<Hello> hellos, boolean[] over, long deadline) {
        while (!server.isClosed()) {
            Socket s;
            try {
                s = server.accept();
            } catch (IOException e) {
                return;   // the server closed: the rendezvous is over
            }
            Thread.ofVirtual().name("rendezvous-hello").start(() -> {
                try {
                    long left = (deadline - System.nanoTime()) / 1_000_000;
                    s.setSoTimeout((int) Math.max(1, Math.min(HELLO_MS, left)));
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    if (in.readInt() != MAGIC) {
                        s.close();   // not one of ours (a port scanner, another program): ignore it
                        return;
                    }
                    Hello h = new Hello(s, in.readInt(), in.readInt(), in.readInt());
                    synchronized (hellos) {
                        if (!over[0]) {
                            hellos.add(h);
                            return;
                        }
                    }
                    s.close();   // too late: the rendezvous is over; the closed connection fails that rank at once
                } catch (IOException e) {
                    closeQuietly(s);   // silent or dead before its hello: if it was a rank, it shows up as missing
                }
            });
        }
    }

    /** Tells a rank the rendezvous failed, and why; it may already be gone. */
    private static void replyQuietly(Socket s, String error) {
        try {
            reply(s, FAILED, error, null, null);
        } catch (IOException ignored) {
            // the rank left: it fails on its own, and rank 0's error is the one reported
        } finally {
            closeQuietly(s);
        }
    }

    private static Result join(LaunchEnv env, int dataPort, Duration timeout, long deadline) {
        String where = env.masterAddr() + ":" + env.masterPort();
        Socket s = null;
        while (s == null) {   // rank 0 may start later than this rank
            long left = deadline - System.nanoTime();
            if (left <= 0)
                throw new IllegalStateException("rank " + env.rank() + " could not reach the rendezvous at " + where + " within "
                        + timeout.toSeconds() + " s: is rank 0 running, with the same MASTER_ADDR and MASTER_PORT?");
            Socket c = new Socket();
            try {
                c.connect(new InetSocketAddress(env.masterAddr(), env.masterPort()), (int) Math.max(1, Math.min(left / 1_000_000, 2000)));
                s = c;
            } catch (ConnectException | SocketTimeoutException e) {
                closeQuietly(c);
                sleep(100);
            } catch (IOException e) {
                closeQuietly(c);
                throw new IllegalStateException("rank " + env.rank() + " cannot reach the rendezvous at " + where + ": " + e.getMessage()
                        + "; check MASTER_ADDR", e);
            }
        }
        try (Socket c = s) {
            // Rank 0 answers when every rank has arrived or its own timeout has passed: wait a little longer than it.
            c.setSoTimeout((int) Math.max(1000, (deadline - System.nanoTime()) / 1_000_000 + 5000));
            DataOutputStream out = new DataOutputStream(c.getOutputStream());
            out.writeInt(MAGIC);
            out.writeInt(env.rank());
            out.writeInt(env.worldSize());
            out.writeInt(dataPort);
            out.flush();
            DataInputStream in = new DataInputStream(c.getInputStream());
            if (in.readByte() != OK) throw new IllegalStateException(in.readUTF());
            int world = in.readInt();
            List<Peer> peers = new ArrayList<>();
            for (int r = 0; r < world; r++) {
                String host = in.readUTF();
                int port = in.readInt();
                // Rank 0 is known by MASTER_ADDR, which is how this rank reached it.
                peers.add(new Peer(r == 0 ? env.masterAddr() : host, port));
            }
            byte[] payload = new byte[in.readInt()];
            in.readFully(payload);
            return new Result(List.copyOf(peers), payload);
        } catch (EOFException e) {
            throw new IllegalStateException("rank 0 closed the rendezvous at " + where + " without an answer: see rank 0's error");
        } catch (SocketTimeoutException e) {
            throw new IllegalStateException("rank " + env.rank() + " got no answer from the rendezvous at " + where + ": rank 0 is stuck?");
        } catch (IOException e) {
            throw new IllegalStateException("rendezvous at " + where + " failed on rank " + env.rank() + ": " + e.getMessage(), e);
        }
    }

    private static void reply(Socket s, byte status, String error, Peer[] peers, byte[] payload) throws IOException {
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        out.writeByte(status);
        if (status == FAILED) out.writeUTF(error);
        else {
            out.writeInt(peers.length);
            for (Peer p : peers) {
                out.writeUTF(p.host());
                out.writeInt(p.port());
            }
            out.writeInt(payload.length);
            out.write(payload);
        }
        out.flush();
    }

    private static String join(TreeSet<Integer> ranks) {
        StringBuilder b = new StringBuilder();
        for (int r : ranks) b.append(b.isEmpty() ? "" : ", ").append(r);
        return b.toString();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during the rendezvous", e);
        }
    }

    static void closeQuietly(AutoCloseable c) {
        try {
            if (c != null) c.close();
        } catch (Exception ignored) {
            // closing after a failure: the failure is what gets reported
        }
    }
}
