package vit22b.train;

/** A non-finite loss or gradient: the run stopped before the bad state was applied or saved. */
public final class TrainingDivergedException extends IllegalStateException {
    public TrainingDivergedException(String message) { super(message); }
}
