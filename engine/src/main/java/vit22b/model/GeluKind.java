package vit22b.model;

/** GELU variant: tanh approximation (paper/JAX default) or exact erf (timm/PyTorch default). */
public enum GeluKind { TANH, EXACT }
