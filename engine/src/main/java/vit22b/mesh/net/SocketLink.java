package vit22b.mesh.net;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import vit22b.mesh.Link;

/**
 * One process's wires to the ranks it exchanges data with (its ring neighbours), over TCP: one
 * connection per peer, length-prefixed messages in native byte order (every supported host is
 * little-endian). A reader thread per connection drains incoming messages into a queue, so a
 * send never waits for the receiver, as the ring algorithms need. When a peer's connection
 * ends, receives from it fail naming that rank; a receive that waits longer than the link's
 * timeout fails too, naming the silent peer (a hung process or a dead host closes nothing, so
 * without it the rank would wait forever).
 */
public final class SocketLink implements Link, AutoCloseable {
    private static final byte[] CLOSED = new byte[0];

    private final int rank;
    private final long recvTimeoutMs;
    private final Map<Integer, Conn> conns = new HashMap<>();
    private final BlockingQueue<byte[]> self = new LinkedBlockingQueue<>();
    private volatile boolean closing;

    private record Conn(Socket socket, DataOutputStream out, BlockingQueue<byte[]> in, String[] why) {}

    private SocketLink(int rank, long recvTimeoutMs) {
        this.rank = rank;
        this.recvTimeoutMs = recvTimeoutMs;
    }

    /**
     * Connects rank {@code rank} to {@code peers} (ranks other than itself): it dials the higher
     * ranks' listeners and accepts the lower ranks on {@code listener}, within {@code timeoutMs};
     * afterwards a receive fails when its peer has sent nothing for {@code timeoutMs}.
     */
    public static SocketLink connect(int rank, Set<Integer> peers, List<Rendezvous.Peer> where, ServerSocket listener,
                                     long timeoutMs) {
        if (timeoutMs <= 0) throw new IllegalArgumentException("link timeout must be positive, got " + timeoutMs + " ms");
        SocketLink link = new SocketLink(rank, timeoutMs);
        long deadline = System.currentTimeMillis() + timeoutMs;
        try {
            for (int p : peers) if (p > rank) {
                Socket s = new Socket();
                Rendezvous.Peer at = where.get(p);
                try {
                    s.connect(new InetSocketAddress(at.host(), at.port()), (int) Math.max(1, deadline - System.currentTimeMillis()));
                } catch (IOException e) {
                    s.close();
                    throw new IllegalStateException("rank " + rank + " cannot connect to rank " + p + " at " + at.host() + ":"
                            + at.port() + " (" + e.getMessage() + "): is a firewall between the hosts?");
                }
                DataOutputStream o = new DataOutputStream(s.getOutputStream());
                o.writeInt(rank);
                o.flush();
                link.add(p, s);
            }
            long lower = peers.stream().filter(p -> p < rank).count();
            for (int n = 0; n < lower; n++) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) throw new SocketTimeoutException();
                listener.setSoTimeout((int) left);
                Socket s = listener.accept();
                s.setSoTimeout((int) Math.max(1, left));
                int p = new DataInputStream(s.getInputStream()).readInt();
                s.setSoTimeout(0);
                if (!peers.contains(p) || p >= rank || link.conns.containsKey(p)) {
                    s.close();
                    throw new IllegalStateException("rank " + rank + " got a connection from rank " + p + ", which is not one of its "
                            + "lower ring neighbours " + peers + ": two jobs on one MASTER_PORT?");
                }
                link.add(p, s);
            }
            return link;
        } catch (SocketTimeoutException e) {
            link.close();
            List<Integer> missing = peers.stream().filter(p -> p < rank && !link.conns.containsKey(p)).toList();
            throw new IllegalStateException("rank " + rank + ": rank(s) " + missing + " did not connect within " + timeoutMs / 1000
                    + " s after the rendezvous: see their logs");
        } catch (IOException e) {
            link.close();
            throw new IllegalStateException("rank " + rank + ": connecting to the ring neighbours failed: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            link.close();
            throw e;
        }
    }

    private void add(int peer, Socket s) throws IOException {
        s.setTcpNoDelay(true);
        BlockingQueue<byte[]> q = new LinkedBlockingQueue<>();
        String[] why = new String[1];
        Conn c = new Conn(s, new DataOutputStream(new BufferedOutputStream(s.getOutputStream(), 1 << 16)), q, why);
        conns.put(peer, c);
        DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream(), 1 << 16));
        Thread.ofPlatform().daemon().name("link-" + rank + "-from-" + peer).start(() -> {
            try {
                while (true) {
                    byte[] m = new byte[in.readInt()];
                    in.readFully(m);
                    q.add(m);
                }
            } catch (IOException e) {
                why[0] = closing ? "this rank closed its links" : "rank " + peer + " closed its connection (it failed or exited: see its log)";
                q.add(CLOSED);
            }
        });
    }

    @Override public void send(int to, MemorySegment src) {
        byte[] m = src.toArray(ValueLayout.JAVA_BYTE);
        if (to == rank) {
            self.add(m);
            return;
        }
        Conn c = conn(to);
        try {
            synchronized (c) {
                c.out().writeInt(m.length);
                c.out().write(m);
                c.out().flush();
            }
        } catch (IOException e) {
            throw new IllegalStateException("rank " + rank + " cannot send to rank " + to + ": " + e.getMessage()
                    + " (it failed or exited: see its log)", e);
        }
    }

    @Override public void recv(int from, MemorySegment dst) {
        BlockingQueue<byte[]> q = from == rank ? self : conn(from).in();
        byte[] m;
        try {
            m = q.poll(recvTimeoutMs, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("rank " + rank + " interrupted waiting for rank " + from, e);
        }
        if (m == null)
            throw new IllegalStateException("rank " + rank + " waited " + seconds(recvTimeoutMs) + " s for data from rank " + from
                    + ", which sent nothing: rank " + from + " is stuck or its host is down (see its log); if its steps are "
                    + "legitimately that slow, raise --timeout");
        if (m == CLOSED) {
            q.add(CLOSED);
            throw new IllegalStateException("rank " + rank + " stopped waiting for rank " + from + ": " + conn(from).why()[0]);
        }
        if (m.length != dst.byteSize())
            throw new IllegalStateException("rank " + rank + " expected " + dst.byteSize() / Float.BYTES + " floats from rank " + from
                    + " but got " + m.length / Float.BYTES + ": collectives issued in different orders");
        MemorySegment.copy(MemorySegment.ofArray(m), 0, dst, 0, m.length);
    }

    private static String seconds(long ms) { return ms % 1000 == 0 ? Long.toString(ms / 1000) : String.format(java.util.Locale.ROOT, "%.1f", ms / 1e3); }

    private Conn conn(int peer) {
        Conn c = conns.get(peer);
        if (c == null)
            throw new IllegalStateException("rank " + rank + " has no connection to rank " + peer + ": only ring neighbours are connected");
        return c;
    }

    @Override public void close() {
        closing = true;
        for (Conn c : conns.values()) Rendezvous.closeQuietly(c.socket());
    }
}
