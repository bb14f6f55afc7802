package vit22b.backend.cuda;

import jcuda.driver.CUdeviceptr;

/** A CUdeviceptr whose raw address we can read: kernels and cuBLASLt take plain addresses. */
final class DevicePointer extends CUdeviceptr {
    long address() { return getNativePointer() + getByteOffset(); }
}
