package vit22b.data;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/** In-memory dataset of seeded random images; listed indices fail to "decode". */
final class SyntheticDataset implements Dataset {
    private final int n, c, h, w, classes;
    private final Set<Integer> bad;

    SyntheticDataset(int n, int c, int h, int w, int classes, Integer... bad) {
        this.n = n; this.c = c; this.h = h; this.w = w; this.classes = classes;
        this.bad = Set.of(bad);
    }

    static int id(String source) { return Integer.parseInt(source.substring(source.indexOf('#') + 1)); }

    @Override public String name() { return "synthetic"; }
    @Override public int size() { return n; }
    @Override public List<String> classes() {
        List<String> l = new ArrayList<>();
        for (int i = 0; i < classes; i++) l.add("class" + i);
        return l;
    }
    @Override public int channels() { return c; }
    @Override public int height() { return h; }
    @Override public int width() { return w; }
    @Override public int label(int i) { return (i * 7) % classes; }
    @Override public Image image(int i) throws IOException {
        if (bad.contains(i)) throw new IOException("could not decode image " + source(i) + ": corrupt");
        SplittableRandom r = new SplittableRandom(1000 + i);
        float[] px = new float[c * h * w];
        for (int k = 0; k < px.length; k++) px[k] = (float) (r.nextDouble() * 2 - 1);
        return new Image(c, h, w, px);
    }
    @Override public String source(int i) { return "synthetic#" + i; }
}
