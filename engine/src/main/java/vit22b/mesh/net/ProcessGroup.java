package vit22b.mesh.net;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.Map;
import java.util.TreeSet;

import vit22b.graph.Axis;
import vit22b.graph.Communicator;
import vit22b.graph.Mesh;
import vit22b.mesh.RingCommunicator;

/**
 * This process as one device of a mesh spanning processes and hosts: its launcher environment,
 * the rendezvous, TCP links to its ring neighbours on both axes and a {@link RingCommunicator}
 * over them (the same ring algorithms as the CPU-thread mesh). Mesh rank = launcher rank.
 */
public final class ProcessGroup implements AutoCloseable {
    private final LaunchEnv env;
    private final SocketLink link;
    private final RingCommunicator comm;

    private ProcessGroup(LaunchEnv env, Mesh mesh, SocketLink link) {
        this.env = env;
        this.link = link;
        this.comm = new RingCommunicator(mesh, env.rank(), link);
    }

    /** Joins the job described by the environment as its device {@code RANK} of {@code mesh}. */
    public static ProcessGroup join(Mesh mesh, Map<String, String> environment, Duration timeout) {
        return join(mesh, LaunchEnv.from(environment), timeout);
    }

    public static ProcessGroup join(Mesh mesh, LaunchEnv env, Duration timeout) {
        env.checkMesh(mesh);
        try (ServerSocket listener = new ServerSocket()) {
            listener.bind(new InetSocketAddress(0));
            Rendezvous.Result met = Rendezvous.meet(env, listener.getLocalPort(), new byte[0], timeout);
            TreeSet<Integer> peers = new TreeSet<>();
            for (Axis a : Axis.values())
                for (int s : new int[]{-1, 1}) peers.add(mesh.neighbour(a, env.rank(), s));
            peers.remove(env.rank());
            return new ProcessGroup(env, mesh, SocketLink.connect(env.rank(), peers, met.peers(), listener, timeout.toMillis()));
        } catch (IOException e) {
            throw new IllegalStateException("rank " + env.rank() + " cannot open a TCP listener: " + e.getMessage(), e);
        }
    }

    public LaunchEnv env() { return env; }

    public Communicator comm() { return comm; }

    /** Closes the links: peers still waiting on this rank fail naming it. */
    @Override public void close() { link.close(); }
}
