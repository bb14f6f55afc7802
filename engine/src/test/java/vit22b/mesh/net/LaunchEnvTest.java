package vit22b.mesh.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

import vit22b.graph.Mesh;

class LaunchEnvTest {
    @Test void torchrunVariables() {
        LaunchEnv e = LaunchEnv.from(Map.of("RANK", "5", "WORLD_SIZE", "8", "LOCAL_RANK", "1",
                "MASTER_ADDR", "10.0.0.7", "MASTER_PORT", "29501"));
        assertEquals(new LaunchEnv(5, 8, 1, "10.0.0.7", 29501, "torchrun"), e);
        assertEquals(LaunchEnv.DEFAULT_PORT, LaunchEnv.from(Map.of("RANK", "0", "WORLD_SIZE", "1", "MASTER_ADDR", "h")).masterPort());
    }

    @Test void slurmVariablesTakeTheMasterFromTheNodeList() {
        LaunchEnv e = LaunchEnv.from(Map.of("SLURM_PROCID", "3", "SLURM_NTASKS", "4", "SLURM_LOCALID", "1",
                "SLURM_JOB_NODELIST", "gpu[017-018]", "MASTER_PORT", "23456"));
        assertEquals(new LaunchEnv(3, 4, 1, "gpu017", 23456, "slurm"), e);
        LaunchEnv m = LaunchEnv.from(Map.of("SLURM_PROCID", "0", "SLURM_NTASKS", "2", "SLURM_JOB_NODELIST", "a,b",
                "MASTER_ADDR", "head"));
        assertEquals("head", m.masterAddr());
    }

    @Test void slurmHostLists() {
        assertEquals("node003", LaunchEnv.firstHost("node[003-005,9],gpu1"));
        assertEquals("a", LaunchEnv.firstHost("a,b[1-2]"));
        assertEquals("single", LaunchEnv.firstHost("single"));
        assertEquals("r7-ib", LaunchEnv.firstHost("r[7,9]-ib,x"));
    }

    @Test void inconsistentEnvironmentsAreRefusedNamingTheVariable() {
        assertMessage("rank 4 is out of range for world size 4", Map.of("RANK", "4", "WORLD_SIZE", "4", "MASTER_ADDR", "h"));
        assertMessage("MASTER_ADDR is not", Map.of("RANK", "0", "WORLD_SIZE", "2"));
        assertMessage("WORLD_SIZE is not set", Map.of("RANK", "0", "MASTER_ADDR", "h"));
        assertMessage("RANK='x' is not an integer", Map.of("RANK", "x", "WORLD_SIZE", "2", "MASTER_ADDR", "h"));
        assertMessage("no rank in the environment", Map.of("HOME", "/root"));
        assertMessage("neither MASTER_ADDR nor SLURM_JOB_NODELIST", Map.of("SLURM_PROCID", "0", "SLURM_NTASKS", "2"));
        assertMessage("MASTER_PORT 70000 is not a TCP port",
                Map.of("RANK", "0", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "70000"));
        var e = assertThrows(IllegalArgumentException.class,
                () -> LaunchEnv.from(Map.of("RANK", "0", "WORLD_SIZE", "4", "MASTER_ADDR", "h")).checkMesh(new Mesh(1, 2)));
        assertTrue(e.getMessage().contains("WORLD_SIZE is 4 but mesh 1x2 has 2 devices"), e.getMessage());
    }

    private static void assertMessage(String part, Map<String, String> env) {
        var e = assertThrows(IllegalArgumentException.class, () -> LaunchEnv.from(env));
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }
}
