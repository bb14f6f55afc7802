package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "probe", description = "(not implemented yet)")
public final class ProbeCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit probe: not implemented yet");
        return 1;
    }
}
