package dev.soma.errors;

/** Thrown for tensors on different devices, or a device that is not usable. */
public class DeviceException extends SomaException {
    public DeviceException(String message) {
        super(message);
    }

    public DeviceException(String message, Throwable cause) {
        super(message, cause);
    }
}
