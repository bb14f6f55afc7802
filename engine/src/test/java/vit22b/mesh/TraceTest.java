package vit22b.mesh;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import vit22b.graph.Axis;
import vit22b.graph.Cost;
import vit22b.graph.Mesh;
import vit22b.graph.TaskGraph;
import vit22b.model.Presets;
import vit22b.train.AdamW;

class TraceTest {
    private static TaskGraph.Task task(String name, TaskGraph.Queue q, Cost cost) {
        return new TaskGraph.Task(0, name, q, cost, new int[0], () -> {});
    }

    /** Exposed communication = communication time not covered by compute, per device, against hand-made intervals. */
    @Test void exposedCommunicationIsCommunicationNotCoveredByCompute() {
        Trace t = new Trace();
        Cost comm = Cost.collective(Cost.Kind.SHIFT, Axis.MODEL, 4), work = Cost.compute(1, 1);
        t.record(0, task("shift", TaskGraph.Queue.COMM, comm), 0, 100);       // covered 30..60 and 80..90
        t.record(0, task("chunk0", TaskGraph.Queue.COMPUTE, work), 30, 60);
        t.record(0, task("chunk1", TaskGraph.Queue.COMPUTE, work), 80, 120);
        t.record(0, task("gather", TaskGraph.Queue.COMM, comm), 90, 130);     // merged with shift: 0..130
        t.record(1, task("shift", TaskGraph.Queue.COMPUTE, comm), 0, 50);     // no overlap: all exposed
        assertEquals(130 - 30 - 40, t.exposedCommunication(0));
        assertEquals(130, t.busy(0, true));
        assertEquals(70, t.busy(0, false));
        assertEquals(50, t.exposedCommunication(1));
        assertEquals(130, t.span());
    }

    /** A 1x2 mesh's training step, traced: valid Chrome trace JSON where transfers overlap compute on a device. */
    @Test void aTracedStepShowsCommunicationOverlappingCompute(@TempDir Path dir) throws Exception {
        var s = new MeshTraining.Setup(Presets.get("test-small").withDepth(4), 8, 2, 5, 1e-3f,
                new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.03f, 3f, 1f), true);
        Trace trace = new Trace();
        MeshTraining.onThreads(s, new Mesh(1, 2), trace);
        Path file = dir.resolve("step.json");
        trace.write(file);
        JsonNode events = new ObjectMapper().readTree(file.toFile()).get("traceEvents");
        List<JsonNode> comm = new ArrayList<>(), compute = new ArrayList<>();
        for (JsonNode e : events) {
            if (!e.get("ph").asText().equals("X")) continue;
            assertTrue(e.get("dur").asDouble() >= 0 && e.has("ts") && e.has("pid") && e.has("tid"), e.toString());
            (e.get("cat").asText().equals("comm") ? comm : compute).add(e);
        }
        assertTrue(comm.size() > 10 && compute.size() > 10, comm.size() + " comm, " + compute.size() + " compute events");
        int overlaps = 0;
        for (JsonNode a : comm)
            for (JsonNode b : compute)
                if (a.get("pid").equals(b.get("pid")) && start(a) < end(b) && start(b) < end(a) && end(b) > start(b)) overlaps++;
        System.out.println("traced 1x2 step: " + comm.size() + " comm, " + compute.size() + " compute events, "
                + overlaps + " overlapping pairs");
        assertTrue(overlaps > 0, "no communication task overlaps a compute task");
        assertTrue(trace.exposedCommunication(0) < trace.busy(0, true), "some communication is hidden");
    }

    private static double start(JsonNode e) { return e.get("ts").asDouble(); }

    private static double end(JsonNode e) { return e.get("ts").asDouble() + e.get("dur").asDouble(); }
}
