// libsoma_mpi.so: Soma's MPI shim. It is built without any MPI headers and opens the MPI library of the machine at
// run time (dlopen), so the jar needs no MPI and works with the MPI a cluster provides. Two ABIs exist in the wild:
//  - Open MPI: handles are pointers to exported objects (MPI_COMM_WORLD is &ompi_mpi_comm_world, ...);
//  - MPICH and its derivatives (Intel MPI, MVAPICH, Cray MPICH): handles are fixed 32-bit integers.
// Handles therefore travel here as intptr_t: an int argument passed in a 64-bit register is read as its low 32
// bits on x86-64 and AArch64, and a request slot is 8 zeroed bytes of which MPICH uses the low 4 (little-endian).
// Every collective is non-blocking (MPI_I*) and finished by soma_mpi_wait, which polls with a deadline: a peer that
// died or hangs becomes SOMA_MPI_TIMEOUT after the caller's bound instead of a silent hang.
#include "soma.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

namespace {

typedef intptr_t H;  // MPI_Comm, MPI_Datatype, MPI_Op, MPI_Errhandler in either ABI

struct Api {
    int (*init_thread)(int*, char***, int, int*);
    int (*initialized)(int*);
    int (*finalized)(int*);
    int (*finalize)();
    int (*abort)(H, int);
    int (*comm_rank)(H, int*);
    int (*comm_size)(H, int*);
    int (*comm_set_errhandler)(H, H);
    int (*allreduce)(const void*, void*, int, H, H, H);
    int (*iallreduce)(const void*, void*, int, H, H, H, void*);
    int (*ibcast)(void*, int, H, int, H, void*);
    int (*ibarrier)(H, void*);
    int (*test)(void*, int*, void*);
    int (*error_string)(int, char*, int*);
    double (*wtime)();
    int (*get_library_version)(char*, int*);
};

Api api;
void* lib = nullptr;
int abi = 0;  // SOMA_MPI_ABI_*
H comm_world, dt_float, dt_double, dt_byte, op_sum, errors_return;
void* in_place;
void* status_ignore;
char last_error[512];

// Request slots: MPI_Request objects live here, Java holds the slot index. completed[s]: the progress thread saw
// the request finish (MPI has already released it); the slot stays taken until the owner's test or wait reads it.
constexpr int kSlots = 4096;
int64_t slots[kSlots];
bool slot_used[kSlots];
bool completed[kSlots];

// The optional progress thread (SOMA_MPI_PROGRESS_THREAD=1): MPI moves non-blocking collectives on only inside MPI
// calls, and a long backward kernel makes none, so a thread tests the requests in flight every 100 us. Every MPI
// call of the shim then holds `lock` (MPI_THREAD_SERIALIZED: one thread in MPI at a time).
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_t progress_thread;
volatile bool progress_running = false;
bool use_lock = false;

struct Guard {
    Guard() { if (use_lock) pthread_mutex_lock(&lock); }
    ~Guard() { if (use_lock) pthread_mutex_unlock(&lock); }
};

void* progress_loop(void*) {
    while (progress_running) {
        {
            Guard g;
            for (int s = 0; s < kSlots; s++) {
                if (slot_used[s] && !completed[s]) {
                    int done = 0;
                    if (api.test(&slots[s], &done, status_ignore) == 0 && done) completed[s] = true;
                    else break;  // the oldest unfinished request first: the later ones wait on it anyway
                }
            }
        }
        struct timespec ts = {0, 100000};
        nanosleep(&ts, nullptr);
    }
    return nullptr;
}

void set_error(const char* fmt, const char* a, const char* b) {
    snprintf(last_error, sizeof last_error, fmt, a, b);
}

template <typename F>
bool sym(F& f, const char* name) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    if (!f) set_error("the MPI library has no %s%s", name, "");
    return f != nullptr;
}

H address_of(const char* name) {
    return reinterpret_cast<H>(dlsym(lib, name));
}

int mpi_status(int rc) {
    if (rc == 0) return 0;
    char text[256];
    int len = 0;
    if (api.error_string && api.error_string(rc, text, &len) == 0) {
        text[len < 255 ? len : 255] = 0;
        set_error("MPI error: %s%s", text, "");
    } else {
        set_error("MPI error code %s%s", "(no text)", "");
    }
    return SOMA_MPI_ERROR;
}

int take_slot() {
    for (int i = 0; i < kSlots; i++) {
        if (!slot_used[i]) {
            slot_used[i] = true;
            completed[i] = false;
            slots[i] = 0;
            return i;
        }
    }
    return -1;
}

H datatype(int dtype) {
    return dtype == SOMA_F32 ? dt_float : dtype == SOMA_F64 ? dt_double : dt_byte;
}

}  // namespace

extern "C" {

int soma_mpi_open(const char* library_path, char* error, int error_len) {
    if (lib) return 0;
    // UCX (the transport of MPICH's ch4 device, and of Open MPI's pml/ucx on InfiniBand clusters) installs its own
    // SIGSEGV/SIGBUS/SIGILL/SIGFPE handlers when it loads, over the JVM's. The JVM raises SIGSEGV on purpose (implicit
    // null checks in compiled code, which become NullPointerExceptions); UCX's handler takes that for a crash and
    // kills the process. An empty signal list leaves the JVM's handlers alone; a value the user set is kept.
    setenv("UCX_ERROR_SIGNALS", "", 0);
    lib = dlopen(library_path, RTLD_NOW | RTLD_GLOBAL);  // GLOBAL: Open MPI's plugins resolve libmpi's symbols
    if (!lib) {
        snprintf(error, error_len, "%s", dlerror());
        return SOMA_MPI_ERROR;
    }
    bool ok = sym(api.init_thread, "MPI_Init_thread") && sym(api.initialized, "MPI_Initialized")
        && sym(api.finalized, "MPI_Finalized") && sym(api.finalize, "MPI_Finalize") && sym(api.abort, "MPI_Abort")
        && sym(api.comm_rank, "MPI_Comm_rank") && sym(api.comm_size, "MPI_Comm_size")
        && sym(api.comm_set_errhandler, "MPI_Comm_set_errhandler") && sym(api.allreduce, "MPI_Allreduce")
        && sym(api.iallreduce, "MPI_Iallreduce") && sym(api.ibcast, "MPI_Ibcast") && sym(api.ibarrier, "MPI_Ibarrier")
        && sym(api.test, "MPI_Test") && sym(api.error_string, "MPI_Error_string") && sym(api.wtime, "MPI_Wtime")
        && sym(api.get_library_version, "MPI_Get_library_version");
    if (ok && dlsym(lib, "ompi_mpi_comm_world")) {
        abi = SOMA_MPI_ABI_OPEN_MPI;
        comm_world = address_of("ompi_mpi_comm_world");
        dt_float = address_of("ompi_mpi_float");
        dt_double = address_of("ompi_mpi_double");
        dt_byte = address_of("ompi_mpi_byte");
        op_sum = address_of("ompi_mpi_op_sum");
        errors_return = address_of("ompi_mpi_errors_return");
        in_place = reinterpret_cast<void*>(1);
        status_ignore = nullptr;
        ok = comm_world && dt_float && dt_double && dt_byte && op_sum && errors_return;
        if (!ok) set_error("an Open MPI library without its predefined objects%s%s", "", "");
    } else if (ok && (dlsym(lib, "MPIR_Err_return_comm") || dlsym(lib, "MPICH_Init") || dlsym(lib, "MPIX_Comm_agree")
                      || dlsym(lib, "MPIR_CVAR_ASYNC_PROGRESS"))) {
        abi = SOMA_MPI_ABI_MPICH;  // the handle values of MPICH's mpi.h, shared by its derivatives
        comm_world = 0x44000000;
        dt_float = 0x4c00040a;
        dt_double = 0x4c00080b;
        dt_byte = 0x4c00010d;
        op_sum = 0x58000003;
        errors_return = 0x54000001;
        in_place = reinterpret_cast<void*>(-1);
        status_ignore = reinterpret_cast<void*>(1);
    } else if (ok) {
        set_error("%s is neither Open MPI nor an MPICH-ABI library (no ompi_mpi_comm_world, no MPIR_* symbols)%s",
                  library_path, "");
        ok = false;
    }
    if (!ok) {
        snprintf(error, error_len, "%s", last_error);
        dlclose(lib);
        lib = nullptr;
        abi = 0;
        return SOMA_MPI_ERROR;
    }
    return 0;
}

int soma_mpi_abi(void) { return abi; }

const char* soma_mpi_last_error(void) { return last_error; }

int soma_mpi_library_version(char* out, int out_len) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    char text[8192];  // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI, 8192 in MPICH
    int len = 0;
    int rc = api.get_library_version(text, &len);
    if (rc) return mpi_status(rc);
    text[len < 8191 ? len : 8191] = 0;
    snprintf(out, out_len, "%s", text);
    return 0;
}

int soma_mpi_init(int* rank, int* size) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    int done = 0;
    api.initialized(&done);
    if (!done) {
        if (abi == SOMA_MPI_ABI_OPEN_MPI) {
            // Open MPI's non-blocking all-reduce (coll/libnbc) picks by default a schedule that measured about half
            // the speed of its blocking MPI_Allreduce (coll/tuned) at 64 KiB - 4 MiB on 2 ranks; Rabenseifner's
            // reduce-scatter + all-gather (3) matched it (docs/distributed.md). A value the user set wins.
            setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", 0);
        }
        const char* p = getenv("SOMA_MPI_PROGRESS_THREAD");
        bool want_thread = p && p[0] == '1';
        int provided = 0;
        // FUNNELED: Java calls MPI from one thread, the one that called init (fit's thread); SERIALIZED when the
        // progress thread also calls it (under the lock).
        int rc = api.init_thread(nullptr, nullptr, want_thread ? 2 : 1, &provided);
        if (rc) return mpi_status(rc);
        if (want_thread && provided >= 2) {
            use_lock = true;
            progress_running = true;
            if (pthread_create(&progress_thread, nullptr, progress_loop, nullptr) != 0) {
                progress_running = false;
                use_lock = false;
            }
        }
    }
    int rc = api.comm_set_errhandler(comm_world, errors_return);  // errors come back as codes, not aborts
    if (rc) return mpi_status(rc);
    if ((rc = api.comm_rank(comm_world, rank))) return mpi_status(rc);
    if ((rc = api.comm_size(comm_world, size))) return mpi_status(rc);
    return 0;
}

int soma_mpi_progress_thread(void) { return progress_running ? 1 : 0; }

int soma_mpi_finalize(void) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    if (progress_running) {
        progress_running = false;
        pthread_join(progress_thread, nullptr);
        use_lock = false;
    }
    int done = 0;
    api.finalized(&done);
    return done ? 0 : mpi_status(api.finalize());
}

int soma_mpi_abort(int code) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    return mpi_status(api.abort(comm_world, code));
}

double soma_mpi_wtime(void) { return lib ? api.wtime() : 0.0; }

int soma_mpi_allreduce_sum(int dtype, void* buffer, int64_t count) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    Guard g;
    return mpi_status(api.allreduce(in_place, buffer, (int) count, datatype(dtype), op_sum, comm_world));
}

int soma_mpi_iallreduce_sum(int dtype, void* buffer, int64_t count, int* slot) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    Guard g;
    int s = take_slot();
    if (s < 0) return SOMA_MPI_NO_SLOT;
    int rc = api.iallreduce(in_place, buffer, (int) count, datatype(dtype), op_sum, comm_world, &slots[s]);
    if (rc) {
        slot_used[s] = false;
        return mpi_status(rc);
    }
    *slot = s;
    return 0;
}

int soma_mpi_ibcast(void* buffer, int64_t bytes, int root, int* slot) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    Guard g;
    int s = take_slot();
    if (s < 0) return SOMA_MPI_NO_SLOT;
    int rc = api.ibcast(buffer, (int) bytes, dt_byte, root, comm_world, &slots[s]);
    if (rc) {
        slot_used[s] = false;
        return mpi_status(rc);
    }
    *slot = s;
    return 0;
}

int soma_mpi_ibarrier(int* slot) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    Guard g;
    int s = take_slot();
    if (s < 0) return SOMA_MPI_NO_SLOT;
    int rc = api.ibarrier(comm_world, &slots[s]);
    if (rc) {
        slot_used[s] = false;
        return mpi_status(rc);
    }
    *slot = s;
    return 0;
}

int soma_mpi_test(int slot, int* done) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    Guard g;
    if (slot < 0 || slot >= kSlots || !slot_used[slot]) return SOMA_MPI_NO_SLOT;
    if (completed[slot]) {  // the progress thread saw it finish
        *done = 1;
        slot_used[slot] = false;
        return 0;
    }
    int rc = api.test(&slots[slot], done, status_ignore);
    if (rc) {
        slot_used[slot] = false;
        return mpi_status(rc);
    }
    if (*done) slot_used[slot] = false;
    return 0;
}

int soma_mpi_wait(int slot, double timeout_seconds) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    double start = api.wtime();
    long polls = 0;
    for (;;) {
        int done = 0;
        int rc = soma_mpi_test(slot, &done);
        if (rc || done) return rc;
        double waited = api.wtime() - start;
        if (waited > timeout_seconds) return SOMA_MPI_TIMEOUT;  // the slot stays taken: MPI may still write it
        // Poll hot for the first 10 ms (latency), then every 50 us (a blocked rank must not burn a shared core).
        if (++polls > 64 && waited > 0.01) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, nullptr);
        }
    }
}

void soma_mpi_pack(int dtype, void* dst, const void* src, int64_t n, double scale) {
    if (dtype == SOMA_F32) {
        float* d = static_cast<float*>(dst);
        const float* s = static_cast<const float*>(src);
        float f = (float) scale;
        for (int64_t i = 0; i < n; i++) d[i] = s[i] * f;
    } else {
        double* d = static_cast<double*>(dst);
        const double* s = static_cast<const double*>(src);
        for (int64_t i = 0; i < n; i++) d[i] = s[i] * scale;
    }
}

}  // extern "C"
