package vit22b.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import vit22b.cli.commands.BenchCommand;
import vit22b.cli.commands.DoctorCommand;
import vit22b.cli.commands.EvalCommand;
import vit22b.cli.commands.ExperimentCommand;
import vit22b.cli.commands.FewshotCommand;
import vit22b.cli.commands.InfoCommand;
import vit22b.cli.commands.PredictCommand;
import vit22b.cli.commands.ProbeCommand;
import vit22b.cli.commands.SimulateCommand;
import vit22b.cli.commands.TrainCommand;

/** The {@code vit} command. */
@Command(name = "vit", mixinStandardHelpOptions = true, version = "vit 0.1.0",
        description = "Train, evaluate and measure Vision Transformers with the ViT-22B recipe.",
        subcommands = {TrainCommand.class, EvalCommand.class, ProbeCommand.class, FewshotCommand.class,
                PredictCommand.class, InfoCommand.class, SimulateCommand.class, BenchCommand.class,
                DoctorCommand.class, ExperimentCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(System.out); }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests call {@code execute} on it. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        // Bad input is the user's to fix: print the message, not a stack trace.
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            if (ex instanceof IllegalArgumentException || ex instanceof java.io.IOException
                    || ex instanceof IllegalStateException || ex instanceof vit22b.kernels.CudaException) {
                cmd.getErr().println("error: " + ex.getMessage());
                return 2;
            }
            throw ex;
        });
        return cl;
    }
}
