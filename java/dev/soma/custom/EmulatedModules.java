package dev.soma.custom;

import dev.soma.backend.CudaProbe;
import dev.soma.errors.DeviceException;
import dev.soma.errors.NativeException;
import dev.soma.jni.CudaKernels;
import dev.soma.jni.CudaLibraries;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.JarURLConnection;
import java.net.URI;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The emulated device's twin of {@link NvrtcModules}: a custom op's CUDA source is compiled by the host C++
 * compiler against the CUDA emulator ({@code cuda-kernels/emu}, whose headers travel in the jar) into a shared
 * library, a <em>module</em>, that the emulator loads and launches (its kernels run on CPU fibers, with the
 * emulator's misuse checks). Used by {@link CustomOp} when {@code cuda:0} is the emulated device
 * ({@code SOMA_CUDA_EMULATE=1}).
 *
 * <p>What the module holds, in one generated file: a short prologue; {@code #line 1 "<op>.cu"} and the op's
 * source, with every {@code extern __shared__ T name[];} rewritten in place (same lines) to the emulator's dynamic
 * shared memory; then one C entry per declared kernel, which deduces the kernel's parameter types from its
 * function pointer (no signature parsing), checks the launch's arguments against them, converts them and calls
 * {@code soma_emu::launch}. Compile errors therefore name {@code <op>.cu} and the user's own lines, as NVRTC's log
 * does; an error in a declared kernel name names it.
 *
 * <p>Cache: modules are kept per SHA-256 of (source, kernel names, options, the emulator's headers, the compiler),
 * in memory and on disk under {@code -Dsoma.custom.cacheDir} (default {@code $XDG_CACHE_HOME/soma/emu-kernels}
 * or {@code ~/.cache/soma/emu-kernels}), one folder per hash; a second JVM loads the cached library without
 * compiling. Files are written under temporary names and renamed into place, so concurrent compiles of one
 * source (threads or JVMs) never see a partial library.
 *
 * <p>Compiler: {@code -Dsoma.custom.cxx}, else {@code $CXX}, else {@code c++}, {@code g++} or {@code clang++} on the
 * PATH. Options given with {@link CudaKernel#withOptions}: {@code -D}, {@code -U}, {@code -I} and {@code -std=c++20}
 * or later are passed on; NVRTC's code-generation options ({@code --use_fast_math}, {@code -arch}, ...) have no
 * meaning here and are ignored.
 */
final class EmulatedModules {
    /** Bumped whenever the generated code or the compile command changes (part of every cache key). */
    private static final String FORMAT = "soma-emu-module/1";
    /** The entry signature and table that {@code cuda-kernels/emu/src/modules.cpp} expects (kModuleAbi). */
    private static final int MODULE_ABI = 1;
    /** The emulated device's per-block shared memory limit with the opt-in (an sm_90 part's, as the scheduler's). */
    private static final int MAX_SHARED_BYTES = 227 * 1024;

    /**
     * A loaded module and the launch entries found so far. {@code program}: the file name its source was compiled
     * under ({@code <op>.cu} of the op that compiled it first; ops sharing a source share the module).
     */
    private record Module(long handle, String program, Map<String, Long> entries) {}

    private static final Map<String, Module> LOADED = new ConcurrentHashMap<>();
    private static volatile Toolchain toolchain;
    private static volatile int compilations;
    private static volatile int diskLoads;

    private EmulatedModules() {}

    /** True when cuda:0 is the emulated device: custom ops then come here instead of NVRTC. */
    static boolean active() {
        CudaProbe.Result r = CudaProbe.result();
        return r.usable() && r.emulated();
    }

    /** Sources compiled in this JVM (neither in memory nor on disk): tests check the cache with it. */
    static int compilations() {
        return compilations;
    }

    /** Modules loaded from the disk cache without compiling. */
    static int diskLoads() {
        return diskLoads;
    }

    /** Forgets the loaded modules (they stay mapped), so the next use goes to the disk cache as a new JVM would. */
    static void forgetLoaded() {
        LOADED.clear();
    }

    /** Where modules are cached: {@code -Dsoma.custom.cacheDir}, else the user's cache folder. */
    static Path cacheRoot() {
        String dir = System.getProperty("soma.custom.cacheDir");
        if (dir != null && !dir.isBlank()) return Path.of(dir);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("soma").resolve("emu-kernels");
    }

    /** Runs kernel {@code name} of {@code kernel} with the given pointers and plan; compiles the source on first use. */
    static void launch(String op, CudaKernel kernel, int device, String name, long[] pointers, Launch plan) {
        if (device != 0) {
            throw new DeviceException("custom op " + op + ": the emulated CUDA device is cuda:0, not cuda:" + device);
        }
        if (!kernel.kernels().contains(name)) {
            throw new IllegalArgumentException("custom op " + op + ": kernel '" + name + "' is not among the declared kernels "
                    + kernel.kernels());
        }
        checkPlan(op, name, plan);
        Toolchain tc = toolchain(op);
        String hash = hash(tc, kernel);
        Module m = LOADED.computeIfAbsent(hash, h -> loadOrCompile(op, tc, kernel, h));
        long entry = m.entries().computeIfAbsent(name, n -> findKernel(op, m, n));

        StringBuilder kinds = new StringBuilder();
        long[] slots = new long[pointers.length + plan.args().length];
        int k = 0;
        for (long p : pointers) {
            slots[k++] = p;
            kinds.append('p');
        }
        for (Object a : plan.args()) {
            if (a instanceof Integer i) {
                slots[k++] = i;
                kinds.append('i');
            } else if (a instanceof Long l) {
                slots[k++] = l;
                kinds.append('l');
            } else if (a instanceof Float x) {
                slots[k++] = Float.floatToRawIntBits(x) & 0xFFFFFFFFL;
                kinds.append('f');
            } else {
                slots[k++] = Double.doubleToRawLongBits((Double) a);
                kinds.append('d');
            }
        }
        int[] g = plan.grid();
        int[] b = plan.block();
        int[] gridBlock = {g[0], g[1], g[2], b[0], b[1], b[2]};
        StackWalker.StackFrame site = callSite();
        byte[] error = new byte[4096];
        // On the backend's current stream, as NvrtcModules launches on a GPU: ordered with Soma's own kernels.
        long stream = dev.soma.backend.Backends.get(dev.soma.tensor.Device.cuda(device)).currentStream();
        int status = CudaKernels.soma_cuda_emu_module_launch(entry, site == null ? op : site.getFileName(),
                site == null ? 0 : site.getLineNumber(), gridBlock, plan.sharedBytes(), slots, kinds.toString(), stream,
                error, error.length);
        if (status != 0) {
            String why = CudaLibraries.cString(error);
            // The emulator names source lines by the file the module was compiled as: name this op's own instead.
            if (!m.program().equals(op + ".cu")) why = why.replace(m.program() + ":", op + ".cu:");
            throw new NativeException("custom op " + op + ": kernel " + name + " (" + plan + ") failed on the emulated CUDA "
                    + "device: " + why + " (CUDA error " + status + ")");
        }
    }

    /** The structural limits NVRTC's path checks, with the emulated device's shared memory limit. */
    private static void checkPlan(String op, String name, Launch plan) {
        NvrtcModules.checkDimensions(op, name, plan);
        if (plan.sharedBytes() > MAX_SHARED_BYTES) {
            throw new IllegalArgumentException("custom op " + op + ": kernel " + name + " asks for " + plan.sharedBytes()
                    + " B of shared memory; cuda:0 (emulated) allows at most " + MAX_SHARED_BYTES + " B per block");
        }
    }

    private static final Pattern MACHINERY = Pattern.compile(
            "dev\\.soma\\.custom\\.(CustomOp|Backends|EmulatedModules|NvrtcModules)(\\$.*)?|dev\\.soma\\.autograd\\..*");

    /** The first frame outside the custom-op machinery: the emulator's messages name it as the launch site. */
    private static StackWalker.StackFrame callSite() {
        Optional<StackWalker.StackFrame> f = StackWalker.getInstance().walk(s -> s
                .filter(fr -> fr.getFileName() != null && fr.getLineNumber() > 0)
                .filter(fr -> !MACHINERY.matcher(fr.getClassName()).matches())
                .findFirst());
        return f.orElse(null);
    }

    private static long findKernel(String op, Module m, String name) {
        long[] out = new long[1];
        byte[] error = new byte[2048];
        int status = CudaKernels.soma_cuda_emu_module_kernel(m.handle(), name, out, error, error.length);
        if (status != 0) {
            throw new NativeException("custom op " + op + ": finding kernel " + name + " in its emulated module failed: "
                    + CudaLibraries.cString(error));
        }
        return out[0];
    }

    // ------------------------------------------------------------------ cache and compilation

    private static Module loadOrCompile(String op, Toolchain tc, CudaKernel kernel, String hash) {
        Path dir = cacheRoot().resolve(hash);
        Path lib = dir.resolve("module.so");
        Path program = dir.resolve("program.txt");
        if (Files.isRegularFile(lib) && Files.isRegularFile(program)) {
            long[] handle = new long[1];
            byte[] error = new byte[2048];
            if (CudaKernels.soma_cuda_emu_module_load(lib.toString(), handle, error, error.length) == 0) {
                diskLoads++;
                String name;
                try {
                    name = Files.readString(program, StandardCharsets.UTF_8).strip();
                } catch (IOException e) {
                    name = op + ".cu";
                }
                return new Module(handle[0], name, new ConcurrentHashMap<>());
            }
            // A library this emulator cannot use (another module ABI, a damaged file): build it again.
            try {
                Files.deleteIfExists(lib);
            } catch (IOException ignored) {
                // the compile below replaces it
            }
        }
        compile(op, tc, kernel, dir, lib);
        long[] handle = new long[1];
        byte[] error = new byte[2048];
        int status = CudaKernels.soma_cuda_emu_module_load(lib.toString(), handle, error, error.length);
        if (status != 0) {
            throw new NativeException("custom op " + op + ": loading its compiled module " + lib + " failed: "
                    + CudaLibraries.cString(error));
        }
        compilations++;
        return new Module(handle[0], op + ".cu", new ConcurrentHashMap<>());
    }

    private static void compile(String op, Toolchain tc, CudaKernel kernel, Path dir, Path lib) {
        String tag = ProcessHandle.current().pid() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
        try {
            Files.createDirectories(dir);
            Path src = dir.resolve("module-" + tag + ".cu.cpp");
            Path tmp = dir.resolve("module-" + tag + ".so.tmp");
            Files.writeString(src, moduleSource(op, kernel.source(), kernel.kernels()), StandardCharsets.UTF_8);
            List<String> cmd = new ArrayList<>(tc.command());
            List<String> userOptions = translateOptions(kernel.options());
            cmd.addAll(userOptions);
            cmd.addAll(List.of("-x", "c++", src.toString(), "-x", "none", "-o", tmp.toString(),
                    "-L" + tc.runtimeDir(), "-lsoma_cuda_emu_rt", "-Wl,-rpath," + tc.runtimeDir(), "-Wl,-z,defs"));
            Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
            p.getOutputStream().close();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new NativeException("custom op " + op + ": the host compiler did not finish in 10 minutes: " + cmd);
            }
            int rc = p.exitValue();
            Files.deleteIfExists(src);
            if (rc != 0) {
                Files.deleteIfExists(tmp);
                try {
                    Files.deleteIfExists(dir);  // nothing is cached for a source that does not compile
                } catch (DirectoryNotEmptyException ignored) {
                    // another process's files are there
                }
                String log = new String(out, StandardCharsets.UTF_8).strip();
                throw new CudaCompileException(op, "the host compiler (" + tc.compiler() + ", for the emulated CUDA device)",
                        userOptions.toString(), log.isEmpty() ? "(exit status " + rc + ", no output)" : log);
            }
            // program.txt first: a module.so in place always has its program name beside it.
            Path name = dir.resolve("program-" + tag + ".txt");
            Files.writeString(name, op + ".cu\n", StandardCharsets.UTF_8);
            moveIntoPlace(name, dir.resolve("program.txt"));
            moveIntoPlace(tmp, lib);
        } catch (IOException e) {
            throw new NativeException("custom op " + op + ": compiling its CUDA source for the emulated device in " + dir
                    + " failed: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new NativeException("custom op " + op + ": interrupted while compiling its CUDA source", e);
        }
    }

    private static void moveIntoPlace(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** NVRTC options that mean something to the host compiler are passed on; code-generation ones are dropped. */
    static List<String> translateOptions(List<String> options) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < options.size(); i++) {
            String o = options.get(i);
            if (o.startsWith("-D") || o.startsWith("-U") || o.startsWith("-I")) {
                if (o.length() == 2 && i + 1 < options.size()) out.add(o + options.get(++i));
                else if (o.length() > 2) out.add(o);
            } else if (o.startsWith("--define-macro=")) {
                out.add("-D" + o.substring("--define-macro=".length()));
            } else if (o.startsWith("--undefine-macro=")) {
                out.add("-U" + o.substring("--undefine-macro=".length()));
            } else if (o.startsWith("--include-path=")) {
                out.add("-I" + o.substring("--include-path=".length()));
            } else if (o.matches("(-std|--std)=c\\+\\+(2[0-9a-z]|[3-9][0-9])")) {
                out.add(o.substring(o.indexOf("-std=")));
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ the generated source

    /** Helpers the rewritten source and the entries use; kept before {@code #line 1}, so they never shift lines. */
    private static final String PROLOGUE = """
            // Generated by Soma (dev.soma.custom.EmulatedModules): a custom op's CUDA source for the emulated device.
            #include <cassert>
            #include <cstdint>
            #include <cstdio>
            #include <cstring>
            #include <string>
            #include <type_traits>
            #include <utility>
            // A failed assert or __trap() ends the launch with the emulator's message (kernel, thread, line), not the JVM.
            #undef assert
            #define assert(e) ((e) ? (void)0 : ::soma_emu::kernel_error(__FILE__, __LINE__, "assertion failed: " #e))
            #define __trap() ::soma_emu::kernel_error(__FILE__, __LINE__, "__trap()")
            namespace soma_emu_custom {
            // extern __shared__ T name[] at namespace scope: the block's dynamic shared memory, as an array-like value.
            template <typename T> struct DynamicSharedArray {
              T* get() const { return static_cast<T*>(::soma_emu::dynamic_shared()); }
              operator T*() const { return get(); }
              template <typename U, typename = typename std::enable_if<!std::is_same<U, T>::value>::type>
              explicit operator U*() const { return reinterpret_cast<U*>(get()); }
              T& operator[](std::ptrdiff_t i) const { return get()[i]; }
              T* operator+(std::ptrdiff_t i) const { return get() + i; }
              T& operator*() const { return *get(); }
            };
            // What a Launch passes for a parameter of type T: p pointer, i / l 32- / 64-bit integer, f float, d double.
            template <typename T> constexpr char kind_of() {
              if constexpr (std::is_pointer<T>::value) return 'p';
              else if constexpr (std::is_same<T, float>::value) return 'f';
              else if constexpr (std::is_same<T, double>::value) return 'd';
              else if constexpr ((std::is_integral<T>::value || std::is_enum<T>::value) && sizeof(T) == 4) return 'i';
              else if constexpr ((std::is_integral<T>::value || std::is_enum<T>::value) && sizeof(T) == 8) return 'l';
              else return '?';
            }
            template <typename T> T take(int64_t bits) {
              if constexpr (std::is_pointer<T>::value) {
                return reinterpret_cast<T>(static_cast<intptr_t>(bits));
              } else if constexpr (std::is_same<T, float>::value) {
                uint32_t b = static_cast<uint32_t>(static_cast<uint64_t>(bits));
                float f;
                std::memcpy(&f, &b, 4);
                return f;
              } else if constexpr (std::is_same<T, double>::value) {
                double d;
                std::memcpy(&d, &bits, 8);
                return d;
              } else {
                return static_cast<T>(bits);
              }
            }
            inline std::string kinds_text(const char* kinds) {
              std::string s = "(";
              for (const char* k = kinds; *k; ++k) {
                if (k != kinds) s += ", ";
                switch (*k) {
                  case 'p': s += "pointer"; break;
                  case 'i': s += "32-bit integer"; break;
                  case 'l': s += "64-bit integer"; break;
                  case 'f': s += "float"; break;
                  case 'd': s += "double"; break;
                  default: s += "a type a Launch cannot pass"; break;
                }
              }
              return s + ")";
            }
            template <auto Kernel, typename... P, std::size_t... I>
            int run(void (*)(P...), std::index_sequence<I...>, const char* name, const char* file, int line, const int* gb,
                    std::size_t shared, const int64_t* args, const char* kinds, char* error, int error_len) {
              static constexpr char want[] = {kind_of<typename std::decay<P>::type>()..., '\\0'};
              if (std::strcmp(want, kinds) != 0) {
                std::string why = std::string("kernel ") + name + " takes " + kinds_text(want)
                    + " but the launch passes " + kinds_text(kinds)
                    + ": one pointer per input and output, then Launch.args (Integer, Long, Float, Double)";
                std::snprintf(error, std::size_t(error_len), "%s", why.c_str());
                return 1;  // cudaErrorInvalidValue
              }
              if (shared > 48 * 1024) cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(shared));
              return ::soma_emu::launch<Kernel>(Kernel, file, line, dim3(unsigned(gb[0]), unsigned(gb[1]), unsigned(gb[2])),
                                                dim3(unsigned(gb[3]), unsigned(gb[4]), unsigned(gb[5])), shared,
                                                take<typename std::decay<P>::type>(args[I])...);
            }
            template <auto Kernel, typename... P>
            int entry(void (*k)(P...), const char* name, const char* file, int line, const int* gb, std::size_t shared,
                      const int64_t* args, const char* kinds, char* error, int error_len) {
              return run<Kernel>(k, std::index_sequence_for<P...>{}, name, file, line, gb, shared, args, kinds, error,
                                 error_len);
            }
            using EntryFn = int(const char*, int, const int*, std::size_t, const int64_t*, const char*, char*, int);
            }  // namespace soma_emu_custom
            """;

    /** The whole file the host compiler builds: prologue, the op's source (rewritten in place), the entries. */
    static String moduleSource(String op, String source, List<String> kernels) {
        StringBuilder sb = new StringBuilder(PROLOGUE);
        sb.append("#line 1 \"").append(escape(op + ".cu")).append("\"\n");
        sb.append(rewriteDynamicShared(source));
        if (!source.endsWith("\n")) sb.append('\n');
        sb.append("// ---- generated: one launch entry per declared kernel\n");
        for (int i = 0; i < kernels.size(); i++) {
            String k = kernels.get(i);
            sb.append("#line 1 \"").append(escape(op + ".cu: declared kernel " + k)).append("\"\n");
            sb.append("extern \"C\" int soma_emu_custom_entry_").append(i)
                    .append("(const char* soma_f_, int soma_l_, const int* soma_gb_, std::size_t soma_sh_, const int64_t* soma_a_,")
                    .append(" const char* soma_k_, char* soma_e_, int soma_el_) { return ::soma_emu_custom::entry<").append(k)
                    .append(">(").append(k).append(", \"").append(escape(k))
                    .append("\", soma_f_, soma_l_, soma_gb_, soma_sh_, soma_a_, soma_k_, soma_e_, soma_el_); }\n");
        }
        sb.append("#line 1 \"").append(escape(op + ".cu: generated kernel table")).append("\"\n");
        sb.append("extern \"C\" int soma_emu_module_abi(void) { return ").append(MODULE_ABI).append("; }\n");
        sb.append("extern \"C\" const char* const soma_emu_module_names[] = {");
        for (String k : kernels) sb.append('"').append(escape(k)).append("\", ");
        sb.append("nullptr};\n");
        sb.append("extern \"C\" ::soma_emu_custom::EntryFn* const soma_emu_module_entries[] = {");
        for (int i = 0; i < kernels.size(); i++) sb.append("&soma_emu_custom_entry_").append(i).append(", ");
        sb.append("nullptr};\n");
        return sb.toString();
    }

    private static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", " ");
    }

    private static final Pattern EXTERN_SHARED = Pattern.compile(
            "\\b(?:extern\\b([^;{}]*?)\\b__shared__|__shared__\\b([^;{}]*?)\\bextern)\\b([^;{}]*?)\\b([A-Za-z_]\\w*)\\s*\\[\\s*\\]\\s*;");
    private static final Pattern DECORATION = Pattern.compile(
            "__align__\\s*\\(\\s*\\d+\\s*\\)|alignas\\s*\\([^()]*\\)|__attribute__\\s*\\(\\([^()]*(?:\\([^()]*\\)[^()]*)*\\)\\)");

    /**
     * Rewrites each {@code extern __shared__ T name[];} (the usual CUDA spelling of dynamic shared memory, which the
     * emulator cannot take literally: its {@code __shared__} is {@code static thread_local}) into the block's
     * dynamic shared memory: inside a function a pointer, {@code T* name = ...;}, which every use of the array
     * accepts; at namespace scope an array-like value ({@code name[i]}, {@code (U*) name}, {@code name + i}; not
     * {@code reinterpret_cast}). Comments and string literals are left alone; the line count never changes.
     */
    static String rewriteDynamicShared(String source) {
        String masked = mask(source);
        Matcher m = EXTERN_SHARED.matcher(masked);
        StringBuilder out = new StringBuilder();
        int last = 0;
        while (m.find()) {
            String type = ((m.group(1) != null ? m.group(1) : m.group(2)) + " " + m.group(3));
            type = DECORATION.matcher(type).replaceAll(" ").replaceAll("\\s+", " ").strip();
            if (type.isEmpty()) continue;
            String name = m.group(4);
            String replacement = insideFunction(masked, m.start())
                    ? type + "* " + name + " = static_cast<" + type + "*>(::soma_emu::dynamic_shared());"
                    : "static const ::soma_emu_custom::DynamicSharedArray<" + type + "> " + name + "{};";
            out.append(source, last, m.start()).append(replacement);
            String matched = source.substring(m.start(), m.end());
            for (int i = 0; i < matched.length(); i++) if (matched.charAt(i) == '\n') out.append('\n');
            last = m.end();
        }
        return out.append(source, last, source.length()).toString();
    }

    /** The source with comments and string / character literals blanked (newlines kept), so offsets match. */
    private static String mask(String s) {
        char[] c = s.toCharArray();
        int i = 0;
        while (i < c.length) {
            if (c[i] == '/' && i + 1 < c.length && c[i + 1] == '/') {
                while (i < c.length && c[i] != '\n') c[i++] = ' ';
            } else if (c[i] == '/' && i + 1 < c.length && c[i + 1] == '*') {
                c[i++] = ' ';
                c[i++] = ' ';
                while (i < c.length && !(c[i] == '*' && i + 1 < c.length && c[i + 1] == '/')) {
                    if (c[i] != '\n') c[i] = ' ';
                    i++;
                }
                for (int k = 0; k < 2 && i < c.length; k++) c[i++] = ' ';
            } else if (c[i] == '"' || c[i] == '\'') {
                char q = c[i];
                c[i++] = ' ';
                while (i < c.length && c[i] != q && c[i] != '\n') {
                    if (c[i] == '\\' && i + 1 < c.length) c[i++] = ' ';
                    c[i++] = ' ';
                }
                if (i < c.length && c[i] == q) c[i++] = ' ';
            } else {
                i++;
            }
        }
        return new String(c);
    }

    private static final Pattern NON_FUNCTION_BRACE = Pattern.compile(
            "(?s).*(?:\\bnamespace\\b[\\w\\s:]*|\\bextern\\s*|\\b(?:struct|class|union|enum)\\b[^()]*)");

    /** True when offset {@code at} of the (masked) source lies inside a function body or another block. */
    private static boolean insideFunction(String masked, int at) {
        List<Boolean> stack = new ArrayList<>();  // per open brace: true for a block, false for a namespace, class, extern "C"
        int statementStart = 0;
        for (int i = 0; i < at; i++) {
            char c = masked.charAt(i);
            if (c == '{') {
                String head = masked.substring(statementStart, i);
                stack.add(!NON_FUNCTION_BRACE.matcher(head).matches());
                statementStart = i + 1;
            } else if (c == '}') {
                if (!stack.isEmpty()) stack.remove(stack.size() - 1);
                statementStart = i + 1;
            } else if (c == ';' || (c == '\n' && i + 1 < masked.length() && masked.charAt(i + 1) == '#')) {
                statementStart = i + 1;
            } else if (c == '#' && (i == 0 || masked.charAt(i - 1) == '\n')) {
                while (i + 1 < at && masked.charAt(i + 1) != '\n') i++;  // a preprocessor line
                statementStart = i + 1;
            }
        }
        return stack.contains(Boolean.TRUE);
    }

    // ------------------------------------------------------------------ toolchain: compiler, headers, runtime

    /** The compiler command (without the source and output), the runtime's folder and what keys the cache. */
    private record Toolchain(String compiler, List<String> command, String runtimeDir, String identity) {}

    private static Toolchain toolchain(String op) {
        Toolchain t = toolchain;
        if (t == null) {
            synchronized (EmulatedModules.class) {
                if (toolchain == null) toolchain = findToolchain(op);
                t = toolchain;
            }
        }
        return t;
    }

    private static Toolchain findToolchain(String op) {
        String compiler = findCompiler();
        if (compiler == null) {
            throw new DeviceException("custom op " + op + ": the emulated CUDA device compiles custom ops with the host "
                    + "C++ compiler, and none was found (set -Dsoma.custom.cxx=/path/to/g++ or $CXX, or put c++ / g++ on the PATH)");
        }
        byte[] dir = new byte[4096];
        int status = CudaKernels.soma_cuda_emu_runtime_dir(dir, dir.length);
        if (status != 0) {
            throw new NativeException("custom op " + op + ": the emulator did not say where its runtime library is: "
                    + CudaKernels.soma_cuda_status_string(status));
        }
        String runtimeDir = CudaLibraries.cString(dir);
        Headers headers = extractHeaders(op);
        List<String> cmd = new ArrayList<>(List.of(compiler, "-std=c++17", "-O2", "-fPIC", "-shared", "-fno-strict-aliasing",
                "-fdiagnostics-color=never", "-fmax-errors=20", "-I" + headers.dir()));
        String toolkit = toolkitInclude();
        if (toolkit != null && !"false".equals(System.getProperty("soma.custom.toolkitHeaders"))) {
            cmd.addAll(List.of("-isystem", toolkit, "-DSOMA_EMU_TOOLKIT_HEADERS=1"));
        }
        cmd.addAll(List.of("-include", "soma_emu.h"));
        String identity = FORMAT + "\0" + headers.hash() + "\0" + String.join("\0", cmd).replace(headers.dir().toString(), "");
        return new Toolchain(compiler, List.copyOf(cmd), runtimeDir, identity);
    }

    private static String findCompiler() {
        String asked = System.getProperty("soma.custom.cxx");
        if (asked == null || asked.isBlank()) asked = System.getenv("CXX");
        if (asked != null && !asked.isBlank()) {
            String found = onPath(asked.strip());
            return found != null ? found : asked.strip();
        }
        for (String c : List.of("c++", "g++", "clang++")) {
            String found = onPath(c);
            if (found != null) return found;
        }
        return null;
    }

    private static String onPath(String name) {
        if (name.contains(File.separator)) return Files.isExecutable(Path.of(name)) ? name : null;
        String path = System.getenv("PATH");
        if (path == null) return null;
        for (String d : path.split(File.pathSeparator)) {
            if (d.isEmpty()) continue;
            Path p = Path.of(d, name);
            if (Files.isExecutable(p) && !Files.isDirectory(p)) return p.toString();
        }
        return null;
    }

    /** The CUDA toolkit's headers, used as the emulated kernel library's build uses them (SomaCudaEmu.cmake). */
    private static String toolkitInclude() {
        List<String> candidates = new ArrayList<>();
        for (String env : List.of("CUDA_HOME", "CUDA_PATH")) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) candidates.add(v + "/include");
        }
        candidates.add("/usr/local/cuda/include");
        for (String c : candidates) {
            if (Files.isRegularFile(Path.of(c, "vector_types.h")) && Files.isRegularFile(Path.of(c, "cuda_runtime_api.h"))) {
                return c;
            }
        }
        return null;
    }

    private record Headers(Path dir, String hash) {}

    /** The emulator's headers from the jar (dev/soma/jni/emu-include/), copied once into the cache by content hash. */
    private static Headers extractHeaders(String op) {
        Map<String, byte[]> files = new TreeMap<>();
        try {
            URL url = CudaKernels.class.getResource("emu-include");
            if (url == null) {
                throw new DeviceException("custom op " + op + ": this Soma build carries no emulator headers "
                        + "(dev/soma/jni/emu-include), so it cannot compile custom ops for the emulated device");
            }
            if ("jar".equals(url.getProtocol())) {
                JarURLConnection conn = (JarURLConnection) url.openConnection();
                conn.setUseCaches(false);
                String prefix = conn.getEntryName() + "/";
                try (JarFile jar = conn.getJarFile()) {
                    for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements();) {
                        JarEntry je = e.nextElement();
                        String rest = je.getName().startsWith(prefix) ? je.getName().substring(prefix.length()) : null;
                        if (rest == null || rest.isEmpty() || je.isDirectory() || rest.contains("/")) continue;
                        try (InputStream in = jar.getInputStream(je)) {
                            files.put(rest, in.readAllBytes());
                        }
                    }
                }
            } else {
                try (var list = Files.list(Path.of(URI.create(url.toString())))) {
                    for (Path p : (Iterable<Path>) list::iterator) {
                        if (Files.isRegularFile(p)) files.put(p.getFileName().toString(), Files.readAllBytes(p));
                    }
                }
            }
            if (!files.containsKey("soma_emu.h")) {
                throw new DeviceException("custom op " + op + ": the emulator headers in this Soma build lack soma_emu.h");
            }
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (var e : files.entrySet()) {
                md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                md.update(e.getValue());
                md.update((byte) 0);
            }
            String hash = HexFormat.of().formatHex(md.digest());
            Path root = cacheRoot();
            Path dir = root.resolve("include-" + hash.substring(0, 16));
            if (!Files.isRegularFile(dir.resolve("soma_emu.h"))) {
                Files.createDirectories(root);
                Path tmp = Files.createTempDirectory(root, "include-tmp-");
                for (var e : files.entrySet()) Files.write(tmp.resolve(e.getKey()), e.getValue());
                try {
                    Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
                    deleteTree(tmp);  // another JVM put the same headers there first
                } catch (IOException e) {
                    if (!Files.isRegularFile(dir.resolve("soma_emu.h"))) throw e;
                    deleteTree(tmp);
                }
            }
            return new Headers(dir, hash);
        } catch (IOException e) {
            throw new UncheckedIOException("custom op " + op + ": extracting the emulator headers into " + cacheRoot()
                    + " failed", e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) walk.sorted(java.util.Comparator.reverseOrder())::iterator) Files.deleteIfExists(p);
        }
    }

    private static String hash(Toolchain tc, CudaKernel k) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(tc.identity().getBytes(StandardCharsets.UTF_8));
            md.update((byte) 2);
            md.update(k.source().getBytes(StandardCharsets.UTF_8));
            for (String o : k.options()) md.update(("\0" + o).getBytes(StandardCharsets.UTF_8));
            for (String n : k.kernels()) md.update(("\1" + n).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
