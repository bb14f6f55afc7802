package vit22b.model;

/** Scale-only normalisation of the blocks: RMS (paper default) or centered LayerNorm without bias. */
public enum NormKind { RMS, LAYER }
