package vit22b.mesh.net;

import java.util.Map;

import vit22b.graph.Mesh;

/**
 * Where this process sits in a multi-process job, read from the environment the way PyTorch
 * jobs are launched: torchrun-style ({@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK},
 * {@code MASTER_ADDR}, {@code MASTER_PORT}) or Slurm's srun ({@code SLURM_PROCID},
 * {@code SLURM_NTASKS}, {@code SLURM_LOCALID}; the master is {@code MASTER_ADDR} if set, else
 * the first host of {@code SLURM_JOB_NODELIST}). Rank 0 hosts the rendezvous.
 */
public record LaunchEnv(int rank, int worldSize, int localRank, String masterAddr, int masterPort, String launcher) {
    /** torchrun's default port. */
    public static final int DEFAULT_PORT = 29500;

    public LaunchEnv {
        if (worldSize <= 0) throw new IllegalArgumentException("world size " + worldSize + " must be positive");
        if (rank < 0 || rank >= worldSize)
            throw new IllegalArgumentException("rank " + rank + " is out of range for world size " + worldSize
                    + " (ranks 0.." + (worldSize - 1) + "); check RANK/SLURM_PROCID and WORLD_SIZE/SLURM_NTASKS");
        if (masterPort <= 0 || masterPort > 65535)
            throw new IllegalArgumentException("MASTER_PORT " + masterPort + " is not a TCP port (1..65535)");
    }

    /** Reads the launcher's variables from {@code env} (e.g. System.getenv()). */
    public static LaunchEnv from(Map<String, String> env) {
        if (env.containsKey("RANK") || env.containsKey("WORLD_SIZE")) {
            int rank = intVar(env, "RANK"), world = intVar(env, "WORLD_SIZE");
            int local = env.containsKey("LOCAL_RANK") ? intVar(env, "LOCAL_RANK") : rank;
            String master = env.get("MASTER_ADDR");
            if (master == null || master.isBlank())
                throw new IllegalArgumentException("RANK and WORLD_SIZE are set but MASTER_ADDR is not: set MASTER_ADDR to rank 0's host");
            return new LaunchEnv(rank, world, local, master.trim(), port(env), "torchrun");
        }
        if (env.containsKey("SLURM_PROCID")) {
            int rank = intVar(env, "SLURM_PROCID"), world = intVar(env, "SLURM_NTASKS");
            int local = env.containsKey("SLURM_LOCALID") ? intVar(env, "SLURM_LOCALID") : 0;
            String master = env.get("MASTER_ADDR");
            if (master == null || master.isBlank()) {
                String nodes = env.getOrDefault("SLURM_JOB_NODELIST", env.get("SLURM_NODELIST"));
                if (nodes == null || nodes.isBlank())
                    throw new IllegalArgumentException("SLURM_PROCID is set but neither MASTER_ADDR nor SLURM_JOB_NODELIST: "
                            + "run under srun, or export MASTER_ADDR=<first host>");
                master = firstHost(nodes);
            }
            return new LaunchEnv(rank, world, local, master.trim(), port(env), "slurm");
        }
        throw new IllegalArgumentException("no rank in the environment: launch with torchrun-style variables "
                + "(RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or with srun (SLURM_PROCID, SLURM_NTASKS)");
    }

    /** Refuses a job whose process count differs from the mesh's devices (one process per device). */
    public void checkMesh(Mesh mesh) {
        if (worldSize != mesh.devices())
            throw new IllegalArgumentException("WORLD_SIZE is " + worldSize + " but mesh " + mesh + " has " + mesh.devices()
                    + " devices: launch " + mesh.devices() + " processes (one per device) or use a mesh of " + worldSize + " devices");
    }

    /**
     * The first host of a Slurm host list: "node[003-005,9],gpu1" gives "node003", "a,b" gives "a".
     */
    public static String firstHost(String list) {
        String s = list.trim();
        int comma = s.indexOf(','), open = s.indexOf('[');
        if (open < 0 || (comma >= 0 && comma < open)) return comma < 0 ? s : s.substring(0, comma);
        int close = s.indexOf(']', open);
        if (close < 0) throw new IllegalArgumentException("Slurm host list '" + list + "' has an unclosed '['");
        String first = s.substring(open + 1, close).split(",")[0].split("-")[0];
        int end = s.indexOf(',', close);
        return s.substring(0, open) + first + s.substring(close + 1, end < 0 ? s.length() : end);
    }

    private static int port(Map<String, String> env) {
        return env.containsKey("MASTER_PORT") ? intVar(env, "MASTER_PORT") : DEFAULT_PORT;
    }

    private static int intVar(Map<String, String> env, String name) {
        String v = env.get(name);
        if (v == null)
            throw new IllegalArgumentException(name + " is not set; the launcher sets it (torchrun: RANK, WORLD_SIZE; srun: SLURM_PROCID, SLURM_NTASKS)");
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + "='" + v + "' is not an integer");
        }
    }
}
