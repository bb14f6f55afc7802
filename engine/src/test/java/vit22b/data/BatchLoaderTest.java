package vit22b.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BatchLoaderTest {
    @TempDir Path dir;

    static final Augmentation TRAIN = Augmentation.training(8, 3, 0.08, true);

    static List<Batch> take(BatchLoader l, int k) throws IOException {
        List<Batch> out = new ArrayList<>();
        for (int i = 0; i < k; i++) out.add(l.next());
        return out;
    }

    static void assertSameBatches(List<Batch> a, List<Batch> b) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).count(), b.get(i).count());
            assertArrayEquals(a.get(i).labels(), b.get(i).labels(), "batch " + i);
            assertArrayEquals(a.get(i).images(), b.get(i).images(), "batch " + i);
            assertArrayEquals(a.get(i).targets(), b.get(i).targets(), "batch " + i);
        }
    }

    @Test void sameSeedSameStreamForAnyWorkerCount() throws IOException {
        Dataset ds = new SyntheticDataset(23, 3, 12, 10, 5);
        BatchLoader.Options base = BatchLoader.Options.training(4, 42);
        List<Batch> a, b, c;
        try (BatchLoader l = new BatchLoader(ds, TRAIN, base.withWorkers(0, 1))) { a = take(l, 15); }
        try (BatchLoader l = new BatchLoader(ds, TRAIN, base.withWorkers(3, 5))) { b = take(l, 15); }
        try (BatchLoader l = new BatchLoader(ds, TRAIN, BatchLoader.Options.training(4, 43).withWorkers(2, 2))) { c = take(l, 15); }
        assertSameBatches(a, b);
        assertFalse(Arrays.equals(a.get(0).images(), c.get(0).images()), "another seed gives another stream");
        // 23 examples, batch 4, drop-last: 5 batches per epoch; epoch 1 starts afresh
        assertFalse(Arrays.equals(a.get(0).images(), a.get(5).images()));
    }

    @Test void resumeFromPositionEqualsContinuing() throws IOException {
        Dataset ds = new SyntheticDataset(23, 3, 12, 10, 5);
        BatchLoader.Options opt = BatchLoader.Options.training(4, 7).withWorkers(2, 3);
        List<Batch> all;
        DataPosition saved;
        try (BatchLoader l = new BatchLoader(ds, TRAIN, opt)) {
            take(l, 3);
            saved = l.position();
            all = take(l, 9);
        }
        assertEquals(new DataPosition(0, 12), saved);
        try (BatchLoader l = new BatchLoader(ds, TRAIN, opt.withStart(saved))) {
            assertEquals(saved, l.position());
            assertSameBatches(all, take(l, 9));
        }
    }

    @Test void epochsArePermutationsAndPositionsAdvance() throws IOException {
        Dataset ds = new SyntheticDataset(10, 1, 6, 6, 10);
        // evaluation augmentation is the identity here, so images tell which example came
        Augmentation id = Augmentation.evaluation(6, 1);
        BatchLoader.Options opt = new BatchLoader.Options(4, 5, true, false, 2, 2, false, 2, DataPosition.START);
        try (BatchLoader l = new BatchLoader(ds, id, opt)) {
            assertEquals(3, l.batchesPerEpoch());
            List<DataPosition> pos = new ArrayList<>();
            List<List<Integer>> epochs = List.of(new ArrayList<>(), new ArrayList<>());
            for (int e = 0; e < 2; e++)
                for (int k = 0; k < 3; k++) {
                    pos.add(l.position());
                    Batch b = l.next();
                    assertEquals(k < 2 ? 4 : 2, b.count());
                    for (int j = 0; j < b.count(); j++) {
                        int ex = identify(ds, b, j);
                        epochs.get(e).add(ex);
                        assertEquals(ds.label(ex), b.labels()[j]);
                        for (int cl = 0; cl < 10; cl++)
                            assertEquals(cl == b.labels()[j] ? 1f : 0f, b.targets()[j * 10 + cl]);
                    }
                }
            assertEquals(List.of(new DataPosition(0, 0), new DataPosition(0, 4), new DataPosition(0, 8),
                    new DataPosition(1, 0), new DataPosition(1, 4), new DataPosition(1, 8)), pos);
            for (List<Integer> e : epochs) assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), e.stream().sorted().toList());
            assertNotEquals(epochs.get(0), epochs.get(1));
            assertFalse(l.hasNext());
            assertThrows(NoSuchElementException.class, l::next);
        }
    }

    /** Which dataset example the j-th image of the batch is (synthetic images are all distinct). */
    static int identify(Dataset ds, Batch b, int j) throws IOException {
        int per = ds.channels() * ds.height() * ds.width();
        float[] img = Arrays.copyOfRange(b.images(), j * per, (j + 1) * per);
        for (int i = 0; i < ds.size(); i++) if (Arrays.equals(img, ds.image(i).pixels())) return i;
        throw new AssertionError("image not from the dataset");
    }

    @Test void dropLastAndUnshuffledEvaluation() throws IOException {
        Dataset ds = new SyntheticDataset(10, 1, 6, 6, 10);
        Augmentation id = Augmentation.evaluation(6, 1);
        try (BatchLoader l = new BatchLoader(ds, id, BatchLoader.Options.training(4, 1).withWorkers(1, 1).withEpochs(1))) {
            assertEquals(2, l.batchesPerEpoch());
            l.next();
            assertEquals(new DataPosition(0, 4), l.position());
            l.next();
            assertEquals(new DataPosition(1, 0), l.position());
            assertFalse(l.hasNext());
        }
        try (BatchLoader l = new BatchLoader(ds, id, BatchLoader.Options.evaluation(4))) {
            List<Integer> seen = new ArrayList<>();
            while (l.hasNext()) {
                Batch b = l.next();
                for (int j = 0; j < b.count(); j++) seen.add(identify(ds, b, j));
            }
            assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), seen);
        }
        assertThrows(IllegalArgumentException.class,
                () -> new BatchLoader(ds, id, BatchLoader.Options.training(11, 1)));
    }

    @Test void corruptImageStopsWithPathOrIsSkippedAndCounted() throws IOException {
        Path root = dir.resolve("folders");
        for (int i = 0; i < 5; i++) DatasetsTest.writeGrayPng(root.resolve((i % 2 == 0 ? "a" : "b") + "/img" + i + ".png"), 10, 10, 40 * i);
        Path bad = root.resolve("b/img9.png");
        Files.write(bad, new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        Dataset ds = FolderDataset.open(root);
        assertEquals(6, ds.size());
        Augmentation aug = Augmentation.training(8, 1, 0.5, true);
        BatchLoader.Options opt = new BatchLoader.Options(3, 1, true, false, 2, 2, false, 1, DataPosition.START);
        try (BatchLoader l = new BatchLoader(ds, aug, opt)) {
            IOException e = assertThrows(IOException.class, () -> { while (l.hasNext()) l.next(); });
            assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
            assertTrue(e.getMessage().contains("--skip-bad"), e.getMessage());
            assertThrows(IllegalStateException.class, l::next);   // no silent hole in the stream
        }
        try (BatchLoader l = new BatchLoader(ds, aug, opt.withSkipBad(true))) {
            int images = 0;
            List<String> skipped = new ArrayList<>();
            while (l.hasNext()) {
                Batch b = l.next();
                images += b.count();
                assertEquals(b.count() * 64, b.images().length);
                assertEquals(b.count() * 2, b.targets().length);
                skipped.addAll(b.skipped());
            }
            assertEquals(5, images);
            assertEquals(1, l.skipped());
            assertEquals(1, skipped.size());
            assertTrue(skipped.getFirst().contains(bad.toString()), skipped.getFirst());
        }
    }

    @Test void badStartPositionIsRefused() {
        Dataset ds = new SyntheticDataset(10, 1, 6, 6, 10);
        assertThrows(IllegalArgumentException.class, () -> new BatchLoader(ds, TRAIN,
                BatchLoader.Options.training(2, 1).withStart(new DataPosition(3, 11))));
        assertThrows(IllegalArgumentException.class, () -> new DataPosition(-1, 0));
    }
}
