package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "fewshot", description = "(not implemented yet)")
public final class FewshotCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit fewshot: not implemented yet");
        return 1;
    }
}
