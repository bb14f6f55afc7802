package vit22b.model;

import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import vit22b.model.ModelStats.Part;

/**
 * The parameter counts of Table 1 of the paper and which parts each row counts (DESIGN.md,
 * "The model: exact semantics"), to compare our counts with.
 */
public final class PaperTable1 {

    /** One row: our preset, the paper's count, the parts it counts, and what differs. */
    public record Row(String preset, long params, Set<Part> counted, String note) {
        /** (ours - paper) / paper for the counted parts. */
        public double relativeDifference(ModelStats.Params ours) {
            return (ours.count(counted) - (double) params) / params;
        }
    }

    public static final List<Row> ROWS = List.of(
            new Row("vit-g", 1_843_000_000L, EnumSet.of(Part.BACKBONE),
                    "Table 1's ViT-G is the original sequential ViT with biases on every linear layer and "
                            + "norm; ours has the same sizes in the ViT-22B recipe (parallel block, no biases "
                            + "on q/k/v or norms, QK-norm scales), so it counts slightly fewer"),
            new Row("vit-e", 3_926_000_000L, EnumSet.of(Part.BACKBONE, Part.MAP_HEAD, Part.CLASSIFIER),
                    "backbone, MAP head and a 29,593-class (JFT) classifier"),
            new Row("vit-22b", 22_165_000_000L, EnumSet.of(Part.BACKBONE, Part.MAP_HEAD),
                    "backbone and MAP head, no classifier"));

    private PaperTable1() {}

    /** The row for a preset name (case-insensitive), if Table 1 has one. */
    public static Optional<Row> row(String preset) {
        return ROWS.stream().filter(r -> r.preset.equalsIgnoreCase(preset)).findFirst();
    }
}
