package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code vit experiment SUBCOMMAND}: the paper's architecture choices measured at small scale. */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Experiments on the paper's architecture choices at small scale.",
        subcommands = {LrSweepCommand.class})
public final class ExperimentCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    /** Without a subcommand there is nothing to run: a usage error. */
    @Override public Integer call() {
        spec.commandLine().getErr().println("error: give an experiment; one of: "
                + String.join(", ", spec.subcommands().keySet()));
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }
}
