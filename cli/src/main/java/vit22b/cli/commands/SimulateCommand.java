package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "simulate", description = "(not implemented yet)")
public final class SimulateCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit simulate: not implemented yet");
        return 1;
    }
}
