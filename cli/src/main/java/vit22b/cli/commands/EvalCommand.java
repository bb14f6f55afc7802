package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "eval", description = "(not implemented yet)")
public final class EvalCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit eval: not implemented yet");
        return 1;
    }
}
