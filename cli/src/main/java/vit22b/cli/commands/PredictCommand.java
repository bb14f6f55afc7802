package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "predict", description = "(not implemented yet)")
public final class PredictCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit predict: not implemented yet");
        return 1;
    }
}
