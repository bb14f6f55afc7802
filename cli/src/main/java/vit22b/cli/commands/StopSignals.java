package vit22b.cli.commands;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * SIGTERM and SIGINT (a cluster's pre-emption, Ctrl-C) ask the run to stop after its current
 * step, with a checkpoint, instead of killing it; a second signal kills as usual. Closing puts
 * the previous handlers back.
 */
final class StopSignals implements AutoCloseable {
    private final List<Signal> signals = new ArrayList<>();
    private final List<SignalHandler> previous = new ArrayList<>();
    private final AtomicReference<String> received = new AtomicReference<>();

    StopSignals(Runnable onStop) {
        for (String name : new String[] {"TERM", "INT"}) {
            Signal s = new Signal(name);
            SignalHandler old = Signal.handle(s, sig -> {
                if (received.compareAndSet(null, "SIG" + sig.getName())) {
                    System.err.println("\nSIG" + sig.getName() + ": stopping after this step with a checkpoint "
                            + "(send it again to kill at once)");
                    restore();
                    onStop.run();
                }
            });
            signals.add(s);
            previous.add(old);
        }
    }

    /** The signal that asked for the stop, or null. */
    String received() { return received.get(); }

    /** The shell's exit status for a stop by {@link #received()}: 128 + the signal's number. */
    int exitCode() { return "SIGINT".equals(received.get()) ? 130 : 143; }

    private synchronized void restore() {
        for (int i = 0; i < signals.size(); i++) Signal.handle(signals.get(i), previous.get(i));
        signals.clear();
        previous.clear();
    }

    @Override public void close() { restore(); }
}
