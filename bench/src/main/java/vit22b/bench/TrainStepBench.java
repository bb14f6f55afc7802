package vit22b.bench;

import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import vit22b.backend.cpu.CpuBackend;
import vit22b.train.SyntheticStep;

/** One whole training step (forward, sigmoid loss, backward, AdamW) of vit-s-fmnist at batch 64 on the CPU. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class TrainStepBench {
    private CpuBackend be;
    private SyntheticStep step;

    @Setup public void setup() {
        be = new CpuBackend();
        step = new SyntheticStep(be, BenchTensors.CONFIG, BenchTensors.BATCH, 0);
    }

    @Benchmark public double trainStep() { return step.run(); }

    @TearDown public void tearDown() {
        step.close();
        be.close();
    }
}
