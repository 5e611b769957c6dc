// libsoma_mpi.so: Soma's MPI shim. It is built without any MPI headers and opens the MPI library of the machine at
// run time (dlopen), so the jar needs no MPI and works with the MPI a cluster provides. Two ABIs exist in the wild:
//  - Open MPI: handles are pointers to exported objects (MPI_COMM_WORLD is &ompi_mpi_comm_world, ...);
//  - MPICH and its derivatives (Intel MPI, MVAPICH, Cray MPICH): handles are fixed 32-bit integers.
// Handles therefore travel here as intptr_t: an int argument passed in a 64-bit register is read as its low 32
// bits on x86-64 and AArch64, and a request slot is 8 zeroed bytes of which MPICH uses the low 4 (little-endian).
// Every collective is non-blocking (MPI_I*) and finished by soma_mpi_wait, which polls with a deadline: a peer that
// died or hangs becomes SOMA_MPI_TIMEOUT after the caller's bound instead of a silent hang.
#include "soma.h"
#include "recursive_doubling.h"

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
    int (*isend)(const void*, int, H, int, int, H, void*);
    int (*irecv)(void*, int, H, int, int, H, void*);
    int (*comm_dup)(H, void*);
    int (*comm_free)(void*);
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

// Small all-reduces run as recursive doubling on MPI's point-to-point calls instead of MPI_Iallreduce: Open MPI's
// non-blocking collectives (coll/libnbc) cost about twice its blocking MPI_Allreduce at a few KiB, and the losses,
// metrics and small gradient buckets of every step are that size (docs/distributed.md). It stays non-blocking, so
// soma_mpi_wait keeps its deadline. Its messages travel on a private duplicate of MPI_COMM_WORLD (no clash with a
// user's own point-to-point traffic), each collective under its own tags, so requests may be tested in any order.
constexpr int kMaxSteps = 16;           // log2(p) + 2 steps, phases 0..log2(p) + 1: worlds below 16384 ranks
constexpr int kSmallTagCycle = 2048;    // tags (sequence % 2048) * 16 + phase stay within MPI's guaranteed 32767
// A step's message goes as up to 8 pieces that the MPI library sends eagerly, where a whole message would need a
// rendezvous (a handshake first): pieces of 2 KiB under Open MPI, whose shared-memory eager limit is 4 KiB including
// its header (a 4 KiB exchange: 1.7 us in two pieces, 4.7 us whole), and of 8 KiB under MPICH (a 32 KiB exchange-and-
// add: 5.2 us in four pieces, against 14.5 us for MPICH's own MPI_Allreduce; 16 KiB pieces were 3x slower). A
// message of more than 8 pieces goes whole. The pieces of one step share its tag and are matched in the order they
// were posted (MPI's non-overtaking rule). Measured with 2 ranks on one machine (docs/distributed.md).
constexpr int kMaxPieces = 8;
int piece_bytes = 2048;                 // set at init for the library's ABI
int64_t small_comm = 0;                 // MPI_Comm_dup(MPI_COMM_WORLD); 0 before init
int world_rank = 0, world_size = 1;
int64_t small_limit_bytes = 0;          // all-reduces of at most this many bytes take the small path
int64_t small_sequence = 0;             // small all-reduces started: the same count on every rank
// Which tag bases are in use on this rank. A collective waits for nothing it has not started, so a rank that refuses
// to reuse a base still in use keeps the messages of two collectives under one tag in the order both sides post them.
bool tag_base_busy[kSmallTagCycle];

struct SmallAllreduce {
    int dtype;
    char* buffer;
    int64_t count;
    int bytes;
    char* received;  // a cached receive buffer of at least `bytes` (take_receive_buffer)
    int64_t received_capacity;
    soma_mpi::RdStep steps[kMaxSteps];
    int n_steps;
    int step;        // the step now running
    bool posted;     // its requests are posted
    int pieces;      // messages per direction in each step
    int64_t requests[2 * kMaxPieces];  // receives, then sends
    bool live[2 * kMaxPieces];
    int tag_base;    // (sequence % kSmallTagCycle) * kMaxSteps
    int error;       // an MPI error the progress thread met, for the owner's next test
};

// Receive buffers are kept for the next small all-reduce: a fresh malloc of 64 KiB comes back from the kernel each
// time once glibc trims the heap, and its page faults cost more than the exchange.
constexpr int kCachedBuffers = 16;
char* cached_buffer[kCachedBuffers];
int64_t cached_capacity[kCachedBuffers];

char* take_receive_buffer(int64_t bytes, int64_t* capacity) {
    for (int i = 0; i < kCachedBuffers; i++) {
        if (cached_buffer[i] && cached_capacity[i] >= bytes) {
            char* b = cached_buffer[i];
            *capacity = cached_capacity[i];
            cached_buffer[i] = nullptr;
            return b;
        }
    }
    *capacity = bytes > 0 ? bytes : 1;
    return static_cast<char*>(malloc(*capacity));
}

void give_back_receive_buffer(char* b, int64_t capacity) {
    for (int i = 0; i < kCachedBuffers; i++) {
        if (!cached_buffer[i]) {
            cached_buffer[i] = b;
            cached_capacity[i] = capacity;
            return;
        }
    }
    free(b);
}

SmallAllreduce* small_op[kSlots];

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

int mpi_status(int rc);

void add_into(int dtype, char* buffer, const char* received, int64_t count) {
    if (dtype == SOMA_F32) {
        float* d = reinterpret_cast<float*>(buffer);
        const float* r = reinterpret_cast<const float*>(received);
        for (int64_t i = 0; i < count; i++) d[i] = d[i] + r[i];
    } else {
        double* d = reinterpret_cast<double*>(buffer);
        const double* r = reinterpret_cast<const double*>(received);
        for (int64_t i = 0; i < count; i++) d[i] = d[i] + r[i];
    }
}

// Moves a small all-reduce on as far as its messages allow: tests the running step's requests, and when all are
// done folds in what arrived and posts the next step. Sets *done when the last step has finished.
int advance_small(SmallAllreduce& a, int* done) {
    *done = 0;
    if (a.error) return a.error;
    while (a.step < a.n_steps) {
        const soma_mpi::RdStep& st = a.steps[a.step];
        if (!a.posted) {
            int piece = (a.bytes + a.pieces - 1) / a.pieces;
            for (int k = 0; k < 2 * a.pieces; k++) {  // receives first: a message that arrives finds its buffer
                bool receive = k < a.pieces;
                int peer = receive ? st.recv_from : st.send_to;
                int first = (k % a.pieces) * piece;
                int length = a.bytes - first < piece ? a.bytes - first : piece;
                if (peer < 0 || length <= 0) continue;
                int rc = receive
                    ? api.irecv(a.received + first, length, dt_byte, peer, a.tag_base + st.recv_tag, small_comm, &a.requests[k])
                    : api.isend(a.buffer + first, length, dt_byte, peer, a.tag_base + st.send_tag, small_comm, &a.requests[k]);
                if (rc) return a.error = mpi_status(rc);
                a.live[k] = true;
            }
            a.posted = true;
        }
        bool waiting = false;
        for (int k = 0; k < 2 * a.pieces; k++) {
            if (!a.live[k]) continue;
            int flag = 0;
            int rc = api.test(&a.requests[k], &flag, status_ignore);
            if (rc) return a.error = mpi_status(rc);
            if (flag) a.live[k] = false;
            else waiting = true;
        }
        if (waiting) return 0;
        if (st.recv_from >= 0) {
            if (st.add) add_into(a.dtype, a.buffer, a.received, a.count);
            else memcpy(a.buffer, a.received, a.bytes);
        }
        a.step++;
        a.posted = false;
    }
    *done = 1;
    return 0;
}

bool any_live(const SmallAllreduce& a) {
    for (bool l : a.live) if (l) return true;
    return false;
}

// Frees a slot whose work is over (done or failed), with its small all-reduce if it has one. A small all-reduce that
// failed with messages still in flight is kept (MPI may still read or write its buffers), and take_slot skips it.
void release_slot(int slot) {
    slot_used[slot] = false;
    SmallAllreduce* a = small_op[slot];
    if (!a || any_live(*a)) return;
    give_back_receive_buffer(a->received, a->received_capacity);
    tag_base_busy[a->tag_base / kMaxSteps] = false;
    delete a;
    small_op[slot] = nullptr;
}

// Tests one slot's work: an MPI request, or a small all-reduce's next messages.
int advance(int slot, int* done) {
    if (small_op[slot]) return advance_small(*small_op[slot], done);
    return api.test(&slots[slot], done, status_ignore);
}

void* progress_loop(void*) {
    while (progress_running) {
        {
            Guard g;
            for (int s = 0; s < kSlots; s++) {
                if (slot_used[s] && !completed[s]) {
                    int done = 0;
                    if (advance(s, &done) == 0 && done) completed[s] = true;
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
        if (!slot_used[i] && !small_op[i]) {  // small_op: one that failed with messages in flight keeps its slot
            slot_used[i] = true;
            completed[i] = false;
            slots[i] = 0;
            return i;
        }
    }
    set_error("too many collectives in flight (all %s request slots are taken)%s", "4096", "");
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
        && sym(api.isend, "MPI_Isend") && sym(api.irecv, "MPI_Irecv") && sym(api.comm_dup, "MPI_Comm_dup")
        && sym(api.comm_free, "MPI_Comm_free") && sym(api.test, "MPI_Test") && sym(api.error_string, "MPI_Error_string") && sym(api.wtime, "MPI_Wtime")
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
    world_rank = *rank;
    world_size = *size;
    if (!small_comm) {
        // A collective call: every rank makes it here, once. The duplicate inherits the errors-return handler.
        if ((rc = api.comm_dup(comm_world, &small_comm))) return mpi_status(rc);
    }
    // SOMA_MPI_SMALL_ALLREDUCE_BYTES: the small path's limit (0 turns it off). It must be the same on every rank, as
    // every rank must choose the same algorithm for a collective; the launcher passes one environment to all. The
    // defaults come from 2 ranks on one machine (docs/distributed.md): under Open MPI where the two paths crossed (48-64
    // KiB); under MPICH, in 8 KiB pieces, the small path was still ahead at 256 KiB, and 64 KiB keeps recursive
    // doubling (which sends the whole buffer log2(p) times) to sizes where that costs little on more ranks.
    const char* limit = getenv("SOMA_MPI_SMALL_ALLREDUCE_BYTES");
    small_limit_bytes = limit && *limit ? atoll(limit)
        : abi == SOMA_MPI_ABI_OPEN_MPI ? SOMA_MPI_SMALL_ALLREDUCE_OPEN_MPI_BYTES : SOMA_MPI_SMALL_ALLREDUCE_MPICH_BYTES;
    piece_bytes = abi == SOMA_MPI_ABI_OPEN_MPI ? 2048 : 8192;
    if (small_limit_bytes < 0) small_limit_bytes = 0;
    if (small_limit_bytes > (1 << 30)) small_limit_bytes = 1 << 30;  // a message's byte count is an int
    if (world_size >= (1 << (kMaxSteps - 2))) small_limit_bytes = 0;
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
    if (done) return 0;
    if (small_comm) {
        api.comm_free(&small_comm);
        small_comm = 0;
    }
    for (int i = 0; i < kCachedBuffers; i++) {
        free(cached_buffer[i]);
        cached_buffer[i] = nullptr;
    }
    return mpi_status(api.finalize());
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

int64_t soma_mpi_small_allreduce_bytes(void) { return small_limit_bytes; }

int64_t soma_mpi_small_allreduces(void) { return small_sequence; }

int soma_mpi_iallreduce_sum(int dtype, void* buffer, int64_t count, int* slot) {
    if (!lib) return SOMA_MPI_NOT_OPENED;
    Guard g;
    int64_t bytes = count * (dtype == SOMA_F64 ? 8 : 4);
    if (small_comm && bytes <= small_limit_bytes) {  // the same choice on every rank: same size, same limit
        int cycle = (int) (small_sequence % kSmallTagCycle);
        if (tag_base_busy[cycle]) {
            set_error("too many collectives in flight (the small all-reduce started %s small ones before is still in "
                      "flight, and its tags would be reused)%s", "2048", "");
            return SOMA_MPI_NO_SLOT;
        }
        int s = take_slot();
        if (s < 0) return SOMA_MPI_NO_SLOT;
        SmallAllreduce* a = new SmallAllreduce();
        a->dtype = dtype;
        a->buffer = static_cast<char*>(buffer);
        a->count = count;
        a->bytes = (int) bytes;
        a->received = take_receive_buffer(bytes, &a->received_capacity);
        a->pieces = bytes > piece_bytes && bytes <= kMaxPieces * piece_bytes ? (int) ((bytes + piece_bytes - 1) / piece_bytes) : 1;
        a->n_steps = bytes > 0 ? soma_mpi::recursive_doubling_plan(world_rank, world_size, a->steps, kMaxSteps) : 0;
        a->tag_base = cycle * kMaxSteps;
        tag_base_busy[cycle] = true;
        small_sequence++;
        small_op[s] = a;
        int done = 0;
        int rc = advance_small(*a, &done);  // posts the first step (and finishes a world of one)
        if (rc) {
            release_slot(s);
            return rc;
        }
        *slot = s;
        return 0;
    }
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
    if (slot < 0 || slot >= kSlots || !slot_used[slot]) {
        set_error("no collective is in flight in request slot %s%s", slot < 0 || slot >= kSlots ? "(out of range)" : "(free)", "");
        return SOMA_MPI_NO_SLOT;
    }
    if (completed[slot]) {  // the progress thread saw it finish
        *done = 1;
        release_slot(slot);
        return 0;
    }
    bool small = small_op[slot] != nullptr;
    int rc = advance(slot, done);
    if (rc) {
        release_slot(slot);
        return small ? rc : mpi_status(rc);
    }
    if (*done) {
        release_slot(slot);
    }
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

int soma_mpi_recursive_doubling_plan(int rank, int size, int* steps, int max_steps) {
    soma_mpi::RdStep plan[64];
    int n = soma_mpi::recursive_doubling_plan(rank, size, plan, 64);
    if (n < 0 || n > max_steps) return -1;
    for (int i = 0; i < n; i++) {
        int* out = steps + 5 * i;
        out[0] = plan[i].send_to;
        out[1] = plan[i].send_tag;
        out[2] = plan[i].recv_from;
        out[3] = plan[i].recv_tag;
        out[4] = plan[i].add ? 1 : 0;
    }
    return n;
}

int soma_mpi_allreduce_sum_wait(int dtype, void* buffer, int64_t count, double timeout_seconds) {
    int slot = -1;
    int rc = soma_mpi_iallreduce_sum(dtype, buffer, count, &slot);
    return rc ? rc : soma_mpi_wait(slot, timeout_seconds);
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
