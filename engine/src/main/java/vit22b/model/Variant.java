package vit22b.model;

import java.util.ArrayList;
import java.util.List;

/**
 * The block's architecture choices that the paper's section 2 makes (DESIGN.md, "The model"),
 * each switchable to measure what it buys ({@code vit experiment lr-sweep}):
 * <ul>
 * <li>{@code qkNorm}: norm queries and keys per head before the logits (the paper's; off:
 *     {@code --no-qk-norm});</li>
 * <li>{@code parallel}: attention and MLP read one norm of x and their outputs are summed
 *     (the paper's; off: {@code --sequential}, the original ViT block: pre-norm attention, then
 *     pre-norm MLP, each with its own norm);</li>
 * <li>{@code biases}: biases on the q, k, v projections and on every norm (off in the paper;
 *     on: {@code --biases}).</li>
 * </ul>
 */
public record Variant(boolean qkNorm, boolean parallel, boolean biases) {

    /** ViT-22B's block: QK-norm, parallel, no QKV or norm biases. */
    public static final Variant PAPER = new Variant(true, true, false);

    public Variant withQkNorm(boolean on) { return new Variant(on, parallel, biases); }
    public Variant withParallel(boolean on) { return new Variant(qkNorm, on, biases); }
    public Variant withBiases(boolean on) { return new Variant(qkNorm, parallel, on); }

    public boolean isPaper() { return equals(PAPER); }

    /** The command-line flags that select this variant ("" for the paper's block). */
    public String flags() {
        List<String> f = new ArrayList<>();
        if (!qkNorm) f.add("--no-qk-norm");
        if (!parallel) f.add("--sequential");
        if (biases) f.add("--biases");
        return String.join(" ", f);
    }

    @Override public String toString() { return isPaper() ? "paper block" : flags(); }
}
