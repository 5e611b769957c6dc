package dev.soma.backend.cuda;

import org.bytedeco.javacpp.Pointer;

/** A JavaCPP {@link Pointer} at a raw device address, for cudart calls that take pointers (cudaMemcpy, cudaFree). */
final class DevicePointer extends Pointer {
    DevicePointer(long address) {
        this.address = address;
    }
}
