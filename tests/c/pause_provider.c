/*
 * pause_provider: an OpenSSL 3 provider module that pauses asynchronous jobs.
 *
 * It re-exports the default provider's key managers, and its signatures,
 * key exchanges and KEMs for the algorithms TLS uses, under the property
 * "provider=pause". The re-exported functions are the default provider's own
 * (the provider context we hand OpenSSL *is* the default provider's, from a
 * private library context), except the ones that produce a result -- sign,
 * digest-sign final / one-shot, derive, encapsulate, decapsulate -- which
 * first pause the running ASYNC job as many times as configured, the way
 * OpenSSL's dasync engine does: write a byte to the job's wait fd (so it reads
 * as ready), ASYNC_pause_job(), drain the byte after resuming. Outside a job
 * (no SSL_MODE_ASYNC) nothing pauses.
 *
 * Loaded by OSSL_PROVIDER_load() from a search path (the file is
 * pause_provider.so); the test process dlopen()s the same file to call
 * pause_provider_configure() and pause_provider_pauses().
 */
#include <openssl/async.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NSLOTS 32

static OSSL_LIB_CTX *inner_libctx;
static OSSL_PROVIDER *inner_default;
static int sign_pauses, derive_pauses;
static long pauses_done;
static const char pause_key[] = "pause_provider";

/* Set how often each signing and each key-exchange operation pauses. */
__attribute__((visibility("default"))) void pause_provider_configure(int sign, int derive)
{
    __atomic_store_n(&sign_pauses, sign, __ATOMIC_SEQ_CST);
    __atomic_store_n(&derive_pauses, derive, __ATOMIC_SEQ_CST);
}

/* How many times a job has paused (and been resumed) so far. */
__attribute__((visibility("default"))) long pause_provider_pauses(void)
{
    return __atomic_load_n(&pauses_done, __ATOMIC_SEQ_CST);
}

static void close_wait_fd(ASYNC_WAIT_CTX *ctx, const void *key, OSSL_ASYNC_FD readfd, void *custom)
{
    (void)ctx;
    (void)key;
    close(readfd);
    close(*(int *)custom);
    free(custom);
}

/* Pause the current job n times (no job: nothing). 0 on a failure to set up the fd. */
static int pause_job(int n)
{
    ASYNC_JOB *job = ASYNC_get_current_job();
    ASYNC_WAIT_CTX *wctx;
    OSSL_ASYNC_FD fd;
    void *custom = NULL;
    char byte = 'x';

    if (job == NULL || n <= 0)
        return 1;
    wctx = ASYNC_get_wait_ctx(job);
    if (!ASYNC_WAIT_CTX_get_fd(wctx, pause_key, &fd, &custom)) {
        int p[2];
        int *wfd = malloc(sizeof(*wfd));

        if (wfd == NULL || pipe(p) != 0) {
            free(wfd);
            return 0;
        }
        *wfd = p[1];
        if (!ASYNC_WAIT_CTX_set_wait_fd(wctx, pause_key, p[0], wfd, close_wait_fd)) {
            close(p[0]);
            close(p[1]);
            free(wfd);
            return 0;
        }
        fd = p[0];
        custom = wfd;
    }
    for (int i = 0; i < n; i++) {
        /* "Submitted, the job waits for the result" (ASYNC_WAIT_CTX_set_status(3)). */
        ASYNC_WAIT_CTX_set_status(wctx, ASYNC_STATUS_OK);
        if (write(*(int *)custom, &byte, 1) != 1)
            return 0;
        ASYNC_pause_job();
        if (read(fd, &byte, 1) != 1)
            return 0;
        __atomic_add_fetch(&pauses_done, 1, __ATOMIC_SEQ_CST);
    }
    return 1;
}

static int sign_n(void) { return __atomic_load_n(&sign_pauses, __ATOMIC_SEQ_CST); }
static int derive_n(void) { return __atomic_load_n(&derive_pauses, __ATOMIC_SEQ_CST); }

/* The default provider's functions that each wrapper slot calls on. */
static struct {
    OSSL_FUNC_signature_sign_fn *sign;
    OSSL_FUNC_signature_digest_sign_final_fn *dsf;
    OSSL_FUNC_signature_digest_sign_fn *ds;
    OSSL_FUNC_keyexch_derive_fn *derive;
    OSSL_FUNC_kem_encapsulate_fn *encap;
    OSSL_FUNC_kem_decapsulate_fn *decap;
} orig[NSLOTS];

/* Size queries (output NULL) never pause: only the call that produces the result. */
#define WRAP(i)                                                                              \
    static int sign_##i(void *c, unsigned char *s, size_t *sl, size_t ss, const unsigned char *t, \
                        size_t tl)                                                           \
    {                                                                                        \
        return (s == NULL || pause_job(sign_n())) && orig[i].sign(c, s, sl, ss, t, tl);      \
    }                                                                                        \
    static int dsf_##i(void *c, unsigned char *s, size_t *sl, size_t ss)                     \
    {                                                                                        \
        return (s == NULL || pause_job(sign_n())) && orig[i].dsf(c, s, sl, ss);              \
    }                                                                                        \
    static int ds_##i(void *c, unsigned char *s, size_t *sl, size_t ss, const unsigned char *t, \
                      size_t tl)                                                             \
    {                                                                                        \
        return (s == NULL || pause_job(sign_n())) && orig[i].ds(c, s, sl, ss, t, tl);        \
    }                                                                                        \
    static int derive_##i(void *c, unsigned char *s, size_t *sl, size_t ss)                  \
    {                                                                                        \
        return (s == NULL || pause_job(derive_n())) && orig[i].derive(c, s, sl, ss);         \
    }                                                                                        \
    static int encap_##i(void *c, unsigned char *o, size_t *ol, unsigned char *s, size_t *sl) \
    {                                                                                        \
        return (o == NULL || pause_job(derive_n())) && orig[i].encap(c, o, ol, s, sl);       \
    }                                                                                        \
    static int decap_##i(void *c, unsigned char *o, size_t *ol, const unsigned char *in,    \
                         size_t il)                                                          \
    {                                                                                        \
        return (o == NULL || pause_job(derive_n())) && orig[i].decap(c, o, ol, in, il);      \
    }

#define WRAP4(a, b, c, d) WRAP(a) WRAP(b) WRAP(c) WRAP(d)
WRAP4(0, 1, 2, 3)
WRAP4(4, 5, 6, 7)
WRAP4(8, 9, 10, 11)
WRAP4(12, 13, 14, 15)
WRAP4(16, 17, 18, 19)
WRAP4(20, 21, 22, 23)
WRAP4(24, 25, 26, 27)
WRAP4(28, 29, 30, 31)

#define FN(i) {sign_##i, dsf_##i, ds_##i, derive_##i, encap_##i, decap_##i}
static const struct {
    OSSL_FUNC_signature_sign_fn *sign;
    OSSL_FUNC_signature_digest_sign_final_fn *dsf;
    OSSL_FUNC_signature_digest_sign_fn *ds;
    OSSL_FUNC_keyexch_derive_fn *derive;
    OSSL_FUNC_kem_encapsulate_fn *encap;
    OSSL_FUNC_kem_decapsulate_fn *decap;
} wrappers[NSLOTS] = {
    FN(0),  FN(1),  FN(2),  FN(3),  FN(4),  FN(5),  FN(6),  FN(7),  FN(8),  FN(9),  FN(10),
    FN(11), FN(12), FN(13), FN(14), FN(15), FN(16), FN(17), FN(18), FN(19), FN(20), FN(21),
    FN(22), FN(23), FN(24), FN(25), FN(26), FN(27), FN(28), FN(29), FN(30), FN(31),
};
static int slots_used;

/* The signatures TLS signs with (first name of the default provider's entry). */
static int wanted_signature(const char *names)
{
    static const char *const want[] = {"RSA", "ECDSA", "ED25519", "ED448"};
    size_t n = strcspn(names, ":");

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strlen(want[i]) == n && strncmp(names, want[i], n) == 0)
            return 1;
    return 0;
}

/* A copy of one of the default provider's dispatch tables with the wrapped entries replaced. */
static OSSL_DISPATCH *wrap_dispatch(int op, const OSSL_DISPATCH *in)
{
    size_t n = 0;
    OSSL_DISPATCH *out;
    int slot = -1;

    while (in[n].function_id != 0)
        n++;
    out = calloc(n + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    memcpy(out, in, n * sizeof(*out));
    if (op == OSSL_OP_KEYMGMT)
        return out;
    if (slots_used == NSLOTS) {
        free(out);
        return NULL;
    }
    slot = slots_used++;
    for (size_t i = 0; i < n; i++) {
        void (*f)(void) = in[i].function;

        switch (op * 100 + in[i].function_id) {
        case OSSL_OP_SIGNATURE * 100 + OSSL_FUNC_SIGNATURE_SIGN:
            orig[slot].sign = (OSSL_FUNC_signature_sign_fn *)f;
            out[i].function = (void (*)(void))wrappers[slot].sign;
            break;
        case OSSL_OP_SIGNATURE * 100 + OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL:
            orig[slot].dsf = (OSSL_FUNC_signature_digest_sign_final_fn *)f;
            out[i].function = (void (*)(void))wrappers[slot].dsf;
            break;
        case OSSL_OP_SIGNATURE * 100 + OSSL_FUNC_SIGNATURE_DIGEST_SIGN:
            orig[slot].ds = (OSSL_FUNC_signature_digest_sign_fn *)f;
            out[i].function = (void (*)(void))wrappers[slot].ds;
            break;
        case OSSL_OP_KEYEXCH * 100 + OSSL_FUNC_KEYEXCH_DERIVE:
            orig[slot].derive = (OSSL_FUNC_keyexch_derive_fn *)f;
            out[i].function = (void (*)(void))wrappers[slot].derive;
            break;
        case OSSL_OP_KEM * 100 + OSSL_FUNC_KEM_ENCAPSULATE:
            orig[slot].encap = (OSSL_FUNC_kem_encapsulate_fn *)f;
            out[i].function = (void (*)(void))wrappers[slot].encap;
            break;
        case OSSL_OP_KEM * 100 + OSSL_FUNC_KEM_DECAPSULATE:
            orig[slot].decap = (OSSL_FUNC_kem_decapsulate_fn *)f;
            out[i].function = (void (*)(void))wrappers[slot].decap;
            break;
        default:
            break;
        }
    }
    return out;
}

#define NOPS 4
static const int ops[NOPS] = {OSSL_OP_KEYMGMT, OSSL_OP_SIGNATURE, OSSL_OP_KEYEXCH, OSSL_OP_KEM};
static OSSL_ALGORITHM *tables[NOPS];

/* The default provider's algorithms of `op` that we re-export, under our property. */
static OSSL_ALGORITHM *build_table(int op)
{
    const OSSL_DISPATCH *d = OSSL_PROVIDER_get0_dispatch(inner_default);
    OSSL_FUNC_provider_query_operation_fn *query = NULL;
    const OSSL_ALGORITHM *in;
    OSSL_ALGORITHM *out;
    void *provctx = OSSL_PROVIDER_get0_provider_ctx(inner_default);
    int no_cache = 0;
    size_t n = 0, k = 0;

    for (; d != NULL && d->function_id != 0; d++)
        if (d->function_id == OSSL_FUNC_PROVIDER_QUERY_OPERATION)
            query = (OSSL_FUNC_provider_query_operation_fn *)d->function;
    if (query == NULL || (in = query(provctx, op, &no_cache)) == NULL)
        return NULL;
    while (in[n].algorithm_names != NULL)
        n++;
    out = calloc(n + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        OSSL_DISPATCH *fns;

        if (op == OSSL_OP_SIGNATURE && !wanted_signature(in[i].algorithm_names))
            continue;
        fns = wrap_dispatch(op, in[i].implementation);
        if (fns == NULL)
            continue;
        out[k].algorithm_names = in[i].algorithm_names;
        out[k].property_definition = "provider=pause";
        out[k].implementation = fns;
        out[k].algorithm_description = in[i].algorithm_description;
        k++;
    }
    return out;
}

static const OSSL_ALGORITHM *pause_query(void *provctx, int op, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    for (int i = 0; i < NOPS; i++)
        if (ops[i] == op)
            return tables[i];
    return NULL;
}

static void pause_teardown(void *provctx)
{
    (void)provctx;
    for (int i = 0; i < NOPS; i++) {
        for (OSSL_ALGORITHM *a = tables[i]; a != NULL && a->algorithm_names != NULL; a++)
            free((void *)a->implementation);
        free(tables[i]);
        tables[i] = NULL;
    }
    slots_used = 0;
    OSSL_PROVIDER_unload(inner_default);
    OSSL_LIB_CTX_free(inner_libctx);
    inner_default = NULL;
    inner_libctx = NULL;
}

/* libssl takes a TLS group (and, from 3.2, a signature algorithm) from the
 * provider that both advertises it and serves its key manager for the
 * context's property query: we advertise the default provider's, with its
 * own get_capabilities (our provider context is its). */
static OSSL_DISPATCH pause_dispatch[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))pause_teardown},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))pause_query},
    {0, NULL},
    {0, NULL},
};

__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                              const OSSL_DISPATCH *in,
                                                              const OSSL_DISPATCH **out,
                                                              void **provctx)
{
    (void)handle;
    (void)in;
    if (inner_libctx != NULL)
        return 0; /* one instance per process: the wrapper slots are global */
    inner_libctx = OSSL_LIB_CTX_new();
    if (inner_libctx == NULL)
        return 0;
    inner_default = OSSL_PROVIDER_load(inner_libctx, "default");
    if (inner_default == NULL) {
        OSSL_LIB_CTX_free(inner_libctx);
        inner_libctx = NULL;
        return 0;
    }
    for (int i = 0; i < NOPS; i++)
        tables[i] = build_table(ops[i]);
    for (const OSSL_DISPATCH *d = OSSL_PROVIDER_get0_dispatch(inner_default);
         d != NULL && d->function_id != 0; d++)
        if (d->function_id == OSSL_FUNC_PROVIDER_GET_CAPABILITIES)
            pause_dispatch[2] = *d;
    *out = pause_dispatch;
    /* The default provider's own context: its functions, re-exported as they are, get it. */
    *provctx = OSSL_PROVIDER_get0_provider_ctx(inner_default);
    return 1;
}
