package vit22b.cli.commands;

import picocli.CommandLine.Command;

/**
 * {@code vit experiment SUBCOMMAND}: the paper's architecture choices measured at small scale.
 * Not Runnable, as {@code vit} itself: no or an unknown experiment is a usage error (exit 2).
 */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Experiments on the paper's architecture choices at small scale.",
        subcommands = {LrSweepCommand.class})
public final class ExperimentCommand {
}
