package vit22b.model;

/** Sigmoid cross-entropy over classes (multi-label, paper default) or softmax cross-entropy. */
public enum LossKind { SIGMOID, SOFTMAX }
