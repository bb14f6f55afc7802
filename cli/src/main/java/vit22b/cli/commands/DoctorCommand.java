package vit22b.cli.commands;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;

@Command(name = "doctor", description = "(not implemented yet)")
public final class DoctorCommand implements Callable<Integer> {
    @Override public Integer call() {
        System.err.println("vit doctor: not implemented yet");
        return 1;
    }
}
