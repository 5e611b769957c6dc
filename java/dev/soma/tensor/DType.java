package dev.soma.tensor;

/** Element types. Codes match {@code enum soma_dtype} in native/include/soma.h. */
public enum DType {
    F32(0, 4, "float32"),
    F64(1, 8, "float64"),
    I32(2, 4, "int32");

    private final int code;
    private final int byteSize;
    private final String label;

    DType(int code, int byteSize, String label) {
        this.code = code;
        this.byteSize = byteSize;
        this.label = label;
    }

    public int code() {
        return code;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloating() {
        return this != I32;
    }

    @Override
    public String toString() {
        return label;
    }
}
