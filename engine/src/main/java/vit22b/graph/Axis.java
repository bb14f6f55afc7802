package vit22b.graph;

/** The two axes of the t x k mesh (paper section 3): data (batch shards) and model (weight shards). */
public enum Axis { DATA, MODEL }
