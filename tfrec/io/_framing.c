/* The walk over records of varying length, compiled: framing of many small TFRecords at memory speed.
 *
 * tfrec.io.scan checks runs of equal-length records with NumPy (CRC linearity), but records of
 * varying length (encoded images, text) must be found one by one through their length fields.
 * In Python that walk, and one google_crc32c call per record, cost about 1 us per record above
 * the read + CRC32C limit; compiled, framing verification costs 82 ns per record above it on
 * records of 2.6 KB (benchmarks/verify.py, small-png) and the data CRCs run at hardware speed.
 *
 * walk(buf, pos, prev, run_min, out, span=False) -> (m, end, status, crc) checks records from buf[pos] on, exactly
 * as scan.FrameScanner._clean does in Python, and stops at the first thing that is not a clean
 * record of varying length:
 *   status 0  the next record is not complete in buf (or fewer than 12 bytes are left);
 *   status 1  the start of a run of run_min records of one framed length (left to the NumPy check);
 *   status 2  a record whose length CRC does not hold;
 *   status 3  a record whose data CRC does not hold.
 * out (a writable int64 buffer of at least (len(buf) - pos) / 16 + 1 items) receives the buffer
 * offsets of the m records that hold, then `end`, where the next unchecked record starts. `prev`
 * is the framed length of the record before buf[pos] (0: none), for the run detection. The GIL
 * is released during the walk. With span true, crc is the CRC32C of buf[pos:end], from the same
 * single pass over the bytes (each record's data CRC is taken out of the running one by a shift
 * of its length), so a file checksum needs no pass of its own; else crc is None.
 *
 * Also here: combine(crc_a, crc_b, len_b), the CRC32C of A + B without a pass over the bytes; and
 * parse_index(text, out), the integers of a .idx file (tfrec.io.index falls back to NumPy's parser
 * at anything unusual, so errors are still named there).
 *
 * CRC32C (Castagnoli, reflected 0x82f63b78) uses SSE4.2's crc32 instruction on three interleaved
 * streams where the CPU has it (checked at run time), combined with zero-shift tables (the method
 * of Mark Adler's crc32c.c), and an 8-way sliced table otherwise. tests/io/test_framing_native.py
 * checks both against google_crc32c and the whole walk against the Python one.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define POLY 0x82f63b78u
#define MASK_DELTA 0xa282ead8u
#define HEADER_BYTES 12
#define FOOTER_BYTES 4
#define FRAMING_BYTES 16

static uint32_t table8[8][256]; /* slicing-by-8 tables */
static uint32_t shift_pow2[32][4][256]; /* crc -> crc after 2**k zero bytes */

/* ---------------------------------------------------------------- tables */

static uint32_t gf2_times(const uint32_t *mat, uint32_t vec) {
    uint32_t sum = 0;
    while (vec) {
        if (vec & 1) sum ^= *mat;
        vec >>= 1;
        mat++;
    }
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat) {
    for (int n = 0; n < 32; n++) square[n] = gf2_times(mat, mat[n]);
}

/* The operator that appends len zero bytes to a CRC (len a power of two). */
static void zeros_op(uint32_t *even, size_t len) {
    uint32_t odd[32], row = 1;
    odd[0] = POLY; /* one zero bit */
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd); /* two zero bits */
    gf2_square(odd, even); /* four */
    do {                   /* the first square makes one zero byte, in even */
        gf2_square(even, odd);
        len >>= 1;
        if (len == 0) return;
        gf2_square(odd, even);
        len >>= 1;
    } while (len);
    memcpy(even, odd, sizeof(odd));
}

static void init_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ POLY : crc >> 1;
        table8[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = table8[0][n];
        for (int k = 1; k < 8; k++) {
            crc = table8[0][crc & 0xff] ^ (crc >> 8);
            table8[k][n] = crc;
        }
    }
    uint32_t op[32], next[32];
    zeros_op(op, 1);
    for (int k = 0; k < 32; k++) {
        if (k) { /* 2**k zero bytes: the square of the operator for 2**(k-1) */
            gf2_square(next, op);
            memcpy(op, next, sizeof(op));
        }
        for (uint32_t n = 0; n < 256; n++) {
            shift_pow2[k][0][n] = gf2_times(op, n);
            shift_pow2[k][1][n] = gf2_times(op, n << 8);
            shift_pow2[k][2][n] = gf2_times(op, n << 16);
            shift_pow2[k][3][n] = gf2_times(op, n << 24);
        }
    }
}

static inline uint32_t shift(const uint32_t zeros[][256], uint32_t crc) {
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

/* crc -> the CRC after n more zero bytes (its linear part): one table step per bit of n. */
static inline uint32_t shift_n(uint32_t crc, uint64_t n) {
    for (int k = 0; n && k < 32; k++, n >>= 1)
        if (n & 1) crc = shift(shift_pow2[k], crc);
    for (; n; n--) crc = shift(shift_pow2[31], shift(shift_pow2[31], crc)); /* 4 GiB steps (never, in practice) */
    return crc;
}

static inline uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t load32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---------------------------------------------------------------- CRC32C */

static uint32_t crc32c_sw(uint32_t crc, const unsigned char *p, size_t len) {
    crc = ~crc;
    while (len >= 8) {
        uint64_t w = load64(p) ^ crc;
        crc = table8[7][w & 0xff] ^ table8[6][(w >> 8) & 0xff] ^ table8[5][(w >> 16) & 0xff] ^
              table8[4][(w >> 24) & 0xff] ^ table8[3][(w >> 32) & 0xff] ^ table8[2][(w >> 40) & 0xff] ^
              table8[1][(w >> 48) & 0xff] ^ table8[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--) crc = table8[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_HW 1
#include <nmmintrin.h>

/* Three independent streams over consecutive blocks hide the instruction's latency; their CRCs are
 * joined by shifting over a block of zeros (2**log2 bytes). */
__attribute__((target("sse4.2"))) static inline uint64_t crc3(uint64_t c0, const unsigned char **at, size_t *left, int log2) {
    const size_t block = (size_t)1 << log2;
    const unsigned char *p = *at;
    size_t len = *left;
    while (len >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        const unsigned char *end = p + block;
        do {
            c0 = _mm_crc32_u64(c0, load64(p));
            c1 = _mm_crc32_u64(c1, load64(p + block));
            c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
            p += 8;
        } while (p < end);
        c0 = shift(shift_pow2[log2], (uint32_t)c0) ^ c1;
        c0 = shift(shift_pow2[log2], (uint32_t)c0) ^ c2;
        p += 2 * block;
        len -= 3 * block;
    }
    *at = p;
    *left = len;
    return c0;
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t len) {
    uint64_t c0 = crc3(~crc, &p, &len, 13); /* blocks of 8 KiB */
    c0 = crc3(c0, &p, &len, 8);             /* then of 256 bytes */
    c0 = crc3(c0, &p, &len, 5);             /* then of 32: most of a small record's tail */
    while (len >= 8) {
        c0 = _mm_crc32_u64(c0, load64(p));
        p += 8;
        len -= 8;
    }
    while (len--) c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}
#else
#define HAVE_HW 0
#endif

static uint32_t (*crc32c)(uint32_t, const unsigned char *, size_t) = crc32c_sw;

static inline uint32_t masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + MASK_DELTA; }

/* ---------------------------------------------------------------- the walk */

#define RING 64 /* the span CRCs at the last RING record starts, to step back to the start of a run */

static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer buf, out;
    Py_ssize_t pos, prev, run_min;
    int span = 0;
    if (!PyArg_ParseTuple(args, "y*nnnw*|p", &buf, &pos, &prev, &run_min, &out, &span)) return NULL;
    const unsigned char *b = buf.buf;
    const Py_ssize_t n = buf.len;
    int64_t *starts = out.buf;
    Py_ssize_t room = out.len / (Py_ssize_t)sizeof(int64_t);
    if (pos < 0 || pos > n || room < (n - pos) / FRAMING_BYTES + 1 || run_min < 1 || run_min > RING) {
        PyBuffer_Release(&buf);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "walk: pos out of range, out too small or run_min not in 1..64");
        return NULL;
    }
    Py_ssize_t p = pos, m = 0, run = 1;
    uint64_t last = (uint64_t)prev;
    uint32_t crc = 0, ring[RING]; /* crc: the CRC32C of buf[pos:p] (span mode) */
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    while (n - p >= HEADER_BYTES) {
        uint64_t length = load64(b + p);
        uint64_t left = (uint64_t)(n - p);
        if (length > left || length + FRAMING_BYTES > left) break; /* status 0: not complete in buf */
        uint64_t framed = length + FRAMING_BYTES;
        if (framed == last) {
            if (++run >= run_min) { /* leave the run, and the records of it walked so far, to the NumPy check */
                Py_ssize_t cut = m + 1 - run;
                if (cut < 0) cut = 0;
                if (cut < m) {
                    p = (Py_ssize_t)starts[cut];
                    if (span) crc = ring[cut % RING];
                }
                m = cut;
                status = 1;
                break;
            }
        } else {
            last = framed;
            run = 1;
        }
        if (masked(crc32c(0, b + p, 8)) != load32(b + p + 8)) {
            status = 2;
            break;
        }
        const unsigned char *data = b + p + HEADER_BYTES;
        uint32_t stored = load32(data + length), head, body;
        if (span) { /* one pass over the span; crc(X + D) = shift(crc(X), len D) ^ crc(D) gives D's own CRC */
            head = crc32c(crc, b + p, HEADER_BYTES);
            body = crc32c(head, data, (size_t)length);
            if (masked(body ^ shift_n(head, length)) != stored) {
                status = 3;
                break;
            }
            ring[m % RING] = crc;
            crc = crc32c(body, data + length, FOOTER_BYTES);
        } else if (masked(crc32c(0, data, (size_t)length)) != stored) {
            status = 3;
            break;
        }
        starts[m++] = p;
        p += (Py_ssize_t)framed;
    }
    starts[m] = p;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    PyBuffer_Release(&out);
    if (span) return Py_BuildValue("nniI", m, p, status, (unsigned int)crc);
    return Py_BuildValue("nniO", m, p, status, Py_None);
}

static PyObject *combine(PyObject *self, PyObject *args) {
    unsigned int a, b;
    unsigned long long len_b;
    if (!PyArg_ParseTuple(args, "IIK", &a, &b, &len_b)) return NULL;
    return PyLong_FromUnsignedLong(shift_n(a, len_b) ^ b);
}

/* parse_index(text, out) -> n: the whitespace-separated decimal integers of a .idx file into out
 * (int64), or -1 at anything else (a sign, a letter, a number of 19 digits or more): the caller then
 * parses the slow way, which names the problem. About 5x NumPy's text parser (MNIST .idx files:
 * 0.7 ms against 3.4 ms per verify of 70,000 records). */
static PyObject *parse_index(PyObject *self, PyObject *args) {
    Py_buffer text, out;
    if (!PyArg_ParseTuple(args, "y*w*", &text, &out)) return NULL;
    const unsigned char *p = text.buf, *end = p + text.len;
    int64_t *values = out.buf;
    Py_ssize_t room = out.len / (Py_ssize_t)sizeof(int64_t), n = 0;
    Py_BEGIN_ALLOW_THREADS
    while (p < end) {
        unsigned char c = *p;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            p++;
            continue;
        }
        int64_t v = 0;
        int digits = 0;
        while (p < end && *p >= '0' && *p <= '9' && digits < 18) {
            v = v * 10 + (*p++ - '0');
            digits++;
        }
        if (!digits || n == room || (p < end && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')) {
            n = -1;
            break;
        }
        values[n++] = v;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&text);
    PyBuffer_Release(&out);
    return PyLong_FromSsize_t(n);
}

static PyObject *crc_of(PyObject *args, uint32_t (*fn)(uint32_t, const unsigned char *, size_t)) {
    Py_buffer buf;
    unsigned int crc = 0;
    if (!PyArg_ParseTuple(args, "y*|I", &buf, &crc)) return NULL;
    uint32_t v = fn(crc, buf.buf, (size_t)buf.len);
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLong(v);
}

static PyObject *value(PyObject *self, PyObject *args) { return crc_of(args, crc32c); }

static PyObject *value_sw(PyObject *self, PyObject *args) { return crc_of(args, crc32c_sw); }

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS, "walk(buf, pos, prev, run_min, out, span=False) -> (m, end, status, crc): see the module's source."},
    {"combine", combine, METH_VARARGS, "combine(crc_a, crc_b, len_b) -> the CRC32C of A + B."},
    {"parse_index", parse_index, METH_VARARGS, "parse_index(text, out) -> n integers parsed into out, or -1: see the source."},
    {"value", value, METH_VARARGS, "value(data, crc=0) -> CRC32C of data, continuing crc (the fastest path this CPU has)."},
    {"value_sw", value_sw, METH_VARARGS, "value_sw(data, crc=0) -> CRC32C of data through the portable table path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_framing", "Compiled framing walk and CRC32C (see _framing.c).", -1, methods};

PyMODINIT_FUNC PyInit__framing(void) {
    init_tables();
#if HAVE_HW
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) crc32c = crc32c_hw;
#endif
    PyObject *mod = PyModule_Create(&module);
    if (mod) PyModule_AddIntConstant(mod, "HARDWARE", crc32c != crc32c_sw);
    return mod;
}
