package vit22b.backend.cuda;

import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.JCudaDriver;
import vit22b.kernels.Cuda;

/** An instantiated CUDA graph captured from a {@link CudaStream}; replays on that stream. */
public final class CudaGraph implements AutoCloseable {
    private final CUgraph graph;
    private final CUgraphExec exec = new CUgraphExec();
    private final CudaStream stream;

    CudaGraph(CUgraph graph, CudaStream stream) {
        this.graph = graph;
        this.stream = stream;
        Cuda.check(JCudaDriver.cuGraphInstantiate(exec, graph, 0), "cuGraphInstantiate");
    }

    /** Queues one replay of the captured work. */
    public void launch() {
        Cuda.check(JCudaDriver.cuGraphLaunch(exec, stream.handle()), "cuGraphLaunch");
    }

    @Override public void close() {
        Cuda.check(JCudaDriver.cuGraphExecDestroy(exec), "cuGraphExecDestroy");
        Cuda.check(JCudaDriver.cuGraphDestroy(graph), "cuGraphDestroy");
    }
}
