package vit22b.model;

import vit22b.tensor.Tensor;

/**
 * Named views of one block's tensors inside a flat buffer (parameters or their gradients),
 * in the shapes the backend ops take.
 */
record BlockParams(Tensor inNorm, Tensor wIn, Tensor bMlp, Tensor qScale, Tensor kScale, Tensor wOut, Tensor bOut) {

    static BlockParams of(ParamLayout l, Tensor flat, int i) {
        return new BlockParams(
                l.block(flat, i, "in_norm.weight"),
                l.block(flat, i, "in_proj.weight"),
                l.block(flat, i, "mlp_bias"),
                l.block(flat, i, "q_norm.weight"),
                l.block(flat, i, "k_norm.weight"),
                l.block(flat, i, "out_proj.weight"),
                l.block(flat, i, "out_proj.bias"));
    }
}
