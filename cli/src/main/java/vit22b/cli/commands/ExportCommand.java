package vit22b.cli.commands;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import vit22b.cli.options.JsonOption;
import vit22b.cli.options.WeightsOptions;
import vit22b.io.TimmExport;
import vit22b.train.Weights;

@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Write a model (checkpoint or model file) for timm: DIR/model.safetensors and DIR/config.json.",
                "Load it with bench/timm/load_timm.py (timm.create_model with ParallelScalingBlock; see the README)."})
public final class ExportCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin WeightsOptions weights;
    @Mixin JsonOption json;

    @Option(names = "--timm", required = true, paramLabel = "DIR",
            description = "Folder to write model.safetensors and config.json into (created if missing).")
    Path timm;

    @Override public Integer call() throws Exception {
        Weights.Host h = weights.read();
        List<Path> files = TimmExport.write(timm, h.config(), h.params(), h.classes().orElse(null));
        PrintWriter out = spec.commandLine().getOut();
        if (json.json) {
            var o = JsonOption.object().put("weights", files.get(0).toString()).put("config", files.get(1).toString());
            JsonOption.print(out, o);
        } else {
            out.println("timm weights: " + files.get(0) + "\ntimm config:  " + files.get(1));
        }
        return 0;
    }
}
