package vit22b.cli;

import java.io.IOException;
import java.io.UncheckedIOException;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import vit22b.cli.commands.BenchCommand;
import vit22b.cli.commands.DoctorCommand;
import vit22b.cli.commands.EvalCommand;
import vit22b.cli.commands.ExperimentCommand;
import vit22b.cli.commands.ExportCommand;
import vit22b.cli.commands.FewshotCommand;
import vit22b.cli.commands.InfoCommand;
import vit22b.cli.commands.MeshTrainCommand;
import vit22b.cli.commands.PredictCommand;
import vit22b.cli.commands.ProbeCommand;
import vit22b.cli.commands.SimulateCommand;
import vit22b.cli.commands.TrainCommand;

/**
 * The {@code vit} command. Not Runnable: picocli then requires a subcommand, so {@code vit}
 * alone or {@code vit nonsense} is a usage error (exit 2), as is a parent command of our own
 * given no or an unknown subcommand.
 */
@Command(name = "vit", mixinStandardHelpOptions = true, version = "vit 0.1.0",
        description = "Train, evaluate and measure Vision Transformers with the ViT-22B recipe.",
        subcommands = {TrainCommand.class, EvalCommand.class, ProbeCommand.class, FewshotCommand.class,
                PredictCommand.class, ExportCommand.class, InfoCommand.class, SimulateCommand.class, MeshTrainCommand.class,
                BenchCommand.class,
                DoctorCommand.class, ExperimentCommand.class, CommandLine.HelpCommand.class})
public final class Main {
    /** Exit code of a usage error (bad option, bad value, unknown command): picocli's own. */
    public static final int USAGE = 2;
    /** Exit code of a runtime error (missing file, I/O, a failing device). */
    public static final int RUNTIME = 1;

    @Option(names = "--debug", scope = ScopeType.INHERIT,
            description = "On an error, print the stack trace as well as the message.")
    boolean debug;

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line; tests call {@code execute} on it. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setOverwrittenOptionsAllowed(true);   // a repeated option takes its last value
        showDefaults(cl);
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            boolean usage = ex instanceof IllegalArgumentException;
            if (debugged(parse)) ex.printStackTrace(cmd.getErr());
            cmd.getErr().println("error: " + (explained(ex) ? message(ex)
                    : ex + " (an internal error; rerun with --debug for the stack trace)"));
            cmd.getErr().flush();
            return usage ? USAGE : RUNTIME;
        });
        return cl;
    }

    /** Every option of every command shows its default value in the help. */
    private static void showDefaults(CommandLine cl) {
        cl.getCommandSpec().usageMessage().showDefaultValues(true);
        cl.getSubcommands().values().forEach(Main::showDefaults);
    }

    private static boolean debugged(CommandLine.ParseResult parse) {
        for (CommandLine.ParseResult p = parse; p != null; p = p.subcommand())
            if (p.hasMatchedOption("--debug")) return true;
        return false;
    }

    /** Our exceptions carry a message for the user that names the problem and the fix. */
    private static boolean explained(Exception ex) {
        return ex.getMessage() != null && (ex instanceof IllegalArgumentException || ex instanceof IOException
                || ex instanceof UncheckedIOException || ex instanceof IllegalStateException
                || ex instanceof vit22b.kernels.CudaException);
    }

    private static String message(Exception ex) {
        if (ex instanceof java.nio.file.NoSuchFileException) return "no such file: " + ex.getMessage();
        if (ex instanceof java.nio.file.AccessDeniedException) return "permission denied: " + ex.getMessage();
        return ex.getMessage();
    }
}
