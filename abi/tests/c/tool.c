/* The MPI tool information interface (MPI_T) as rmpi exposes it: no control
 * or performance variables, categories, event types or sources, so counts
 * are 0 and every index, name and handle is invalid; performance-variable
 * sessions are real. MPI_T nests its own init/finalize, works before
 * MPI_Init, after MPI_Finalize and from several threads, and returns its
 * errors (the fatal default handler of MPI_COMM_WORLD never runs). Uses only
 * standard names, so it also builds against MPICH's mpi.h. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <mpi.h>

/* MPICH's numbers (the ABI): a program built against either header means the same. */
_Static_assert(MPI_T_ERR_MEMORY == 59 && MPI_T_ERR_NOT_INITIALIZED == 60 && MPI_T_ERR_CANNOT_INIT == 61, "MPI_T_ERR");
_Static_assert(MPI_T_ERR_INVALID_INDEX == 62 && MPI_T_ERR_INVALID_ITEM == 63 && MPI_T_ERR_INVALID_HANDLE == 64,
               "MPI_T_ERR");
_Static_assert(MPI_T_ERR_OUT_OF_HANDLES == 65 && MPI_T_ERR_OUT_OF_SESSIONS == 66 && MPI_T_ERR_INVALID_SESSION == 67,
               "MPI_T_ERR");
_Static_assert(MPI_T_ERR_CVAR_SET_NOT_NOW == 68 && MPI_T_ERR_CVAR_SET_NEVER == 69 &&
                   MPI_T_ERR_PVAR_NO_STARTSTOP == 70 && MPI_T_ERR_PVAR_NO_WRITE == 71,
               "MPI_T_ERR");
_Static_assert(MPI_T_ERR_PVAR_NO_ATOMIC == 72 && MPI_T_ERR_INVALID_NAME == 73 && MPI_T_ERR_INVALID == 74 &&
                   MPI_T_ERR_NOT_SUPPORTED == 78 && MPI_T_ERR_NOT_ACCESSIBLE == 79,
               "MPI_T_ERR");
_Static_assert(MPI_T_VERBOSITY_USER_BASIC == 221 && MPI_T_VERBOSITY_TUNER_BASIC == 224 &&
                   MPI_T_VERBOSITY_MPIDEV_BASIC == 227 && MPI_T_VERBOSITY_MPIDEV_ALL == 229,
               "MPI_T_VERBOSITY");
_Static_assert(MPI_T_BIND_NO_OBJECT == 9700 && MPI_T_BIND_MPI_COMM == 9701 && MPI_T_BIND_MPI_WIN == 9708 &&
                   MPI_T_BIND_MPI_SESSION == 9711,
               "MPI_T_BIND");
_Static_assert(MPI_T_SCOPE_CONSTANT == 60438 && MPI_T_SCOPE_LOCAL == 60440 && MPI_T_SCOPE_ALL_EQ == 60444,
               "MPI_T_SCOPE");
_Static_assert(MPI_T_PVAR_CLASS_STATE == 240 && MPI_T_PVAR_CLASS_COUNTER == 246 && MPI_T_PVAR_CLASS_GENERIC == 249,
               "MPI_T_PVAR_CLASS");
_Static_assert(MPI_T_CB_REQUIRE_NONE == 0 && MPI_T_CB_REQUIRE_ASYNC_SIGNAL_SAFE == 3 && MPI_T_SOURCE_UNORDERED == 1,
               "MPI_T enums");

static const char *phase = "start";

/* A failed expectation ends the process (MPI_Abort is not usable outside MPI_Init/MPI_Finalize). */
#define EXPECT(call, want)                                                                                \
    do {                                                                                                  \
        int rc_ = (call);                                                                                 \
        if (rc_ != (want)) {                                                                              \
            fprintf(stderr, "%s:%d (%s): %s gave %d, expected %s (%d)\n", __FILE__, __LINE__, phase, #call, \
                    rc_, #want, (int)(want));                                                             \
            exit(1);                                                                                      \
        }                                                                                                 \
    } while (0)
#define TRUE(cond) EXPECT(!!(cond), 1)

/* Everything an initialized MPI_T answers, whatever the state of MPI itself. */
static void check_everything(void) {
    int n = -1, i = -1, count = -1, a = -1, b = -2, verbosity, bind, scope, len = 16;
    char name[16], desc[16];
    int indices[4];
    MPI_Datatype dt;
    MPI_T_enum en;
    MPI_T_cvar_handle ch = MPI_T_CVAR_HANDLE_NULL;
    MPI_T_pvar_handle ph = MPI_T_PVAR_HANDLE_NULL;
    MPI_T_pvar_session s1 = MPI_T_PVAR_SESSION_NULL, s2 = MPI_T_PVAR_SESSION_NULL, stale;
    MPI_T_event_registration reg = (MPI_T_event_registration)0;
    MPI_T_event_instance inst = (MPI_T_event_instance)0;
    MPI_Info info;
    MPI_Count ts;
    long long buf[4];

    /* Counts: nothing is exposed. */
    EXPECT(MPI_T_cvar_get_num(&n), MPI_SUCCESS);
    TRUE(n == 0);
    n = -1;
    EXPECT(MPI_T_pvar_get_num(&n), MPI_SUCCESS);
    TRUE(n == 0);
    n = -1;
    EXPECT(MPI_T_category_get_num(&n), MPI_SUCCESS);
    TRUE(n == 0);
    n = -1;
    EXPECT(MPI_T_event_get_num(&n), MPI_SUCCESS);
    TRUE(n == 0);
    n = -1;
    EXPECT(MPI_T_source_get_num(&n), MPI_SUCCESS);
    TRUE(n == 0);
    n = -1;
    EXPECT(PMPI_T_cvar_get_num(&n), MPI_SUCCESS); /* the profiling name */
    TRUE(n == 0);
    EXPECT(MPI_T_cvar_get_num(NULL), MPI_T_ERR_INVALID);
    EXPECT(MPI_T_source_get_num(NULL), MPI_T_ERR_INVALID);

    /* Indices: none is valid. */
    for (int idx = -1; idx <= 1; idx++) {
        EXPECT(MPI_T_cvar_get_info(idx, name, &len, &verbosity, &dt, &en, desc, &len, &bind, &scope),
               MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_pvar_get_info(idx, name, &len, &verbosity, &a, &dt, &en, desc, &len, &bind, &a, &a, &a),
               MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_category_get_info(idx, name, &len, desc, &len, &a, &a, &a), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_category_get_cvars(idx, 4, indices), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_category_get_pvars(idx, 4, indices), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_category_get_categories(idx, 0, NULL), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_category_get_events(idx, 4, indices), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_category_get_num_events(idx, &n), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_event_get_info(idx, name, &len, &verbosity, &dt, (MPI_Aint *)buf, &n, &en, &info, desc, &len,
                                    &bind),
               MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_source_get_info(idx, name, &len, desc, &len, NULL, &ts, &ts, &info), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_source_get_timestamp(idx, &ts), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_cvar_handle_alloc(idx, NULL, &ch, &count), MPI_T_ERR_INVALID_INDEX);
        EXPECT(MPI_T_event_handle_alloc(idx, NULL, MPI_INFO_NULL, &reg), MPI_T_ERR_INVALID_INDEX);
    }
    TRUE(ch == MPI_T_CVAR_HANDLE_NULL && count == -1);

    /* Names: none is known; a null name is a bad argument. */
    EXPECT(MPI_T_cvar_get_index("rmpi_no_such_cvar", &i), MPI_T_ERR_INVALID_NAME);
    EXPECT(MPI_T_pvar_get_index("rmpi_no_such_pvar", MPI_T_PVAR_CLASS_COUNTER, &i), MPI_T_ERR_INVALID_NAME);
    EXPECT(MPI_T_category_get_index("rmpi_no_such_category", &i), MPI_T_ERR_INVALID_NAME);
    EXPECT(MPI_T_event_get_index("rmpi_no_such_event", &i), MPI_T_ERR_INVALID_NAME);
    EXPECT(PMPI_T_event_get_index("", &i), MPI_T_ERR_INVALID_NAME);
    TRUE(i == -1);
    EXPECT(MPI_T_cvar_get_index(NULL, &i), MPI_T_ERR_INVALID);
    EXPECT(MPI_T_pvar_get_index(NULL, MPI_T_PVAR_CLASS_TIMER, &i), MPI_T_ERR_INVALID);
    EXPECT(MPI_T_category_get_index(NULL, &i), MPI_T_ERR_INVALID);
    EXPECT(MPI_T_event_get_index(NULL, &i), MPI_T_ERR_INVALID);

    /* The categories never change. */
    EXPECT(MPI_T_category_changed(&a), MPI_SUCCESS);
    EXPECT(MPI_T_category_changed(&b), MPI_SUCCESS);
    TRUE(a == b);
    EXPECT(MPI_T_category_changed(NULL), MPI_T_ERR_INVALID);

    /* Control variable and enumeration handles: none can exist. */
    EXPECT(MPI_T_cvar_handle_free(&ch), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_cvar_read(ch, buf), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_cvar_write(ch, buf), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_enum_get_info(MPI_T_ENUM_NULL, &n, name, &len), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_enum_get_item(MPI_T_ENUM_NULL, 0, &a, name, &len), MPI_T_ERR_INVALID_HANDLE);

    /* Performance variable sessions are real; a session has no handles. */
    EXPECT(MPI_T_pvar_session_create(&s1), MPI_SUCCESS);
    EXPECT(PMPI_T_pvar_session_create(&s2), MPI_SUCCESS);
    TRUE(s1 != MPI_T_PVAR_SESSION_NULL && s2 != MPI_T_PVAR_SESSION_NULL && s1 != s2);
    EXPECT(MPI_T_pvar_start(s1, MPI_T_PVAR_ALL_HANDLES), MPI_SUCCESS);
    EXPECT(MPI_T_pvar_reset(s1, MPI_T_PVAR_ALL_HANDLES), MPI_SUCCESS);
    EXPECT(MPI_T_pvar_stop(s1, MPI_T_PVAR_ALL_HANDLES), MPI_SUCCESS);
    EXPECT(MPI_T_pvar_start(s1, MPI_T_PVAR_HANDLE_NULL), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_pvar_stop(s1, MPI_T_PVAR_HANDLE_NULL), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_pvar_reset(s1, MPI_T_PVAR_HANDLE_NULL), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_pvar_read(s1, MPI_T_PVAR_ALL_HANDLES, buf), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_pvar_readreset(s1, MPI_T_PVAR_ALL_HANDLES, buf), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_pvar_write(s1, MPI_T_PVAR_HANDLE_NULL, buf), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_pvar_handle_alloc(s1, 0, NULL, &ph, &count), MPI_T_ERR_INVALID_INDEX);
    EXPECT(MPI_T_pvar_handle_free(s1, &ph), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_pvar_session_create(NULL), MPI_T_ERR_INVALID);
    stale = s1;
    EXPECT(MPI_T_pvar_session_free(&s1), MPI_SUCCESS);
    TRUE(s1 == MPI_T_PVAR_SESSION_NULL);
    /* A freed, a null or a made-up session is invalid everywhere. */
    EXPECT(MPI_T_pvar_session_free(&stale), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_session_free(&s1), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_start(stale, MPI_T_PVAR_ALL_HANDLES), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_stop(MPI_T_PVAR_SESSION_NULL, MPI_T_PVAR_ALL_HANDLES), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_reset((MPI_T_pvar_session)buf, MPI_T_PVAR_ALL_HANDLES), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_read(stale, MPI_T_PVAR_HANDLE_NULL, buf), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_handle_alloc(stale, 0, NULL, &ph, &count), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_handle_free(stale, &ph), MPI_T_ERR_INVALID_SESSION);
    /* The other session is untouched. */
    EXPECT(MPI_T_pvar_start(s2, MPI_T_PVAR_ALL_HANDLES), MPI_SUCCESS);
    EXPECT(PMPI_T_pvar_session_free(&s2), MPI_SUCCESS);
    TRUE(s2 == MPI_T_PVAR_SESSION_NULL);

    /* Event registrations and instances: none can exist. */
    EXPECT(MPI_T_event_handle_set_info(reg, MPI_INFO_NULL), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_handle_get_info(reg, &info), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_register_callback(reg, MPI_T_CB_REQUIRE_NONE, MPI_INFO_NULL, NULL, NULL),
           MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_callback_set_info(reg, MPI_T_CB_REQUIRE_THREAD_SAFE, MPI_INFO_NULL), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_callback_get_info(reg, MPI_T_CB_REQUIRE_NONE, &info), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_set_dropped_handler(reg, NULL), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_handle_free(reg, NULL, NULL), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_read(inst, 0, buf), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_copy(inst, buf), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_get_timestamp(inst, &ts), MPI_T_ERR_INVALID_HANDLE);
    EXPECT(MPI_T_event_get_source(inst, &n), MPI_T_ERR_INVALID_HANDLE);
}

/* Everything but MPI_T_init_thread once MPI_T is not (or no longer) initialized. */
static void check_not_initialized(void) {
    int n;
    MPI_T_pvar_session s;
    EXPECT(MPI_T_finalize(), MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(MPI_T_cvar_get_num(&n), MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(PMPI_T_pvar_get_num(&n), MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(MPI_T_cvar_get_index("x", &n), MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(MPI_T_category_changed(&n), MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(MPI_T_pvar_session_create(&s), MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(MPI_T_pvar_start(MPI_T_PVAR_SESSION_NULL, MPI_T_PVAR_ALL_HANDLES), MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(MPI_T_event_get_info(0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
           MPI_T_ERR_NOT_INITIALIZED);
    EXPECT(MPI_T_source_get_timestamp(0, NULL), MPI_T_ERR_NOT_INITIALIZED);
}

#define THREADS 4
#define ROUNDS 500

/* One thread's sessions: created, used and freed while the others do the same. */
static void *session_churn(void *arg) {
    MPI_T_pvar_session mine[8];
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < 8; k++) {
            if (MPI_T_pvar_session_create(&mine[k]) != MPI_SUCCESS || mine[k] == MPI_T_PVAR_SESSION_NULL)
                return (void *)1;
            for (int j = 0; j < k; j++)
                if (mine[j] == mine[k]) return (void *)2;
        }
        for (int k = 0; k < 8; k++) {
            if (MPI_T_pvar_start(mine[k], MPI_T_PVAR_ALL_HANDLES) != MPI_SUCCESS) return (void *)3;
            if (MPI_T_pvar_session_free(&mine[k]) != MPI_SUCCESS || mine[k] != MPI_T_PVAR_SESSION_NULL)
                return (void *)4;
        }
    }
    return NULL;
}

static void threads_share_the_interface(void) {
    pthread_t t[THREADS];
    for (int k = 0; k < THREADS; k++) TRUE(pthread_create(&t[k], NULL, session_churn, NULL) == 0);
    for (int k = 0; k < THREADS; k++) {
        void *r = (void *)9;
        TRUE(pthread_join(t[k], &r) == 0);
        TRUE(r == NULL);
    }
}

int main(int argc, char **argv) {
    int provided = -1, rank, size, flag = 0, sum = 0, len = 0;
    char msg[MPI_MAX_ERROR_STRING];
    MPI_T_pvar_session kept = MPI_T_PVAR_SESSION_NULL, early = MPI_T_PVAR_SESSION_NULL;

    phase = "before MPI_T_init_thread";
    check_not_initialized();
    EXPECT(MPI_T_init_thread(42, &provided), MPI_T_ERR_INVALID);
    check_not_initialized();

    /* Two nested initializations, before MPI_Init. */
    phase = "before MPI_Init";
    EXPECT(MPI_T_init_thread(MPI_THREAD_SINGLE, &provided), MPI_SUCCESS);
    TRUE(provided == MPI_THREAD_SINGLE);
    EXPECT(PMPI_T_init_thread(MPI_THREAD_MULTIPLE, &provided), MPI_SUCCESS);
    TRUE(provided == MPI_THREAD_MULTIPLE);
    MPI_Initialized(&flag);
    TRUE(!flag);
    check_everything();
    threads_share_the_interface();
    EXPECT(MPI_T_pvar_session_create(&kept), MPI_SUCCESS);

    /* While MPI runs: its fatal default handler is never called for MPI_T errors. */
    phase = "between MPI_Init and MPI_Finalize";
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    check_everything();
    threads_share_the_interface();
    EXPECT(MPI_T_pvar_stop(kept, MPI_T_PVAR_ALL_HANDLES), MPI_SUCCESS);
    EXPECT(MPI_Error_class(MPI_T_ERR_INVALID_SESSION, &flag), MPI_SUCCESS);
    TRUE(flag == MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_Error_string(MPI_T_ERR_NOT_INITIALIZED, msg, &len), MPI_SUCCESS);
    TRUE(len > 0);
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    TRUE(sum == size * (size - 1) / 2);
    MPI_Finalize();

    /* After MPI_Finalize MPI_T still works until its own last finalize. */
    phase = "after MPI_Finalize";
    MPI_Finalized(&flag);
    TRUE(flag);
    check_everything();
    EXPECT(MPI_T_pvar_reset(kept, MPI_T_PVAR_ALL_HANDLES), MPI_SUCCESS);
    EXPECT(MPI_T_finalize(), MPI_SUCCESS); /* one of two */
    EXPECT(MPI_T_pvar_start(kept, MPI_T_PVAR_ALL_HANDLES), MPI_SUCCESS);
    EXPECT(MPI_T_pvar_session_create(&early), MPI_SUCCESS);
    EXPECT(PMPI_T_finalize(), MPI_SUCCESS); /* the last one */
    phase = "after the last MPI_T_finalize";
    check_not_initialized();
    EXPECT(MPI_T_pvar_start(kept, MPI_T_PVAR_ALL_HANDLES), MPI_T_ERR_NOT_INITIALIZED);

    /* Initialized again: a fresh interface, the old sessions are gone. */
    phase = "initialized again";
    EXPECT(MPI_T_init_thread(MPI_THREAD_FUNNELED, &provided), MPI_SUCCESS);
    TRUE(provided == MPI_THREAD_FUNNELED);
    EXPECT(MPI_T_pvar_start(kept, MPI_T_PVAR_ALL_HANDLES), MPI_T_ERR_INVALID_SESSION);
    EXPECT(MPI_T_pvar_session_free(&early), MPI_T_ERR_INVALID_SESSION);
    check_everything();
    EXPECT(MPI_T_finalize(), MPI_SUCCESS);
    check_not_initialized();

    printf("rank %d: tool OK\n", rank);
    return 0;
}
