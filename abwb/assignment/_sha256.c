/* Hash version 1 in C: bucket = uint64_be(sha256(salt ":" unit_id)[0:8]) mod 10000.
 *
 * What belongs here: the compiled form of abwb.assignment.hashing.bucket, nothing else.
 * A portable SHA-256 compression and, on x86-64 CPUs with the SHA extensions, a SHA-NI
 * one (chosen by the caller: `impl` 1 = SHA-NI, 0 = portable; sha_ni() says whether the
 * CPU has them). Three entry points, each hashing many messages per call:
 *
 *   buckets_of_views(prefix, views, data_buffers, out, start, stop, impl)
 *       rows [start, stop) of an Arrow string_view array (16-byte views + data buffers)
 *   buckets_of_offsets(prefix, offsets, data, out, start, stop, impl)
 *       rows [start, stop) of an Arrow large_string array (int64 offsets + data)
 *   buckets_of_unit(prefixes, ends, unit_id, impl) -> list[int]
 *       one unit id under many salt prefixes (ends: uint32 end offsets into prefixes)
 *
 * The two column functions write int32 buckets into `out` and release the GIL while
 * hashing, so callers may split a column across threads; with SHA-NI they hash
 * single-block rows (prefix + id <= 55 bytes) two at a time, interleaved. No OpenSSL: the kernel is
 * self-contained so every install with a C compiler gets it. Built by hatch_build.py;
 * tests/unit/assignment/test_native.py pins it to hashlib.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define ABWB_X86 1
#include <immintrin.h>
#endif

#define BUCKETS 10000u

typedef void (*compress_fn)(uint32_t state[8], const uint8_t block[64]);

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_portable(uint32_t s[8], const uint8_t p[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) +
                      K[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += h;
}

#ifdef ABWB_X86
/* The SHA-NI compression of one block (Intel's published instruction sequence). */
__attribute__((target("sha,sse4.1"))) static void compress_sha_ni(uint32_t s[8],
                                                                   const uint8_t p[64]) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s[0]), 0xB1); /* CDAB */
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s[4]), 0x1B); /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                                     /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);                                          /* CDGH */
    const __m128i abef = st0, cdgh = st1;
    __m128i w[16];
    for (int g = 0; g < 16; g++) {
        if (g < 4) {
            w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)), mask);
        } else {
            /* w[t] = w[t-16] + s0(w[t-15]) + w[t-7] + s1(w[t-2]), four words at a time */
            __m128i m = _mm_sha256msg1_epu32(w[g - 4], w[g - 3]);
            m = _mm_add_epi32(m, _mm_alignr_epi8(w[g - 1], w[g - 2], 4));
            w[g] = _mm_sha256msg2_epu32(m, w[g - 1]);
        }
        __m128i msg = _mm_add_epi32(w[g], _mm_loadu_si128((const __m128i *)&K[4 * g]));
        st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
        st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
    }
    st0 = _mm_add_epi32(st0, abef);
    st1 = _mm_add_epi32(st1, cdgh);
    tmp = _mm_shuffle_epi32(st0, 0x1B);     /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);     /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);  /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);     /* ABEF */
    _mm_storeu_si128((__m128i *)&s[0], st0);
    _mm_storeu_si128((__m128i *)&s[4], st1);
}

/* Two independent single-block compressions, interleaved: one SHA-NI stream waits on the
 * latency of sha256rnds2, two keep the unit busy (about 1.6x the rows per second). */
__attribute__((target("sha,sse4.1"))) static void compress_sha_ni_x2(uint32_t s[2][8],
                                                                      const uint8_t p[2][64]) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i st0[2], st1[2], save0[2], save1[2], w[2][16];
    for (int j = 0; j < 2; j++) {
        __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s[j][0]), 0xB1);
        st1[j] = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s[j][4]), 0x1B);
        st0[j] = _mm_alignr_epi8(tmp, st1[j], 8);
        st1[j] = _mm_blend_epi16(st1[j], tmp, 0xF0);
        save0[j] = st0[j];
        save1[j] = st1[j];
    }
    for (int g = 0; g < 16; g++) {
        const __m128i k = _mm_loadu_si128((const __m128i *)&K[4 * g]);
        for (int j = 0; j < 2; j++) {
            if (g < 4) {
                w[j][g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p[j] + 16 * g)),
                                           mask);
            } else {
                __m128i m = _mm_sha256msg1_epu32(w[j][g - 4], w[j][g - 3]);
                m = _mm_add_epi32(m, _mm_alignr_epi8(w[j][g - 1], w[j][g - 2], 4));
                w[j][g] = _mm_sha256msg2_epu32(m, w[j][g - 1]);
            }
            __m128i msg = _mm_add_epi32(w[j][g], k);
            st1[j] = _mm_sha256rnds2_epu32(st1[j], st0[j], msg);
            st0[j] = _mm_sha256rnds2_epu32(st0[j], st1[j], _mm_shuffle_epi32(msg, 0x0E));
        }
    }
    for (int j = 0; j < 2; j++) {
        __m128i a = _mm_add_epi32(st0[j], save0[j]), b = _mm_add_epi32(st1[j], save1[j]);
        __m128i tmp = _mm_shuffle_epi32(a, 0x1B);
        b = _mm_shuffle_epi32(b, 0xB1);
        _mm_storeu_si128((__m128i *)&s[j][0], _mm_blend_epi16(tmp, b, 0xF0));
        _mm_storeu_si128((__m128i *)&s[j][4], _mm_alignr_epi8(b, tmp, 8));
    }
}

static int cpu_has_sha(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
}
#else
static int cpu_has_sha(void) { return 0; }
#endif

static compress_fn compress_of(int impl) {
#ifdef ABWB_X86
    if (impl == 1 && cpu_has_sha()) return compress_sha_ni;
#endif
    (void)impl;
    return compress_portable;
}

/* Feed bytes into the block buffer, compressing each full block. */
static inline void feed(uint32_t s[8], uint8_t block[64], size_t *fill, const uint8_t *src,
                        size_t len, compress_fn f) {
    while (len) {
        size_t take = 64 - *fill < len ? 64 - *fill : len;
        memcpy(block + *fill, src, take);
        *fill += take; src += take; len -= take;
        if (*fill == 64) { f(s, block); *fill = 0; }
    }
}

/* The bucket of a final state: its first 8 bytes, big-endian, mod 10000. */
static inline uint32_t bucket_of_state(const uint32_t s[8]) {
    return (uint32_t)((((uint64_t)s[0] << 32) | s[1]) % BUCKETS);
}

/* Bucket of prefix + id: SHA-256 with its padding, first 8 digest bytes mod 10000. */
static inline uint32_t bucket_of(const uint8_t *prefix, size_t prefix_len, const uint8_t *id,
                                 size_t id_len, compress_fn f) {
    uint32_t s[8];
    uint8_t block[64];
    size_t fill = 0;
    memcpy(s, H0, sizeof s);
    feed(s, block, &fill, prefix, prefix_len, f);
    feed(s, block, &fill, id, id_len, f);
    uint64_t bits = ((uint64_t)prefix_len + id_len) * 8;
    block[fill++] = 0x80;
    if (fill > 56) {
        memset(block + fill, 0, 64 - fill);
        f(s, block);
        fill = 0;
    }
    memset(block + fill, 0, 56 - fill);
    for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    f(s, block);
    return bucket_of_state(s);
}


/* The padded single block of prefix + id (their lengths add up to at most 55). */
static inline void single_block(uint8_t block[64], const uint8_t *prefix, size_t prefix_len,
                                const uint8_t *id, size_t id_len) {
    size_t n = prefix_len + id_len;
    uint64_t bits = (uint64_t)n * 8;
    memcpy(block, prefix, prefix_len);
    memcpy(block + prefix_len, id, id_len);
    block[n] = 0x80;
    memset(block + n + 1, 0, 55 - n);
    for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
}

/* The rows of one column call: single-block rows are hashed in pairs when SHA-NI is on. */
typedef struct {
    compress_fn f;
    int pairs;
    const uint8_t *prefix;
    size_t prefix_len;
    int32_t *dst;
    Py_ssize_t pending; /* a single-block row waiting for its partner, or -1 */
    uint8_t blocks[2][64];
} rows_t;

static inline void row(rows_t *r, Py_ssize_t i, const uint8_t *id, size_t len) {
    if (!r->pairs || r->prefix_len + len > 55) {
        r->dst[i] = (int32_t)bucket_of(r->prefix, r->prefix_len, id, len, r->f);
        return;
    }
    if (r->pending < 0) {
        single_block(r->blocks[0], r->prefix, r->prefix_len, id, len);
        r->pending = i;
        return;
    }
#ifdef ABWB_X86
    uint32_t s[2][8];
    single_block(r->blocks[1], r->prefix, r->prefix_len, id, len);
    memcpy(s[0], H0, sizeof H0);
    memcpy(s[1], H0, sizeof H0);
    compress_sha_ni_x2(s, (const uint8_t(*)[64])r->blocks);
    r->dst[r->pending] = (int32_t)bucket_of_state(s[0]);
    r->dst[i] = (int32_t)bucket_of_state(s[1]);
    r->pending = -1;
#endif
}

static inline void flush(rows_t *r) {
    if (r->pending >= 0) {
        uint32_t s[8];
        memcpy(s, H0, sizeof s);
        r->f(s, r->blocks[0]);
        r->dst[r->pending] = (int32_t)bucket_of_state(s);
        r->pending = -1;
    }
}

static rows_t rows_of(const Py_buffer *prefix, int32_t *dst, int impl) {
    compress_fn f = compress_of(impl);
    rows_t r = {f, 0, (const uint8_t *)prefix->buf, (size_t)prefix->len, dst, -1, {{0}}};
#ifdef ABWB_X86
    r.pairs = f == compress_sha_ni;
#endif
    return r;
}

/* ---- Python bindings -------------------------------------------------------------- */

static int writable_int32(Py_buffer *out, Py_ssize_t stop) {
    if (out->len < stop * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "out is shorter than stop int32 values");
        return -1;
    }
    return 0;
}

static int check_range(Py_ssize_t start, Py_ssize_t stop) {
    if (start < 0 || stop < start) {
        PyErr_SetString(PyExc_ValueError, "need 0 <= start <= stop");
        return -1;
    }
    return 0;
}

static PyObject *buckets_of_offsets(PyObject *self, PyObject *args) {
    Py_buffer prefix, offsets, data, out;
    Py_ssize_t start, stop;
    int impl, bad = 0;
    if (!PyArg_ParseTuple(args, "y*y*y*w*nni", &prefix, &offsets, &data, &out, &start, &stop,
                          &impl))
        return NULL;
    PyObject *result = NULL;
    if (check_range(start, stop) || writable_int32(&out, stop)) goto done;
    if (offsets.len < (stop + 1) * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets are shorter than stop + 1 int64 values");
        goto done;
    }
    const int64_t *off = (const int64_t *)offsets.buf;
    const uint8_t *bytes = (const uint8_t *)data.buf;
    rows_t r = rows_of(&prefix, (int32_t *)out.buf, impl);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = start; i < stop; i++) {
        int64_t lo = off[i], hi = off[i + 1];
        if (lo < 0 || hi < lo || hi > data.len) { bad = 1; break; }
        row(&r, i, bytes + lo, (size_t)(hi - lo));
    }
    flush(&r);
    Py_END_ALLOW_THREADS
    if (bad) PyErr_SetString(PyExc_ValueError, "offsets point outside the data buffer");
    else result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&prefix); PyBuffer_Release(&offsets); PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *buckets_of_views(PyObject *self, PyObject *args) {
    Py_buffer prefix, views, out;
    PyObject *buffers;
    Py_ssize_t start, stop;
    int impl, bad = 0;
    if (!PyArg_ParseTuple(args, "y*y*O!w*nni", &prefix, &views, &PyTuple_Type, &buffers, &out,
                          &start, &stop, &impl))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t nbuf = PyTuple_GET_SIZE(buffers), held = 0;
    Py_buffer *data = PyMem_Calloc(nbuf ? nbuf : 1, sizeof(Py_buffer));
    if (data == NULL) { PyErr_NoMemory(); goto done; }
    for (; held < nbuf; held++)
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(buffers, held), &data[held], PyBUF_SIMPLE))
            goto done;
    if (check_range(start, stop) || writable_int32(&out, stop)) goto done;
    if (views.len < stop * 16) {
        PyErr_SetString(PyExc_ValueError, "views are shorter than stop 16-byte views");
        goto done;
    }
    const uint8_t *v = (const uint8_t *)views.buf;
    rows_t r = rows_of(&prefix, (int32_t *)out.buf, impl);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = start; i < stop; i++) {
        const uint8_t *view = v + 16 * i;
        int32_t len, index, offset;
        memcpy(&len, view, 4);
        if (len < 0) { bad = 1; break; }
        const uint8_t *s;
        if (len <= 12) {
            s = view + 4; /* short strings live inside the view */
        } else {
            memcpy(&index, view + 8, 4);
            memcpy(&offset, view + 12, 4);
            if (index < 0 || index >= nbuf || offset < 0 ||
                (Py_ssize_t)offset + len > data[index].len) { bad = 1; break; }
            s = (const uint8_t *)data[index].buf + offset;
        }
        row(&r, i, s, (size_t)len);
    }
    flush(&r);
    Py_END_ALLOW_THREADS
    if (bad) PyErr_SetString(PyExc_ValueError, "a view points outside its data buffer");
    else result = Py_NewRef(Py_None);
done:
    if (data) {
        for (Py_ssize_t j = 0; j < held; j++) PyBuffer_Release(&data[j]);
        PyMem_Free(data);
    }
    PyBuffer_Release(&prefix); PyBuffer_Release(&views); PyBuffer_Release(&out);
    return result;
}

/* buckets_of_unit(prefixes: bytes, ends: bytes, unit_id: bytes, impl: int) -> list[int] */
static PyObject *buckets_of_unit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyBytes_Check(args[0]) || !PyBytes_Check(args[1]) ||
        !PyBytes_Check(args[2]) || !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "buckets_of_unit(prefixes: bytes, ends: bytes, unit_id: bytes, impl)");
        return NULL;
    }
    const uint8_t *prefixes = (const uint8_t *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t total = PyBytes_GET_SIZE(args[0]);
    const uint8_t *ends = (const uint8_t *)PyBytes_AS_STRING(args[1]);
    Py_ssize_t m = PyBytes_GET_SIZE(args[1]) / 4;
    const uint8_t *id = (const uint8_t *)PyBytes_AS_STRING(args[2]);
    size_t id_len = (size_t)PyBytes_GET_SIZE(args[2]);
    compress_fn f = compress_of((int)PyLong_AsLong(args[3]));
    PyObject *list = PyList_New(m);
    if (list == NULL) return NULL;
    uint32_t lo = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        uint32_t hi;
        memcpy(&hi, ends + 4 * i, 4);
        if (hi < lo || hi > (uint64_t)total) {
            Py_DECREF(list);
            PyErr_SetString(PyExc_ValueError, "ends must rise within prefixes");
            return NULL;
        }
        PyObject *b = PyLong_FromUnsignedLong(bucket_of(prefixes + lo, hi - lo, id, id_len, f));
        if (b == NULL) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, i, b);
        lo = hi;
    }
    return list;
}

static PyObject *sha_ni(PyObject *self, PyObject *unused) {
    return PyBool_FromLong(cpu_has_sha());
}

static PyMethodDef methods[] = {
    {"buckets_of_offsets", buckets_of_offsets, METH_VARARGS,
     "Buckets of rows [start, stop) of a large_string array into int32 `out`."},
    {"buckets_of_views", buckets_of_views, METH_VARARGS,
     "Buckets of rows [start, stop) of a string_view array into int32 `out`."},
    {"buckets_of_unit", (PyCFunction)(void (*)(void))buckets_of_unit, METH_FASTCALL,
     "Buckets of one unit id under many salt prefixes."},
    {"sha_ni", sha_ni, METH_NOARGS, "Whether this CPU has the SHA extensions."},
    {NULL, NULL, 0, NULL}};

static PyModuleDef_Slot slots[] = {
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sha256",
                                    "Hash version 1 buckets in C (see _sha256.c).", 0,
                                    methods, slots, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__sha256(void) { return PyModuleDef_Init(&module); }
