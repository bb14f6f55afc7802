package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "bench", description = "(not implemented yet)")
public final class BenchCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit bench: not implemented yet");
        return 1;
    }
}
