package vit22b.data;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetsTest {
    @TempDir Path dir;

    /** An IDX file of unsigned bytes with the given dimensions (independent of the reader). */
    static void writeIdx(Path file, int[] dims, byte[] data, boolean gzip) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + data.length);
        b.put((byte) 0).put((byte) 0).put((byte) 8).put((byte) dims.length);
        for (int d : dims) b.putInt(d);
        b.put(data);
        byte[] bytes = b.array();
        if (gzip) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (OutputStream z = new GZIPOutputStream(out)) { z.write(bytes); }
            bytes = out.toByteArray();
        }
        Files.write(file, bytes);
    }

    static byte[] randomBytes(long seed, int n, int bound) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte) r.nextInt(bound);
        return b;
    }

    @Test void idxRoundTripPlainAndGzipped() throws IOException {
        for (boolean gz : new boolean[] {false, true}) {
            int n = 7, h = 5, w = 4;
            byte[] px = randomBytes(gz ? 1 : 2, n * h * w, 256), lab = randomBytes(3, n, 10);
            Path d = Files.createDirectories(dir.resolve(gz ? "gz" : "plain"));
            String ext = gz ? ".gz" : "";
            writeIdx(d.resolve("train-images-idx3-ubyte" + ext), new int[] {n, h, w}, px, gz);
            writeIdx(d.resolve("train-labels-idx1-ubyte" + ext), new int[] {n}, lab, gz);
            IdxDataset ds = IdxDataset.open(d, Split.TRAIN, IdxDataset.DIGIT_CLASSES);
            assertEquals(n, ds.size());
            assertEquals(1, ds.channels());
            assertEquals(h, ds.height());
            assertEquals(w, ds.width());
            for (int i = 0; i < n; i++) {
                assertEquals(lab[i] & 0xff, ds.label(i));
                Image img = ds.image(i);
                for (int y = 0; y < h; y++) for (int x = 0; x < w; x++)
                    assertEquals((px[(i * h + y) * w + x] & 0xff) / 127.5 - 1, img.at(0, y, x), 1e-6);
            }
            assertTrue(IdxDataset.present(d, Split.TRAIN));
            assertFalse(IdxDataset.present(d, Split.TEST));
        }
    }

    @Test void badIdxFilesGiveErrorsWithThePath() throws IOException {
        Path labels = dir.resolve("labels");
        writeIdx(labels, new int[] {4}, randomBytes(4, 4, 10), false);
        Path img = dir.resolve("images");

        writeIdx(img, new int[] {4, 3, 3}, randomBytes(5, 36, 256), false);
        byte[] raw = Files.readAllBytes(img);
        raw[0] = 0x42;
        Files.write(img, raw);
        assertMessage(img, "magic", () -> IdxDataset.read(img, labels, IdxDataset.DIGIT_CLASSES));

        writeIdx(img, new int[] {4, 3, 3}, randomBytes(5, 36, 256), false);
        raw = Files.readAllBytes(img);
        Files.write(img, Arrays.copyOf(raw, raw.length - 5));
        assertMessage(img, "truncated", () -> IdxDataset.read(img, labels, IdxDataset.DIGIT_CLASSES));

        writeIdx(img, new int[] {4, 3, 3}, randomBytes(5, 36, 256), true);
        raw = Files.readAllBytes(img);
        Files.write(img, Arrays.copyOf(raw, raw.length / 2));
        assertMessage(img, "truncated", () -> IdxDataset.read(img, labels, IdxDataset.DIGIT_CLASSES));

        writeIdx(img, new int[] {5, 3, 3}, randomBytes(5, 45, 256), false);
        assertMessage(img, "5 images", () -> IdxDataset.read(img, labels, IdxDataset.DIGIT_CLASSES));

        writeIdx(img, new int[] {4, 3, 3}, randomBytes(5, 36, 256), false);
        assertMessage(labels, "out of range", () -> IdxDataset.read(img, labels, List.of("a", "b")));

        assertMessage(dir, "dataset-fashion-mnist", () -> IdxDataset.open(dir, Split.TEST, IdxDataset.DIGIT_CLASSES));
    }

    static void assertMessage(Path path, String words, org.junit.jupiter.api.function.Executable call) {
        IOException e = assertThrows(IOException.class, call);
        assertTrue(e.getMessage().contains(path.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(words), e.getMessage());
    }

    @Test void realFashionMnistIfInstalled() throws IOException {
        Path d = IdxDataset.DEBIAN_FASHION_MNIST;
        Assumptions.assumeTrue(IdxDataset.present(d, Split.TRAIN) && IdxDataset.present(d, Split.TEST),
                "Debian's dataset-fashion-mnist is not installed");
        for (Split s : Split.values()) {
            Dataset ds = Datasets.open(d, s);
            assertEquals(s == Split.TRAIN ? 60000 : 10000, ds.size());
            assertEquals(IdxDataset.FASHION_MNIST_CLASSES, ds.classes());
            assertEquals(28, ds.height());
            assertEquals(28, ds.width());
            int[] counts = new int[10];
            for (int i = 0; i < ds.size(); i++) counts[ds.label(i)]++;
            for (int c : counts) assertEquals(ds.size() / 10, c);   // Fashion-MNIST is balanced
            float min = 1, max = -1;
            for (float v : ds.image(0).pixels()) { min = Math.min(min, v); max = Math.max(max, v); }
            assertEquals(-1f, min);
            assertTrue(max > 0.5f && max <= 1f);
        }
    }

    static void writeCifar(Path file, byte[] labels, byte[] pixels) throws IOException {
        byte[] out = new byte[labels.length * CifarDataset.RECORD];
        for (int r = 0; r < labels.length; r++) {
            out[r * CifarDataset.RECORD] = labels[r];
            System.arraycopy(pixels, r * 3072, out, r * CifarDataset.RECORD + 1, 3072);
        }
        Files.write(file, out);
    }

    @Test void cifarBatches() throws IOException {
        Path d = Files.createDirectories(dir.resolve("cifar-10-batches-bin"));
        int[] sizes = {2, 3, 1, 2, 2};
        byte[][] labels = new byte[5][], pixels = new byte[5][];
        for (int f = 0; f < 5; f++) {
            labels[f] = randomBytes(10 + f, sizes[f], 10);
            pixels[f] = randomBytes(20 + f, sizes[f] * 3072, 256);
            writeCifar(d.resolve("data_batch_" + (f + 1) + ".bin"), labels[f], pixels[f]);
        }
        writeCifar(d.resolve("test_batch.bin"), randomBytes(30, 3, 10), randomBytes(31, 3 * 3072, 256));
        Dataset train = Datasets.open(dir, Split.TRAIN), test = Datasets.open(dir, Split.TEST);
        assertEquals(10, train.size());
        assertEquals(3, test.size());
        assertEquals(CifarDataset.CIFAR10_CLASSES, train.classes());
        int i = 0;
        for (int f = 0; f < 5; f++)
            for (int r = 0; r < sizes[f]; r++, i++) {
                assertEquals(labels[f][r], train.label(i));
                Image img = train.image(i);
                assertEquals(3, img.channels());
                for (int c = 0; c < 3; c++) for (int y = 0; y < 32; y += 7) for (int x = 0; x < 32; x += 5)
                    assertEquals((pixels[f][r * 3072 + c * 1024 + y * 32 + x] & 0xff) / 127.5 - 1, img.at(c, y, x), 1e-6);
            }
        assertTrue(train.source(3).endsWith("data_batch_2.bin#1"), train.source(3));

        Path cut = d.resolve("data_batch_3.bin");
        Files.write(cut, Arrays.copyOf(Files.readAllBytes(cut), 3000));
        assertMessage(cut, "truncated", () -> CifarDataset.open(d, Split.TRAIN));
        Path t = d.resolve("test_batch.bin");
        writeCifar(t, new byte[] {3, 10}, randomBytes(32, 2 * 3072, 256));
        assertMessage(t, "out of range", () -> CifarDataset.open(d, Split.TEST));
    }

    static void writeGrayPng(Path file, int h, int w, int value) throws IOException {
        BufferedImage g = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) g.getRaster().setSample(x, y, 0, value);
        Files.createDirectories(file.getParent());
        assertTrue(ImageIO.write(g, "png", file.toFile()));
    }

    @Test void classFolders() throws IOException {
        Path root = dir.resolve("imgs/train");
        writeGrayPng(root.resolve("dog/b.png"), 6, 8, 10);
        writeGrayPng(root.resolve("dog/a.PNG"), 6, 8, 20);
        writeGrayPng(root.resolve("cat/z.png"), 6, 8, 30);
        writeGrayPng(root.resolve("bird/x.png"), 9, 5, 40);
        Files.writeString(root.resolve("dog/notes.txt"), "not an image");
        Dataset ds = Datasets.open(dir.resolve("imgs"), Split.TRAIN);
        assertEquals(List.of("bird", "cat", "dog"), ds.classes());
        assertEquals(4, ds.size());
        assertArrayEquals(new int[] {0, 1, 2, 2}, new int[] {ds.label(0), ds.label(1), ds.label(2), ds.label(3)});
        assertTrue(ds.source(2).endsWith("a.PNG"), ds.source(2));
        assertEquals(20 / 127.5 - 1, ds.image(2).at(0, 3, 3), 1e-6);
        assertEquals(1, ds.channels());
        assertEquals(9, ds.height());   // the first image's
        IOException e = assertThrows(IOException.class, () -> FolderDataset.open(dir.resolve("imgs/train/bird")));
        assertTrue(e.getMessage().contains("no class subdirectories"), e.getMessage());
        // Class folders without a split: refused, naming the layout that works.
        IOException flat = assertThrows(IOException.class, () -> Datasets.open(dir.resolve("imgs/train"), Split.TEST));
        assertTrue(flat.getMessage().contains("/train/CLASS/*.png") && flat.getMessage().contains("/test/CLASS/*.png"),
                flat.getMessage());
        assertTrue(Datasets.validation(dir.resolve("imgs"), ds).isEmpty());
    }

    /** val/ beside test/ is the validation split only with train/'s class folders: labels index the sorted names. */
    @Test void aValidationFolderNeedsTheTrainingClasses() throws IOException {
        Path root = dir.resolve("withval");
        for (String split : List.of("train", "test"))
            for (String c : List.of("cat", "dog")) writeGrayPng(root.resolve(split + "/" + c + "/a.png"), 4, 4, 10);
        writeGrayPng(root.resolve("val/dog/a.png"), 4, 4, 10);
        Dataset train = Datasets.open(root, Split.TRAIN);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Datasets.validation(root, train));
        assertTrue(e.getMessage().contains("[dog]") && e.getMessage().contains("[cat, dog]"), e.getMessage());
        Files.createDirectories(root.resolve("val/cat"));   // an empty class folder keeps the labels aligned
        Dataset val = Datasets.validation(root, train).orElseThrow();
        assertEquals(train.classes(), val.classes());
        assertEquals(1, val.label(0), "dog is class 1 in both");
    }

    @Test void holdOutSplitsWithoutOverlap() {
        Dataset base = new SyntheticDataset(50, 3, 4, 4, 5);
        Datasets.Held h = Datasets.holdOut(base, 0.2, 11);
        assertEquals(10, h.val().size());
        assertEquals(40, h.train().size());
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (Dataset d : new Dataset[] {h.train(), h.val()})
            for (int i = 0; i < d.size(); i++) assertTrue(seen.add(d.source(i)), "example " + d.source(i) + " in both splits");
        assertEquals(50, seen.size());
        assertEquals(Datasets.holdOut(base, 0.2, 11).val().source(3), h.val().source(3), "seeded");
        assertThrows(IllegalArgumentException.class, () -> Datasets.holdOut(base, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> Datasets.holdOut(base, 0.99, 1));
    }

    @Test void subsets() {
        Dataset base = new SyntheticDataset(50, 3, 4, 4, 5);
        Dataset first = Datasets.first(base, 7);
        assertEquals(7, first.size());
        assertEquals(base.label(6), first.label(6));
        Dataset a = Datasets.random(base, 12, 9), b = Datasets.random(base, 12, 9), c = Datasets.random(base, 12, 10);
        Set<String> srcA = new HashSet<>(), srcC = new HashSet<>();
        for (int i = 0; i < 12; i++) {
            assertEquals(a.source(i), b.source(i));
            srcA.add(a.source(i));
            srcC.add(c.source(i));
            if (i > 0) assertTrue(SyntheticDataset.id(a.source(i)) > SyntheticDataset.id(a.source(i - 1)));
        }
        assertEquals(12, srcA.size());
        assertNotEquals(srcA, srcC);
        assertSame(base, Datasets.first(base, 100));
        Dataset tail = Datasets.range(base, 45, 50);
        assertEquals(5, tail.size());
        assertEquals(base.source(47), tail.source(2));
        Dataset shots = Datasets.perClass(base, 3, 1);
        assertEquals(15, shots.size());
        int[] perClass = new int[5];
        for (int i = 0; i < 15; i++) perClass[shots.label(i)]++;
        assertArrayEquals(new int[] {3, 3, 3, 3, 3}, perClass);
        Dataset other = Datasets.perClass(base, 3, 2);
        List<String> s1 = new java.util.ArrayList<>(), s2 = new java.util.ArrayList<>();
        for (int i = 0; i < 15; i++) { s1.add(shots.source(i)); s2.add(other.source(i)); }
        assertNotEquals(s1, s2);
        assertThrows(IllegalArgumentException.class, () -> Datasets.perClass(base, 11, 1));   // 10 per class
        assertThrows(IllegalArgumentException.class, () -> Datasets.subset(base, new int[] {50}));
    }
}
