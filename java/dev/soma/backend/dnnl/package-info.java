/**
 * A small layer over oneDNN's C API (JavaCPP {@code dnnl} preset) shared by every op that runs on oneDNN:
 * matmul here, convolution, pooling and recurrence later.
 *
 * <ul>
 *   <li>{@link dev.soma.backend.dnnl.Dnnl}: the CPU engine and stream (one each per process), status checking
 *       ({@code dnnl_status_t} to {@link dev.soma.errors.NativeException} naming the primitive and shapes),
 *       dtype mapping, the one lock under which primitives execute.</li>
 *   <li>{@link dev.soma.backend.dnnl.MemoryDescs}: memory descriptors from Soma's element shapes and
 *       strides, or from a format tag ({@code any} lets a primitive choose a blocked layout).</li>
 *   <li>{@link dev.soma.backend.dnnl.NativeHandles}: destroys descriptors built for one primitive creation,
 *       including on failure paths.</li>
 *   <li>{@link dev.soma.backend.dnnl.DnnlPrimitive}: a created primitive with its argument memories, ready
 *       to run on raw addresses; user-managed scratchpad taken from Soma's pool for each run.</li>
 *   <li>{@link dev.soma.backend.dnnl.PrimitiveCache} and {@link dev.soma.backend.dnnl.PrimitiveKey}: one
 *       primitive per geometry (shape, strides, dtype and whatever else changes the primitive), so a repeated
 *       shape costs a map look-up instead of building descriptors again (~7 µs even with oneDNN's own
 *       cache).</li>
 * </ul>
 *
 * <p>Kinds built on it: {@link dev.soma.backend.dnnl.DnnlMatmul}; {@link dev.soma.backend.dnnl.DnnlConvolution}
 * (forward, backward-data and backward-weights passes with weights in {@code format_tag_any}, plus a second
 * cache of reorder primitives between Keras' HWIO kernels and the layout each pass chose); and
 * {@link dev.soma.backend.dnnl.DnnlPooling} (max pooling's workspace is caller-provided memory, see
 * {@link dev.soma.ops.Pooling}).
 *
 * <p>Ownership: oneDNN objects have no JavaCPP deallocator. Whoever creates one destroys it: descriptors made
 * for a build go into a {@code NativeHandles} and die when the primitive descriptor exists (oneDNN copies
 * them); a {@code DnnlPrimitive} owns its primitive descriptor, primitive and memories and is closed by its
 * cache. Descriptors returned by {@code dnnl_primitive_desc_query_md} belong to the primitive descriptor and
 * must never be destroyed.
 *
 * <p>A new primitive kind follows {@link dev.soma.backend.dnnl.DnnlMatmul}: build a key from everything that
 * shapes the primitive, ask the kind's cache for it with a builder that creates descriptors with
 * {@code MemoryDescs}, the primitive descriptor with {@link dev.soma.backend.dnnl.Dnnl#userScratchpad()}
 * as attribute and {@link dev.soma.backend.dnnl.DnnlPrimitive#create}, then call
 * {@link dev.soma.backend.dnnl.PrimitiveCache#execute}.
 */
package dev.soma.backend.dnnl;
