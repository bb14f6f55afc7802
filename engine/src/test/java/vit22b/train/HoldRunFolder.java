package vit22b.train;

import java.nio.file.Path;

/** Holds a run folder's lock until its stdin closes: the other process of {@link RunFolderTest}. */
public final class HoldRunFolder {
    public static void main(String[] args) throws Exception {
        try (RunFolder f = RunFolder.open(Path.of(args[0]))) {
            System.out.println("locked");
            System.out.flush();
            while (System.in.read() >= 0) { /* until the parent closes the pipe */ }
        }
    }
}
