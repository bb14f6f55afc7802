package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "train", description = "(not implemented yet)")
public final class TrainCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit train: not implemented yet");
        return 1;
    }
}
