package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "info", description = "(not implemented yet)")
public final class InfoCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit info: not implemented yet");
        return 1;
    }
}
