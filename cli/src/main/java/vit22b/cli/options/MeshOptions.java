package vit22b.cli.options;

import java.nio.file.Path;

import picocli.CommandLine.Option;
import vit22b.graph.Mesh;

/** {@code --mesh TxK} and {@code --trace FILE}: training on a t x k mesh of devices, and a Chrome trace of its tasks. */
public final class MeshOptions {
    @Option(names = "--mesh", paramLabel = "TxK",
            description = "Train the sharded model on T x K devices: T data shards (the batch) times K model shards "
                    + "(heads, MLP units, tokens); parameters and optimiser state sharded over the data axis. Required by mesh-train; "
                    + "train's default: none, one device.")
    public String mesh;

    @Option(names = "--trace", paramLabel = "FILE",
            description = "Write a Chrome trace (chrome://tracing, ui.perfetto.dev) of the mesh's compute and communication "
                    + "tasks: train writes one step's, mesh-train all its steps (one file per rank, NAME.rankN.json, when "
                    + "the devices are processes). Default: no trace.")
    public Path trace;

    /** The mesh given, or null without --mesh. */
    public Mesh parse() { return mesh == null ? null : Mesh.parse(mesh); }
}
