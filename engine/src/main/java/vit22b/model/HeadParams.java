package vit22b.model;

import vit22b.tensor.Tensor;

/**
 * Named views of the MAP head's tensors (and the classifier's, null without classes) inside
 * a flat buffer, in the shapes the backend ops take.
 */
record HeadParams(Tensor latent, Tensor qW, Tensor qB, Tensor kvW, Tensor kvB, Tensor projW, Tensor projB,
                  Tensor normW, Tensor normB, Tensor fc1W, Tensor fc1B, Tensor fc2W, Tensor fc2B,
                  Tensor headW, Tensor headB) {

    static HeadParams of(ParamLayout l, Tensor flat) {
        String p = "attn_pool.";
        boolean cls = l.config().classes() > 0;
        return new HeadParams(
                l.view(flat, p + "latent").reshape(l.config().width()),
                l.view(flat, p + "q.weight"), l.view(flat, p + "q.bias"),
                l.view(flat, p + "kv.weight"), l.view(flat, p + "kv.bias"),
                l.view(flat, p + "proj.weight"), l.view(flat, p + "proj.bias"),
                l.view(flat, p + "norm.weight"), l.view(flat, p + "norm.bias"),
                l.view(flat, p + "mlp.fc1.weight"), l.view(flat, p + "mlp.fc1.bias"),
                l.view(flat, p + "mlp.fc2.weight"), l.view(flat, p + "mlp.fc2.bias"),
                cls ? l.view(flat, "head.weight") : null,
                cls ? l.view(flat, "head.bias") : null);
    }
}
