package vit22b.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;

import org.junit.jupiter.api.Test;

import vit22b.backend.Backend;
import vit22b.backend.cpu.CpuBackend;
import vit22b.tensor.Tensor;
import vit22b.testing.Check;

/** The FLOP formula against the matmuls the model really asks its backend for. */
class ModelFlopsTest {

    /** Multiply-accumulates of one forward op call, from its tensors' shapes; 0 for ops without a matmul. */
    private static long macs(String op, Object[] a) {
        return switch (op) {
            case "patchEmbedForward" -> ((Tensor) a[0]).size() * (((Tensor) a[2]).size() / ((Tensor) a[2]).dim(0));
            case "linearForward" -> ((Tensor) a[1]).size() * ((Tensor) a[2]).dim(0);
            case "inProjectionForward" -> ((Tensor) a[2]).size() * ((Tensor) a[3]).dim(0);   // y, wIn (its GEMM runs inside)
            case "attentionForward" -> 2 * ((Tensor) a[2]).size() * ((Tensor) a[3]).dim(2);
            case "outProjectionForward" -> ((Tensor) a[2]).size() * ((Tensor) a[3]).dim(0);
            default -> 0;
        };
    }

    @Test void forwardFlopsEqualTwiceTheMacsOfTheBackendCalls() {
        int batch = 3;
        ModelConfig c = Presets.get("test-small");
        long[] total = {0};
        try (CpuBackend cpu = new CpuBackend()) {
            Backend counting = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                    (proxy, m, args) -> {
                        total[0] += macs(m.getName(), args);
                        try {
                            return m.invoke(cpu, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            try (ViT vit = new ViT(counting, c)) {
                Init.init(counting, vit.layout(), vit.params(), 3);
                Tensor images = counting.allocate(batch, c.channels(), c.imageSize(), c.imageSize());
                counting.upload(images, Check.uniform(4, (int) images.size(), -1, 1));
                total[0] = 0;
                vit.forward(images);
                counting.free(images);
            }
        }
        assertEquals(ModelStats.of(c).flops().forwardPerImage() * batch, 2 * total[0]);
    }
}
