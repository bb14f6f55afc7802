package vit22b.data;

import java.util.List;

/**
 * A batch of model inputs. {@code images} holds count x channels x size x size floats in [-1, 1],
 * {@code targets} count x classes one-hot floats, {@code labels} count class indices.
 * {@code count} is below the batch size for the last batch of an epoch without drop-last and
 * when unreadable images were skipped; {@code skipped} names those (with the reason).
 */
public record Batch(float[] images, float[] targets, int[] labels, int count, List<String> skipped) {}
