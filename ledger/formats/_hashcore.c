/* Native fast path of the salted field hashes and the certificate digest (ledger/formats/canonical.py).

   canonical.py is the specification and the reference: every function here either returns exactly what the
   pure-Python code returns for the same arguments, or returns None, and the caller then runs the pure-Python code
   (which raises the error, if there is one). None is returned for anything but the plain case: a mapping that is
   not an exact dict, a name that is not an exact str or not valid UTF-8, a salt that is not exact bytes or is too
   short, a missing salt, a value whose canonical form raised an error (an interrupt - KeyboardInterrupt, SystemExit
   - is raised here, where the pure-Python code raises it too). Values that are not printable strings are written
   by the caller's canonical_json (passed in), as the pure-Python loop does. tests/test_hashcore.py compares the two
   on generated and hostile input. Inputs are untrusted (a holder's document): every length is the object's own,
   nothing is copied into fixed buffers except hex digits in bounded chunks. Built by setup.py (optional: without
   a compiler the ledger runs the pure-Python code only). */

#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init/Update/Final: the one-block-at-a-time API, fastest for short input */
#include <Python.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { HASH_BYTES = 32, FALLBACK = 0, DONE = 1, FAILED = -1 };

/* str.isprintable() of an exact str, without a method call. */
static int printable(PyObject *text)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) == -1) {  /* a legacy string that cannot be made ready: the general path */
        PyErr_Clear();
        return 0;
    }
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (PyUnicode_IS_ASCII(text)) {
        const unsigned char *p = PyUnicode_1BYTE_DATA(text);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (p[i] < 0x20 || p[i] == 0x7f) return 0;
        }
        return 1;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!Py_UNICODE_ISPRINTABLE(PyUnicode_READ(kind, data, i))) return 0;
    }
    return 1;
}

/* json.encoder.encode_basestring(text) (no ASCII escaping) for a printable string, as UTF-8: only '"' and '\\'
   need escaping (a printable string has no control character), and no byte of a multi-byte UTF-8 sequence is one of
   them. */
static void update_quoted(SHA256_CTX *ctx, const char *utf8, Py_ssize_t size)
{
    Py_ssize_t start = 0;
    SHA256_Update(ctx, "\"", 1);
    for (Py_ssize_t i = 0; i < size; i++) {
        char c = utf8[i];
        if (c == '"' || c == '\\') {
            SHA256_Update(ctx, utf8 + start, (size_t)(i - start));
            SHA256_Update(ctx, c == '"' ? "\\\"" : "\\\\", 2);
            start = i + 1;
        }
    }
    SHA256_Update(ctx, utf8 + start, (size_t)(size - start));
    SHA256_Update(ctx, "\"", 1);
}

/* canonical_json's own fast paths for the scalars that make up most fields, written into ``out`` (at least 32
   bytes): None, True, False and an exact int strictly between -2**53 and 2**53 (its decimal digits, as str(int)
   writes them). Returns the length written, or 0 for any other value (a bool is not an exact int; a larger int,
   a float or an int subclass goes to canonical_json). */
static int plain_scalar(PyObject *value, char out[32])
{
    if (value == Py_None) {
        memcpy(out, "null", 4);
        return 4;
    }
    if (value == Py_True) {
        memcpy(out, "true", 4);
        return 4;
    }
    if (value == Py_False) {
        memcpy(out, "false", 5);
        return 5;
    }
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) {  /* not reached for an exact int */
            PyErr_Clear();
            return 0;
        }
        const long long limit = 1LL << 53;
        if (overflow || v <= -limit || v >= limit) return 0;
        /* its decimal digits, as "%lld" writes them (|v| < 2**53: at most 16 digits and a sign) */
        char digits[24];
        int n = 0, k = 0;
        unsigned long long magnitude = v < 0 ? (unsigned long long)(-v) : (unsigned long long)v;
        do {
            digits[n++] = (char)('0' + magnitude % 10);
            magnitude /= 10;
        } while (magnitude);
        if (v < 0) out[k++] = '-';
        while (n) out[k++] = digits[--n];
        return k;
    }
    return 0;
}

/* One field's hash: SHA-256(prefix || salt || utf8(name) || 0x00 || canonical(value)); ``canonical`` is
   canonical.canonical_json, whose scalar and printable-string answers are written here without calling it. */
static int hash_named_field(const char *name_utf8, Py_ssize_t name_size, PyObject *value, const char *salt,
                            Py_ssize_t salt_size, PyObject *prefix, PyObject *canonical, unsigned char out[HASH_BYTES]);

static int hash_field(PyObject *name, PyObject *value, const char *salt, Py_ssize_t salt_size, PyObject *prefix,
                      PyObject *canonical, unsigned char out[HASH_BYTES])
{
    Py_ssize_t name_size;
    const char *name_utf8 = PyUnicode_AsUTF8AndSize(name, &name_size);
    if (name_utf8 == NULL) {  /* a lone surrogate: the pure-Python code names the field */
        PyErr_Clear();
        return FALLBACK;
    }
    return hash_named_field(name_utf8, name_size, value, salt, salt_size, prefix, canonical, out);
}

/* hash_field for a name already in UTF-8 (``name_utf8`` is not read after ``canonical`` runs). */
static int hash_named_field(const char *name_utf8, Py_ssize_t name_size, PyObject *value, const char *salt,
                            Py_ssize_t salt_size, PyObject *prefix, PyObject *canonical, unsigned char out[HASH_BYTES])
{
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, PyBytes_AS_STRING(prefix), (size_t)PyBytes_GET_SIZE(prefix));
    SHA256_Update(&ctx, salt, (size_t)salt_size);
    SHA256_Update(&ctx, name_utf8, (size_t)name_size);
    SHA256_Update(&ctx, "", 1);
    char number[32];
    int scalar = plain_scalar(value, number);
    if (scalar > 0) {
        SHA256_Update(&ctx, number, (size_t)scalar);
    } else if (PyUnicode_CheckExact(value) && printable(value)) {
        Py_ssize_t size;
        const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
        if (utf8 == NULL) {  /* not reached: a printable string has no surrogate */
            PyErr_Clear();
            return FALLBACK;
        }
        update_quoted(&ctx, utf8, size);
    } else {
        PyObject *written = PyObject_CallOneArg(canonical, value);
        if (written == NULL && !PyErr_ExceptionMatches(PyExc_Exception)) {
            /* KeyboardInterrupt, SystemExit: the pure-Python code raises it at this same call (every step before it
               succeeded there too); cleared, it would be lost while the Python path starts over */
            return FAILED;
        }
        if (written == NULL || !PyBytes_Check(written)) {  /* its error is the pure-Python code's to raise */
            Py_XDECREF(written);
            PyErr_Clear();
            return FALLBACK;
        }
        SHA256_Update(&ctx, PyBytes_AS_STRING(written), (size_t)PyBytes_GET_SIZE(written));
        Py_DECREF(written);
    }
    SHA256_Final(out, &ctx);
    return DONE;
}

/* hashes[name] = the 32 bytes of out; -1 with the error set when that fails. */
static int store_hash(PyObject *hashes, PyObject *name, const unsigned char *out)
{
    PyObject *hash = PyBytes_FromStringAndSize((const char *)out, HASH_BYTES);
    int stored = hash == NULL ? -1 : PyDict_SetItem(hashes, name, hash);
    Py_XDECREF(hash);
    return stored;
}

static int plain_name(PyObject *name)  /* printable ASCII: RFC 8785's member order is then byte order */
{
    if (!PyUnicode_CheckExact(name) || !PyUnicode_IS_ASCII(name)) return 0;
    return printable(name);
}

typedef struct {
    const char *name;
    Py_ssize_t name_size;
    const unsigned char *hash;
    Py_ssize_t hash_size;
} Member;

static int by_name(const void *a, const void *b)
{
    const Member *x = a, *y = b;
    Py_ssize_t n = x->name_size < y->name_size ? x->name_size : y->name_size;
    int c = memcmp(x->name, y->name, (size_t)n);
    if (c) return c;
    return (x->name_size > y->name_size) - (x->name_size < y->name_size);
}

/* SHA-256(prefix || canonical_json({"fields": {name: hex(hash)}, "format": fmt})) for printable ASCII names and
   format; the members are sorted here (the caller's array is reordered). */
static void tagged_digest(Member *members, Py_ssize_t n, const char *fmt, Py_ssize_t fmt_size, const char *prefix,
                          Py_ssize_t prefix_size, unsigned char out[HASH_BYTES])
{
    static const char digits[] = "0123456789abcdef";
    char hex[128];
    SHA256_CTX ctx;
    qsort(members, (size_t)n, sizeof(Member), by_name);
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, prefix, (size_t)prefix_size);
    SHA256_Update(&ctx, "{\"fields\":{", 11);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i) SHA256_Update(&ctx, ",", 1);
        update_quoted(&ctx, members[i].name, members[i].name_size);
        SHA256_Update(&ctx, ":\"", 2);
        for (Py_ssize_t done = 0; done < members[i].hash_size;) {
            Py_ssize_t chunk = members[i].hash_size - done;
            if (chunk > 64) chunk = 64;
            for (Py_ssize_t k = 0; k < chunk; k++) {
                unsigned char byte = members[i].hash[done + k];
                hex[2 * k] = digits[byte >> 4];
                hex[2 * k + 1] = digits[byte & 15];
            }
            SHA256_Update(&ctx, hex, (size_t)(2 * chunk));
            done += chunk;
        }
        SHA256_Update(&ctx, "\"", 1);
    }
    SHA256_Update(&ctx, "},\"format\":", 11);
    update_quoted(&ctx, fmt, fmt_size);
    SHA256_Update(&ctx, "}", 1);
    SHA256_Final(out, &ctx);
}

/* iter(fields.items()) of an exact dict: the iterator a Python for loop over the items uses. */
static PyObject *live_items(PyObject *fields)
{
    PyObject *view = PyObject_CallMethod(fields, "items", NULL);
    if (view == NULL) return NULL;
    PyObject *iterator = PyObject_GetIter(view);
    Py_DECREF(view);
    return iterator;
}

/* field_hashes(fields, salts, prefix, least, canonical) -> dict | None */
static PyObject *field_hashes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "field_hashes(fields, salts, prefix, least, canonical)");
        return NULL;
    }
    PyObject *fields = args[0], *salts = args[1], *prefix = args[2], *canonical = args[4];
    Py_ssize_t least = PyLong_AsSsize_t(args[3]);
    if (least == -1 && PyErr_Occurred()) return NULL;
    if (!PyDict_CheckExact(fields) || !PyDict_CheckExact(salts) || !PyBytes_CheckExact(prefix)) Py_RETURN_NONE;
    /* The items are read as the pure-Python loop reads them, through the dict's own iterator: canonical (Python
       code) runs between steps and may edit the mapping; the iterator then gives the current value of each later
       field, or raises the RuntimeError the Python loop raises. */
    PyObject *items = live_items(fields);
    if (items == NULL) return NULL;
    PyObject *hashes = PyDict_New();
    if (hashes == NULL) {
        Py_DECREF(items);
        return NULL;
    }
    PyObject *item;
    while ((item = PyIter_Next(items)) != NULL) {
        PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);  /* item keeps them alive */
        if (!PyUnicode_CheckExact(name)) goto fallback;
        PyObject *salt = PyDict_GetItemWithError(salts, name);  /* borrowed */
        if (salt == NULL) {
            if (PyErr_Occurred()) goto failed;
            goto fallback;
        }
        if (!PyBytes_CheckExact(salt) || PyBytes_GET_SIZE(salt) < least) goto fallback;
        Py_INCREF(salt);  /* canonical may run Python code: keep the salt alive */
        unsigned char out[HASH_BYTES];
        int done = hash_field(name, value, PyBytes_AS_STRING(salt), PyBytes_GET_SIZE(salt), prefix, canonical, out);
        Py_DECREF(salt);
        if (done == FAILED) goto failed;
        if (done != DONE) goto fallback;
        if (store_hash(hashes, name, out) < 0) goto failed;
        Py_DECREF(item);
    }
    Py_DECREF(items);
    if (PyErr_Occurred()) {  /* the iterator's RuntimeError: the mapping changed size, as the Python loop says */
        Py_DECREF(hashes);
        return NULL;
    }
    return hashes;
fallback:
    Py_DECREF(item);
    Py_DECREF(items);
    Py_DECREF(hashes);
    Py_RETURN_NONE;
failed:
    Py_DECREF(item);
    Py_DECREF(items);
    Py_DECREF(hashes);
    return NULL;
}

/* input_hashes(fields, secret, message, salt_bytes, prefix, canonical) -> dict | None

   decision_input._salted_hashes_py: for each field, in the dict's order, its salt
   HMAC-SHA256(secret, message || utf8(name))[:salt_bytes] (``message`` is "pl-input-salt\0" || input digest ||
   "\0", built by the caller) and its hash SHA-256(prefix || salt || utf8(name) || 0x00 || canonical(value)).
   None (the Python code answers, errors included) for a mapping that is not an exact dict, a name that is not an
   exact str or not valid UTF-8, a secret or message that is not exact bytes, a salt size outside 1..32, a value
   whose canonical form raised. The secret is read into stack buffers that are wiped before returning. */
static PyObject *input_hashes(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "input_hashes(fields, secret, message, salt_bytes, prefix, canonical)");
        return NULL;
    }
    PyObject *fields = args[0], *secret = args[1], *message = args[2], *prefix = args[4], *canonical = args[5];
    Py_ssize_t salt_bytes = PyLong_AsSsize_t(args[3]);
    if (salt_bytes == -1 && PyErr_Occurred()) return NULL;
    if (!PyDict_CheckExact(fields) || !PyBytes_CheckExact(secret) || !PyBytes_CheckExact(message)
        || !PyBytes_CheckExact(prefix) || salt_bytes < 1 || salt_bytes > HASH_BYTES)
        Py_RETURN_NONE;
    /* RFC 2104 with SHA-256 (block 64): a key longer than a block is hashed first, then zero-padded */
    unsigned char key[64], pad[64], inner_hash[HASH_BYTES], salt[HASH_BYTES];
    memset(key, 0, sizeof key);
    if (PyBytes_GET_SIZE(secret) > 64) {
        SHA256((const unsigned char *)PyBytes_AS_STRING(secret), (size_t)PyBytes_GET_SIZE(secret), key);
    } else {
        memcpy(key, PyBytes_AS_STRING(secret), (size_t)PyBytes_GET_SIZE(secret));
    }
    SHA256_CTX inner, outer, ctx;
    for (int k = 0; k < 64; k++) pad[k] = key[k] ^ 0x36;
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad, 64);
    SHA256_Update(&inner, PyBytes_AS_STRING(message), (size_t)PyBytes_GET_SIZE(message));
    for (int k = 0; k < 64; k++) pad[k] = key[k] ^ 0x5c;
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad, 64);
    PyObject *result = NULL, *item = NULL;
    PyObject *items = live_items(fields);  /* read as the Python loop reads them: canonical may edit the mapping */
    PyObject *hashes = items == NULL ? NULL : PyDict_New();
    if (hashes == NULL) goto end;
    while ((item = PyIter_Next(items)) != NULL) {
        PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        if (!PyUnicode_CheckExact(name)) goto fallback;
        Py_ssize_t name_size;
        const char *name_utf8 = PyUnicode_AsUTF8AndSize(name, &name_size);
        if (name_utf8 == NULL) {  /* a lone surrogate: the Python code names the field */
            PyErr_Clear();
            goto fallback;
        }
        ctx = inner;
        SHA256_Update(&ctx, name_utf8, (size_t)name_size);
        SHA256_Final(inner_hash, &ctx);
        ctx = outer;
        SHA256_Update(&ctx, inner_hash, HASH_BYTES);
        SHA256_Final(salt, &ctx);
        unsigned char out[HASH_BYTES];
        int done = hash_field(name, value, (const char *)salt, salt_bytes, prefix, canonical, out);
        if (done == FAILED) goto end;
        if (done != DONE) goto fallback;
        if (store_hash(hashes, name, out) < 0) goto end;
        Py_CLEAR(item);
    }
    if (PyErr_Occurred()) goto end;  /* the iterator's RuntimeError: the mapping changed size */
    result = Py_NewRef(hashes);
    goto end;
fallback:
    result = Py_NewRef(Py_None);
end:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    OPENSSL_cleanse(inner_hash, sizeof inner_hash);
    Py_XDECREF(item);
    Py_XDECREF(hashes);
    Py_XDECREF(items);
    return result;
}

/* One value met by json_plain's walk: 1 when it may stay (a container is pushed to be walked), 0 when it makes the
   value not plain, -1 on error (memory). */
static int plain_member(PyObject *v, PyObject ***stack, Py_ssize_t *size, Py_ssize_t *capacity, Py_ssize_t budget)
{
    if (PyUnicode_CheckExact(v)) return printable(v);
    if (PyDict_CheckExact(v) || PyList_CheckExact(v)) {
        /* every container on the stack costs one unit of the budget when it is taken off: more of them than
           there is budget left means the walk runs out before it ends (False either way, as in Python) */
        if (*size >= budget) return 0;
        if (*size == *capacity) {
            Py_ssize_t grown = *capacity * 2;
            PyObject **bigger = PyMem_Realloc(*stack, (size_t)grown * sizeof(PyObject *));
            if (bigger == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            *stack = bigger;
            *capacity = grown;
        }
        (*stack)[(*size)++] = v;
        return 1;
    }
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (n == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return 0;
        }
        const long long limit = 1LL << 53;
        return !overflow && n > -limit && n < limit;
    }
    return v == Py_None || v == Py_True || v == Py_False;
}

/* json_plain(value, budget) -> bool: canonical._json_plain_py (the reference) - True when Python's sorted,
   compact JSON of the value is byte-identical to RFC 8785: exact dicts and lists, printable strings, printable
   ASCII keys, exact ints strictly within +-2**53, None and booleans, at most ``budget`` containers taken off the
   walk's stack (a self-containing value never ends: False). No Python code runs during the walk (exact types
   only, read with the C API), so the borrowed references on the stack stay alive and nothing changes under it. */
static PyObject *json_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "json_plain(value, budget)");
        return NULL;
    }
    Py_ssize_t budget = PyLong_AsSsize_t(args[1]);
    if (budget == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t size = 0, capacity = 64;
    PyObject **stack = PyMem_Malloc((size_t)capacity * sizeof(PyObject *));
    if (stack == NULL) return PyErr_NoMemory();
    stack[size++] = args[0];
    int plain = 1;
    while (size > 0 && plain == 1) {
        budget -= 1;
        if (budget < 0) {
            plain = 0;
            break;
        }
        PyObject *node = stack[--size];
        if (PyDict_CheckExact(node)) {
            PyObject *k, *v;
            Py_ssize_t pos = 0;
            while (plain == 1 && PyDict_Next(node, &pos, &k, &v)) {
                if (!PyUnicode_CheckExact(k) || !printable(k) || !PyUnicode_IS_ASCII(k)) {
                    plain = 0;
                    break;
                }
                plain = plain_member(v, &stack, &size, &capacity, budget);
            }
        } else if (PyList_CheckExact(node)) {
            for (Py_ssize_t i = 0; plain == 1 && i < PyList_GET_SIZE(node); i++) {
                plain = plain_member(PyList_GET_ITEM(node, i), &stack, &size, &capacity, budget);
            }
        } else {
            /* a root that is no container: the same test as a member, with nothing to push */
            if (PyUnicode_CheckExact(node)) plain = printable(node);
            else if (PyLong_CheckExact(node) || node == Py_None || node == Py_True || node == Py_False)
                plain = plain_member(node, &stack, &size, &capacity, budget);
            else plain = 0;
        }
    }
    PyMem_Free(stack);
    if (plain < 0) return NULL;
    return PyBool_FromLong(plain);
}

/* The format's text, when it is printable ASCII (else the caller's general path). */
static const char *plain_format(PyObject *fmt, Py_ssize_t *size)
{
    if (!plain_name(fmt)) return NULL;
    return PyUnicode_AsUTF8AndSize(fmt, size);  /* ASCII: cannot fail */
}

/* tagged_digest(prefix, hashes, fmt) -> bytes | None */
static PyObject *py_tagged_digest(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "tagged_digest(prefix, hashes, fmt)");
        return NULL;
    }
    PyObject *prefix = args[0], *hashes = args[1];
    Py_ssize_t fmt_size;
    const char *fmt = plain_format(args[2], &fmt_size);
    if (!PyBytes_CheckExact(prefix) || !PyDict_CheckExact(hashes) || fmt == NULL) Py_RETURN_NONE;
    Py_ssize_t n = PyDict_GET_SIZE(hashes);
    Member *members = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Member));
    if (members == NULL) return PyErr_NoMemory();
    PyObject *name, *hash;
    Py_ssize_t pos = 0, i = 0;
    /* No Python code runs below: the dict cannot change while its names and hashes are read. */
    while (PyDict_Next(hashes, &pos, &name, &hash)) {
        if (!plain_name(name) || !PyBytes_CheckExact(hash)) {
            PyMem_Free(members);
            Py_RETURN_NONE;
        }
        members[i].name = PyUnicode_AsUTF8AndSize(name, &members[i].name_size);
        members[i].hash = (const unsigned char *)PyBytes_AS_STRING(hash);
        members[i].hash_size = PyBytes_GET_SIZE(hash);
        i++;
    }
    unsigned char out[HASH_BYTES];
    tagged_digest(members, n, fmt, fmt_size, PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix), out);
    PyMem_Free(members);
    return PyBytes_FromStringAndSize((const char *)out, HASH_BYTES);
}

/* sealed_digest(fields, randomness, offset, salt_bytes, field_prefix, cert_prefix, fmt, canonical) -> bytes | None:
   the fields digest (tagged_digest with cert_prefix) of a certificate whose fields are salted, in order, from
   randomness[offset:]; the caller adds the type's layer (certificate.seal_many). */
static PyObject *sealed_digest(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "sealed_digest(fields, randomness, offset, salt_bytes, field_prefix, cert_prefix, fmt, "
                        "canonical)");
        return NULL;
    }
    PyObject *fields = args[0], *randomness = args[1], *field_prefix = args[4], *cert_prefix = args[5];
    PyObject *canonical = args[7];
    Py_ssize_t offset = PyLong_AsSsize_t(args[2]);
    if (offset == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t salt_bytes = PyLong_AsSsize_t(args[3]);
    if (salt_bytes == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t fmt_size;
    const char *fmt = plain_format(args[6], &fmt_size);
    if (!PyDict_CheckExact(fields) || !PyBytes_CheckExact(randomness) || !PyBytes_CheckExact(field_prefix)
        || !PyBytes_CheckExact(cert_prefix) || fmt == NULL || offset < 0 || salt_bytes <= 0)
        Py_RETURN_NONE;
    Py_ssize_t n = PyDict_GET_SIZE(fields);
    if (n > (PyBytes_GET_SIZE(randomness) - offset) / salt_bytes) Py_RETURN_NONE;  /* short: the caller says so */
    /* Read as the Python loop reads them (field_hashes): canonical may edit the mapping between steps. */
    PyObject *items = live_items(fields);
    if (items == NULL) return NULL;
    PyObject *names = PyList_New(0);  /* keeps every name alive, and with it its UTF-8 form, to the digest */
    Member *members = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Member));
    unsigned char *hashes = PyMem_Malloc((size_t)(n ? n : 1) * HASH_BYTES);
    PyObject *result = NULL, *item = NULL;
    if (names == NULL) goto end;
    if (members == NULL || hashes == NULL) {
        PyErr_NoMemory();
        goto end;
    }
    const char *salts = PyBytes_AS_STRING(randomness) + offset;
    Py_ssize_t i = 0;
    while ((item = PyIter_Next(items)) != NULL) {
        PyObject *name = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        if (i >= n || !plain_name(name)) goto fallback;  /* (the iterator never gives more than it had) */
        int done = hash_field(name, value, salts + i * salt_bytes, salt_bytes, field_prefix, canonical,
                              hashes + i * HASH_BYTES);
        if (done == FAILED) goto end;
        if (done != DONE || PyList_Append(names, name) < 0) goto fallback_or_error;
        members[i].name = PyUnicode_AsUTF8AndSize(name, &members[i].name_size);
        members[i].hash = hashes + i * HASH_BYTES;
        members[i].hash_size = HASH_BYTES;
        i++;
        Py_CLEAR(item);
    }
    if (PyErr_Occurred()) goto end;  /* the iterator's RuntimeError: the mapping changed size */
    if (i != n) goto fallback;       /* not reached: the iterator raises first */
    unsigned char out[HASH_BYTES];
    tagged_digest(members, n, fmt, fmt_size, PyBytes_AS_STRING(cert_prefix), PyBytes_GET_SIZE(cert_prefix), out);
    result = PyBytes_FromStringAndSize((const char *)out, HASH_BYTES);
    goto end;
fallback_or_error:
    if (PyErr_Occurred()) goto end;
fallback:
    result = Py_NewRef(Py_None);
end:
    Py_XDECREF(item);
    Py_XDECREF(names);
    PyMem_Free(members);
    PyMem_Free(hashes);
    Py_DECREF(items);
    return result;
}


static int hex_value(Py_UCS4 c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* text[start:] == other[start:] for two exact str; -1 on error. */
static int same_tail(PyObject *text, PyObject *other, Py_ssize_t start)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), m = PyUnicode_GET_LENGTH(other);
    Py_ssize_t a = n > start ? n - start : 0, b = m > start ? m - start : 0;
    if (a != b) return 0;
    if (a == 0) return 1;
    if (PyUnicode_IS_ASCII(text) && PyUnicode_IS_ASCII(other))
        return memcmp(PyUnicode_1BYTE_DATA(text) + start, PyUnicode_1BYTE_DATA(other) + start, (size_t)a) == 0;
    PyObject *x = PyUnicode_Substring(text, start, n), *y = PyUnicode_Substring(other, start, m);
    int equal = -1;
    if (x != NULL && y != NULL) equal = PyUnicode_Compare(x, y) == 0;
    if (equal >= 0 && PyErr_Occurred()) equal = -1;
    Py_XDECREF(x);
    Py_XDECREF(y);
    return equal;
}

/* proof_walk(digest, elements, text, root, nodes) -> (reached, walked) | None | NotImplemented

   merkle.ProofWalks._walk: the proof's elements (each "0x" + 64 hex digits, joined in ``text``) walked from the
   leaf up until a node remembered in ``nodes`` (node -> (root, text, height)) at the same height, for the same
   root, with the same text above it; None for an element not in that form; NotImplemented for arguments that are
   not the exact types the Python code builds (it then walks them itself). */
static PyObject *proof_walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "proof_walk(digest, elements, text, root, nodes)");
        return NULL;
    }
    PyObject *digest = args[0], *elements = args[1], *text = args[2], *root = args[3], *nodes = args[4];
    if (!PyBytes_CheckExact(digest) || !PyList_CheckExact(elements) || !PyUnicode_CheckExact(text)
        || !PyBytes_CheckExact(root) || !PyDict_CheckExact(nodes))
        Py_RETURN_NOTIMPLEMENTED;
    static const unsigned char leaf = 0x00, inner = 0x01;
    unsigned char h[HASH_BYTES], sibling[HASH_BYTES];
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, &leaf, 1);
    SHA256_Update(&ctx, PyBytes_AS_STRING(digest), (size_t)PyBytes_GET_SIZE(digest));
    SHA256_Final(h, &ctx);
    PyObject *walked = PyList_New(0), *node = NULL, *result = NULL;
    if (walked == NULL) return NULL;
    int known = 0;
    for (Py_ssize_t height = 0; height < PyList_GET_SIZE(elements); height++) {
        node = PyBytes_FromStringAndSize((const char *)h, HASH_BYTES);
        if (node == NULL) goto end;
        PyObject *seen = PyDict_GetItemWithError(nodes, node); /* borrowed; no Python code runs while it is used */
        if (seen == NULL && PyErr_Occurred()) goto end;
        if (seen != NULL) {
            if (!PyTuple_CheckExact(seen) || PyTuple_GET_SIZE(seen) != 3 || !PyLong_CheckExact(PyTuple_GET_ITEM(seen, 2))
                || !PyBytes_CheckExact(PyTuple_GET_ITEM(seen, 0)) || !PyUnicode_CheckExact(PyTuple_GET_ITEM(seen, 1))) {
                result = Py_NewRef(Py_NotImplemented);
                goto end;
            }
            Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(seen, 2));
            if (at == -1 && PyErr_Occurred()) PyErr_Clear();  /* a height no walk has: not this one */
            PyObject *their_root = PyTuple_GET_ITEM(seen, 0);
            if (at == height && PyBytes_GET_SIZE(their_root) == PyBytes_GET_SIZE(root)
                && memcmp(PyBytes_AS_STRING(their_root), PyBytes_AS_STRING(root), (size_t)PyBytes_GET_SIZE(root)) == 0) {
                if (height > PY_SSIZE_T_MAX / 66) {
                    result = Py_NewRef(Py_NotImplemented);
                    goto end;
                }
                int same = same_tail(PyTuple_GET_ITEM(seen, 1), text, 66 * height);
                if (same < 0) goto end;
                if (same) {
                    known = 1;
                    Py_CLEAR(node);
                    break;
                }
            }
        }
        if (PyList_Append(walked, node) < 0) goto end;
        Py_CLEAR(node);
        PyObject *element = PyList_GET_ITEM(elements, height);
        if (!PyUnicode_CheckExact(element)
#if PY_VERSION_HEX < 0x030C0000
            || PyUnicode_READY(element) == -1
#endif
        ) {
            PyErr_Clear();
            result = Py_NewRef(Py_NotImplemented);
            goto end;
        }
        /* element[:2] == "0x" and element[2:] is exactly 32 bytes by bytes.fromhex: 64 hex digits (fromhex would
           skip whitespace and then give fewer bytes, and refuses anything else) */
        Py_ssize_t size = PyUnicode_GET_LENGTH(element);
        int kind = PyUnicode_KIND(element);
        const void *data = PyUnicode_DATA(element);
        if (size != 66 || PyUnicode_READ(kind, data, 0) != '0' || PyUnicode_READ(kind, data, 1) != 'x') {
            result = Py_NewRef(Py_None);
            goto end;
        }
        for (Py_ssize_t k = 0; k < HASH_BYTES; k++) {
            int hi = hex_value(PyUnicode_READ(kind, data, 2 + 2 * k)), lo = hex_value(PyUnicode_READ(kind, data, 3 + 2 * k));
            if (hi < 0 || lo < 0) {
                result = Py_NewRef(Py_None);
                goto end;
            }
            sibling[k] = (unsigned char)(hi << 4 | lo);
        }
        int first = memcmp(h, sibling, HASH_BYTES) <= 0;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, &inner, 1);
        SHA256_Update(&ctx, first ? h : sibling, HASH_BYTES);
        SHA256_Update(&ctx, first ? sibling : h, HASH_BYTES);
        SHA256_Final(h, &ctx);
    }
    PyObject *reached = known ? Py_NewRef(root) : PyBytes_FromStringAndSize((const char *)h, HASH_BYTES);
    if (reached != NULL) result = PyTuple_Pack(2, reached, walked);
    Py_XDECREF(reached);
end:
    Py_XDECREF(node);
    Py_DECREF(walked);
    return result;
}

/* -- the certificate document's shape (certificate.py's CertificateDocument.from_json) ------------------------- */

/* The value of each hex digit by its byte; 0x10 marks every other byte. Filled by PyInit__hashcore. */
static unsigned char HEX_DIGIT[256];

/* An exact str of ASCII characters only (the pydantic model reads every key as a str: a key that is not ASCII is
   left to it). */
static int ascii_str(PyObject *text)
{
    if (!PyUnicode_CheckExact(text)) return 0;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) == -1) {
        PyErr_Clear();
        return 0;
    }
#endif
    return PyUnicode_IS_ASCII(text);
}

/* text is exactly ``prefix`` followed by ``digits`` hex digits (the model's patterns: Rust's ``$`` is the end of
   the text, so nothing may follow). */
static int hex_text(PyObject *text, const char *prefix, Py_ssize_t digits)
{
    if (!ascii_str(text)) return 0;
    Py_ssize_t skip = (Py_ssize_t)strlen(prefix);
    if (PyUnicode_GET_LENGTH(text) != skip + digits) return 0;
    const unsigned char *p = PyUnicode_1BYTE_DATA(text);
    if (memcmp(p, prefix, (size_t)skip) != 0) return 0;
    unsigned char bad = 0;
    for (Py_ssize_t i = skip; i < skip + digits; i++) bad |= HEX_DIGIT[p[i]] & 0x10;  /* no branch per digit */
    return !bad;
}

/* A field hash as the model reads it: 64 hex digits, after an optional "0x". */
static int field_hash_text(PyObject *text) { return hex_text(text, "", 64) || hex_text(text, "0x", 64); }

/* bytes.fromhex(text[skip:]) for a text hex_text accepted. */
static PyObject *hex_bytes(PyObject *text, Py_ssize_t skip)
{
    Py_ssize_t digits = PyUnicode_GET_LENGTH(text) - skip;
    const char *p = (const char *)PyUnicode_1BYTE_DATA(text) + skip;
    PyObject *out = PyBytes_FromStringAndSize(NULL, digits / 2);
    if (out == NULL) return NULL;
    unsigned char *b = (unsigned char *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < digits / 2; i++)
        b[i] = (unsigned char)(HEX_DIGIT[(unsigned char)p[2 * i]] << 4 | HEX_DIGIT[(unsigned char)p[2 * i + 1]]);
    return out;
}

/* An exact int (not a bool) of at least ``least``; a number beyond 64 bits is left to the model. */
static int int_at_least(PyObject *value, long long least)
{
    if (!PyLong_CheckExact(value)) return 0;
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return !overflow && n >= least;
}

/* An exact dict whose keys are all ASCII exact str. */
static int plain_dict(PyObject *mapping)
{
    if (!PyDict_CheckExact(mapping)) return 0;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        if (!ascii_str(key)) return 0;
    }
    return 1;
}

/* The member names read, as str objects made once (PyInit__hashcore). */
enum {
    K_CONTRACT, K_REGISTRY, K_SIGNER, K_ROOT, K_SCHEMA, K_TX_HASH, K_BLOCK_HASH, K_SIGNATURE, K_CHAIN_ID, K_COUNT,
    K_BLOCK_NUMBER, K_BLOCK_TIME, K_DEPARTMENT, K_PROOF, K_FORMAT, K_FIELDS, K_SALTS, K_HIDDEN, K_DIGEST, K_ANCHOR,
    K_COUNT_OF_KEYS
};
static const char *const KEY_NAMES[K_COUNT_OF_KEYS] = {
    "contract", "registry", "signer", "root", "schema", "tx_hash", "block_hash", "signature", "chain_id", "count",
    "block_number", "block_time", "department", "proof", "format", "fields", "salts", "hidden", "digest", "anchor",
};
static PyObject *KEYS[K_COUNT_OF_KEYS];

/* Whether ``key`` (an ASCII exact str: plain_dict) is one of KEY_NAMES[first..last]: by identity with the interned
   name first (a key Python interned), else by its length and bytes. */
static int known_key(PyObject *key, int first, int last)
{
    for (int i = first; i <= last; i++) {
        if (key == KEYS[i]) return 1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    const char *p = (const char *)PyUnicode_1BYTE_DATA(key);
    for (int i = first; i <= last; i++) {
        if (PyUnicode_GET_LENGTH(KEYS[i]) == n && memcmp(PyUnicode_1BYTE_DATA(KEYS[i]), p, (size_t)n) == 0) return 1;
    }
    return 0;
}

/* mapping[KEY_NAMES[which]], borrowed, or NULL when absent (no error set). Every key of mapping is an exact str
   (plain_dict), so the lookup runs no Python code. */
static PyObject *member(PyObject *mapping, int which)
{
    PyObject *value = PyDict_GetItemWithError(mapping, KEYS[which]);
    if (value == NULL) PyErr_Clear();
    return value;
}

/* The anchor section matches schemas.Anchor (extra members allowed, as there). With ``deferred`` the hex of the
   root, the signature and the proof's elements is not checked here: the caller (report) checks each as it reads it,
   and declines where this would have. */
static int anchor_shape(PyObject *anchor, int deferred)
{
    static const int addresses[] = {K_CONTRACT, K_REGISTRY, K_SIGNER};
    static const int hashes[] = {K_ROOT, K_SCHEMA, K_TX_HASH, K_BLOCK_HASH};
    static const int numbers[] = {K_CHAIN_ID, K_COUNT, K_BLOCK_NUMBER, K_BLOCK_TIME};
    static const long long least[] = {1, 1, 0, 0};
    if (!plain_dict(anchor)) return 0;
    for (size_t i = 0; i < sizeof addresses / sizeof *addresses; i++) {
        PyObject *value = member(anchor, addresses[i]);
        if (value == NULL || !hex_text(value, "0x", 40)) return 0;
    }
    for (size_t i = 0; i < sizeof hashes / sizeof *hashes; i++) {
        PyObject *value = member(anchor, hashes[i]);
        if (value == NULL || ((!deferred || hashes[i] != K_ROOT) && !hex_text(value, "0x", 64))) return 0;
    }
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        PyObject *value = member(anchor, numbers[i]);
        if (value == NULL || !int_at_least(value, least[i])) return 0;
    }
    PyObject *value = member(anchor, K_SIGNATURE);
    if (value == NULL || (!deferred && !hex_text(value, "0x", 130))) return 0;
    value = member(anchor, K_DEPARTMENT);  /* 1-32 characters, each printable ASCII (0x20-0x7e) */
    if (value == NULL || !ascii_str(value)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(value);
    const unsigned char *p = PyUnicode_1BYTE_DATA(value);
    if (n < 1 || n > 32) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) return 0;
    }
    value = member(anchor, K_PROOF);
    if (value == NULL || !PyList_CheckExact(value)) return 0;
    for (Py_ssize_t i = 0; !deferred && i < PyList_GET_SIZE(value); i++) {
        if (!hex_text(PyList_GET_ITEM(value, i), "0x", 64)) return 0;
    }
    return 1;
}

/* {name: bytes.fromhex(text[skip:])} of a dict whose values were checked: each key and value is held while the
   bytes are made (an allocation may run a collection, whose finalizers could edit the dict); NULL with no error
   set when the dict changed meanwhile (the caller declines). */
static PyObject *hex_values(PyObject *mapping, int field_hash, Py_ssize_t salt_digits)
{
    PyObject *out = PyDict_New();
    if (out == NULL) return NULL;
    Py_ssize_t pos = 0, size = PyDict_GET_SIZE(mapping);
    PyObject *key, *value;
    while (PyDict_Next(mapping, &pos, &key, &value)) {
        Py_INCREF(key);
        Py_INCREF(value);
        int ok = ascii_str(key) && (field_hash ? field_hash_text(value) : hex_text(value, "", salt_digits));
        PyObject *raw = ok ? hex_bytes(value, field_hash && PyUnicode_GET_LENGTH(value) == 66 ? 2 : 0) : NULL;
        int stored = raw != NULL ? PyDict_SetItem(out, key, raw) : -1;  /* not ok: -1 with no error set */
        Py_XDECREF(raw);
        Py_DECREF(key);
        Py_DECREF(value);
        if (stored < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    if (PyDict_GET_SIZE(mapping) != size || PyDict_GET_SIZE(out) != size) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* document_parts(doc, fmt, salt_digits) -> (fields, salts, hidden, anchor, stated_digest) | None

   CertificateDocument.from_json for a document that certainly has the published shape (schemas.py's
   CertificateDocumentModel, strict) and a salt for exactly each disclosed field, none of them also hidden: the
   parts it builds, salts and hidden hashes as bytes. None for anything else - a type that is not the exact JSON
   type, a key that is not ASCII, a number beyond 64 bits, any member out of shape - and from_json then runs the
   model, which accepts it or names the problem. So this never accepts what the model refuses; it may leave to the
   model what the model accepts. */
/* The checks of document_parts: 1 when ``doc`` certainly has the published shape, its members then in found[]
   (borrowed: fields, salts, hidden or NULL, anchor, digest or NULL); 0 otherwise (no error set). No Python code
   runs (every key compared is an exact str). With ``deferred`` (report, which reads them all next) the hex of the
   salts, the hidden hashes, the stated digest and the anchor's root, signature and proof is left to the caller,
   which checks each value as it reads it and declines where this would have: each is checked once, not twice. */
static int document_shape(PyObject *doc, PyObject *fmt, Py_ssize_t salt_digits, PyObject *found[5], int deferred)
{
    if (!plain_dict(doc)) return 0;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(doc, &pos, &key, &value)) {  /* no member the model does not know (extra="forbid") */
        if (!known_key(key, K_FORMAT, K_ANCHOR)) return 0;
    }
    PyObject *format = member(doc, K_FORMAT), *fields = member(doc, K_FIELDS), *salts = member(doc, K_SALTS);
    PyObject *hidden = member(doc, K_HIDDEN), *digest = member(doc, K_DIGEST), *anchor = member(doc, K_ANCHOR);
    if (format == NULL || !PyUnicode_CheckExact(format) || PyUnicode_Compare(format, fmt) != 0) {
        PyErr_Clear();
        return 0;
    }
    if (fields == NULL || salts == NULL || anchor == NULL || !plain_dict(fields) || !plain_dict(salts)
        || (hidden != NULL && !plain_dict(hidden))
        || (!deferred && digest != NULL && digest != Py_None && !field_hash_text(digest)) || !anchor_shape(anchor, deferred))
        return 0;
    /* from_json's own checks: a salt for exactly each disclosed field, no field both disclosed and hidden */
    if (PyDict_GET_SIZE(salts) != PyDict_GET_SIZE(fields)) return 0;
    pos = 0;
    while (PyDict_Next(salts, &pos, &key, &value)) {
        if ((!deferred && !hex_text(value, "", salt_digits)) || PyDict_Contains(fields, key) != 1) {
            PyErr_Clear();
            return 0;
        }
    }
    if (hidden != NULL) {
        pos = 0;
        while (PyDict_Next(hidden, &pos, &key, &value)) {
            if ((!deferred && !field_hash_text(value)) || PyDict_Contains(fields, key) != 0) {
                PyErr_Clear();
                return 0;
            }
        }
    }
    found[0] = fields;
    found[1] = salts;
    found[2] = hidden;
    found[3] = anchor;
    found[4] = digest;
    return 1;
}

static PyObject *document_parts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyUnicode_CheckExact(args[1]) || !PyLong_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError, "document_parts(doc, fmt, salt_digits)");
        return NULL;
    }
    Py_ssize_t salt_digits = PyLong_AsSsize_t(args[2]);
    if (salt_digits == -1 && PyErr_Occurred()) return NULL;
    PyObject *found[5];
    if (!document_shape(args[0], args[1], salt_digits, found, 0)) Py_RETURN_NONE;
    PyObject *fields = found[0], *salts = found[1], *hidden = found[2], *anchor = found[3], *digest = found[4];
    /* Every check passed and no Python code ran. What follows allocates: each object used is held first. */
    PyObject *parts[5] = {Py_NewRef(fields), NULL, NULL, Py_NewRef(anchor), NULL};
    PyObject *held_hidden = Py_XNewRef(hidden), *held_digest = Py_XNewRef(digest), *salts_held = Py_NewRef(salts);
    PyObject *result = NULL;
    parts[1] = hex_values(salts_held, 0, salt_digits);
    if (parts[1] == NULL) goto end;
    parts[2] = held_hidden != NULL ? hex_values(held_hidden, 1, 0) : PyDict_New();
    if (parts[2] == NULL) goto end;
    if (held_digest == NULL || held_digest == Py_None)
        parts[4] = Py_NewRef(Py_None);
    else
        parts[4] = hex_bytes(held_digest, PyUnicode_GET_LENGTH(held_digest) == 66 ? 2 : 0);
    if (parts[4] == NULL) goto end;
    result = PyTuple_Pack(5, parts[0], parts[1], parts[2], parts[3], parts[4]);
end:
    if (result == NULL && !PyErr_Occurred()) result = Py_NewRef(Py_None);  /* a dict changed under us: decline */
    for (int i = 0; i < 5; i++) Py_XDECREF(parts[i]);
    Py_XDECREF(held_hidden);
    Py_XDECREF(held_digest);
    Py_DECREF(salts_held);
    return result;
}

/* Vault.seal_certificates' per-certificate sealing (ledger/storage/vault.py, ``_seal_certificates_py`` is the
   reference): for item i of ``items`` (a list of (body, digest) pairs of exact bytes), with data key
   ``randomness[44 i : 44 i + 32]`` and nonce ``randomness[44 i + 32 : 44 (i + 1)]``,

       header || nonce || AES-256-GCM(kek, nonce, data key, aad = aad_prefix || digest)
              || AES-256-GCM(data key, 0^12, body, aad = digest)

   each AES-256-GCM output being ciphertext || 16-byte tag, as cryptography's AESGCM.encrypt writes it. One cipher
   context for the department's key (its key schedule set once, only the nonce per certificate) and one for the
   data keys, instead of an AESGCM object per certificate (about 2.3 us each). Returns the list, or None for
   anything but exact types and lengths (the Python code then seals, or raises); OpenSSL failing raises
   RuntimeError. Nothing is copied but into the output objects; the contexts are freed (and so cleansed) on
   every path. */
enum { GCM_NONCE = 12, GCM_TAG = 16, DATA_KEY = 32 };

static int gcm_seal(EVP_CIPHER_CTX *ctx, const unsigned char *key, const unsigned char *nonce,
                    const unsigned char *aad1, int aad1_len, const unsigned char *aad2, int aad2_len,
                    const unsigned char *plain, int plain_len, unsigned char *out)
{
    int n = 0;
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1) return 0;
    if (aad1_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad1, aad1_len) != 1) return 0;
    if (aad2_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad2, aad2_len) != 1) return 0;
    int written = 0;
    if (plain_len > 0) {
        if (EVP_EncryptUpdate(ctx, out, &n, plain, plain_len) != 1) return 0;
        written = n;
    }
    if (EVP_EncryptFinal_ex(ctx, out + written, &n) != 1) return 0;
    written += n;
    if (written != plain_len) return 0;
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, out + plain_len) == 1;
}

static PyObject *seal_bodies(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "seal_bodies(kek, header, aad_prefix, items, randomness)");
        return NULL;
    }
    PyObject *kek = args[0], *header = args[1], *prefix = args[2], *items = args[3], *randomness = args[4];
    if (!PyBytes_CheckExact(kek) || PyBytes_GET_SIZE(kek) != 32 || !PyBytes_CheckExact(header) ||
        !PyBytes_CheckExact(prefix) || PyBytes_GET_SIZE(prefix) > INT_MAX / 2 || !PyList_CheckExact(items) ||
        !PyBytes_CheckExact(randomness)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t count = PyList_GET_SIZE(items), step = DATA_KEY + GCM_NONCE;
    if (PyBytes_GET_SIZE(randomness) != step * count) Py_RETURN_NONE;
    /* The output list first: allocating it may run the cyclic collector, and with it a finalizer that changes
       ``items``. After it nothing here runs Python code (bytes objects are not tracked by the collector), so the
       items checked below are the items sealed. */
    PyObject *out = PyList_New(count);
    if (out == NULL) return NULL;
    if (PyList_GET_SIZE(items) != count) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    for (Py_ssize_t i = 0; i < count; i++) { /* every item checked before any work: None means nothing done */
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *body = NULL, *digest = NULL;
        if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
            body = PyTuple_GET_ITEM(item, 0);
            digest = PyTuple_GET_ITEM(item, 1);
        }
        if (body == NULL || !PyBytes_CheckExact(body) || !PyBytes_CheckExact(digest) ||
            PyBytes_GET_SIZE(body) > INT_MAX / 2 || PyBytes_GET_SIZE(digest) > INT_MAX / 2) {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
    }
    EVP_CIPHER_CTX *wrap = EVP_CIPHER_CTX_new(), *seal = EVP_CIPHER_CTX_new();
    int ok = wrap != NULL && seal != NULL &&
             EVP_EncryptInit_ex(wrap, EVP_aes_256_gcm(), NULL, (const unsigned char *)PyBytes_AS_STRING(kek), NULL) ==
                 1 &&
             EVP_EncryptInit_ex(seal, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1;
    static const unsigned char zero_nonce[GCM_NONCE] = {0};
    const unsigned char *random = (const unsigned char *)PyBytes_AS_STRING(randomness);
    const unsigned char *pre = (const unsigned char *)PyBytes_AS_STRING(prefix);
    Py_ssize_t header_len = PyBytes_GET_SIZE(header), pre_len = PyBytes_GET_SIZE(prefix);
    for (Py_ssize_t i = 0; ok && i < count; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *body = PyTuple_GET_ITEM(item, 0), *digest = PyTuple_GET_ITEM(item, 1);
        Py_ssize_t body_len = PyBytes_GET_SIZE(body), digest_len = PyBytes_GET_SIZE(digest);
        Py_ssize_t size = header_len + GCM_NONCE + DATA_KEY + GCM_TAG + body_len + GCM_TAG;
        PyObject *sealed = PyBytes_FromStringAndSize(NULL, size);
        if (sealed == NULL) {
            Py_DECREF(out);
            EVP_CIPHER_CTX_free(wrap);
            EVP_CIPHER_CTX_free(seal);
            return NULL;
        }
        PyList_SET_ITEM(out, i, sealed);
        unsigned char *p = (unsigned char *)PyBytes_AS_STRING(sealed);
        const unsigned char *data_key = random + i * step, *nonce = data_key + DATA_KEY;
        const unsigned char *dig = (const unsigned char *)PyBytes_AS_STRING(digest);
        memcpy(p, PyBytes_AS_STRING(header), (size_t)header_len);
        p += header_len;
        memcpy(p, nonce, GCM_NONCE);
        p += GCM_NONCE;
        ok = gcm_seal(wrap, NULL, nonce, pre, (int)pre_len, dig, (int)digest_len, data_key, DATA_KEY, p) &&
             gcm_seal(seal, data_key, zero_nonce, dig, (int)digest_len, NULL, 0,
                      (const unsigned char *)PyBytes_AS_STRING(body), (int)body_len, p + DATA_KEY + GCM_TAG);
    }
    EVP_CIPHER_CTX_free(wrap);
    EVP_CIPHER_CTX_free(seal);
    if (!ok) {
        Py_DECREF(out);
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL's AES-256-GCM failed; nothing was sealed");
        return NULL;
    }
    return out;
}

/* One level of flatten: the members of exact dict ``value`` under path ``name`` (NULL at the top). 1 done, 0 decline,
   -1 error. */
static PyObject *DOT = NULL;
#define FLATTEN_DEPTH 64
static int flatten_into(PyObject *fields, PyObject *name, PyObject *value, PyObject *escape, int depth)
{
    if (depth > FLATTEN_DEPTH) return 0;  /* the Python code answers (as deep as its recursion allows) */
    Py_ssize_t pos = 0;
    PyObject *key, *inner;
    while (PyDict_Next(value, &pos, &key, &inner)) {
        if (!PyUnicode_CheckExact(key)) return 0;
        int top = name == NULL;
        if (!(PyDict_CheckExact(inner) || inner == Py_None || PyUnicode_CheckExact(inner) || PyLong_CheckExact(inner)
              || PyBool_Check(inner) || PyList_CheckExact(inner) || PyFloat_CheckExact(inner)))
            return 0;  /* another Mapping or type: the Python code's isinstance decides */
        Py_INCREF(key);
        Py_INCREF(inner);
        PyObject *text = NULL, *path = NULL;
        int rc = -1;
        Py_ssize_t n = PyUnicode_GET_LENGTH(key);
        if (PyUnicode_FindChar(key, '~', 0, n, 1) >= 0 || PyUnicode_FindChar(key, '.', 0, n, 1) >= 0
            || PyUnicode_FindChar(key, '@', 0, n, 1) >= 0) {
            text = PyObject_CallOneArg(escape, key);
            if (text == NULL) goto next;
            if (!PyUnicode_CheckExact(text)) {
                rc = 0;
                goto next;
            }
        } else {
            text = Py_NewRef(key);
        }
        if (top) {
            path = Py_NewRef(text);
        } else {
            PyObject *dotted = PyUnicode_Concat(name, DOT);
            if (dotted == NULL) goto next;
            path = PyUnicode_Concat(dotted, text);
            Py_DECREF(dotted);
            if (path == NULL) goto next;
        }
        if (PyDict_CheckExact(inner) && PyDict_GET_SIZE(inner) > 0) {
            rc = flatten_into(fields, path, inner, escape, depth + 1);
        } else {
            rc = PyDict_SetItem(fields, path, inner) < 0 ? -1 : 1;
        }
    next:
        Py_XDECREF(text);
        Py_XDECREF(path);
        Py_DECREF(key);
        Py_DECREF(inner);
        if (rc != 1) return rc;
    }
    return 1;
}

/* flatten(value, escape) -> dict | None: decision_input._flatten_py (the reference) for the plain case - an exact
   dict whose keys at every level are exact str and whose values are exact dicts (descended into when not empty),
   None, exact str, int, bool, list or float. ``escape`` (decision_input._escape) is called for a key holding "~",
   "." or "@". None (the Python code answers) for any other key or value type, or a nesting deeper than
   FLATTEN_DEPTH. */
static PyObject *flatten(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "flatten(value, escape)");
        return NULL;
    }
    if (!PyDict_CheckExact(args[0])) Py_RETURN_NONE;
    if (DOT == NULL && (DOT = PyUnicode_InternFromString(".")) == NULL) return NULL;
    PyObject *value = Py_NewRef(args[0]);
    PyObject *fields = PyDict_New();
    PyObject *result = NULL;
    if (fields != NULL) {
        int rc = flatten_into(fields, NULL, value, args[1], 0);
        result = rc == 1 ? Py_NewRef(fields) : rc == 0 ? Py_NewRef(Py_None) : NULL;
    }
    Py_XDECREF(fields);
    Py_DECREF(value);
    return result;
}

/* -- replay's input commitments, one call per chunk (ledger/formats/decision_input.py: input_commitments) -------

   input_commitments(secret, items, salt_prefix, salt_bytes, field_prefix, prefix, fmt, skip, canonical)
       -> list[str | None]

   For each (input_digest, stored_input) of ``items``: decision_input.input_commitment_of(secret, stored_input,
   input_digest), the reference, in one pass and without the Python objects it builds on the way (the flattened
   fields, their salts and hashes): the input is walked as _flatten_py walks it (top-level member ``skip`` -
   "input_nonce" - left out), each field's name written into one buffer with its escapes ("~" "~0", "." "~1",
   "@" "~2"), its salt HMAC-SHA256(secret, salt_prefix || lower(input_digest) || "\0" || name)[:salt_bytes] derived
   and its hash SHA-256(field_prefix || salt || name || "\0" || canonical(value)) taken at once (hash_named_field),
   then the commitment "0x" + hex(SHA-256(prefix || JCS({"fields": {name: hex hash}, "format": fmt}))) written as
   tagged_digest writes it. The HMAC key's pads are absorbed once per call (a chunk: one department's secret).

   An entry is None (the caller runs the reference for it, which raises the error if there is one) for anything but
   the plain case: an item that is not a 2-tuple of an exact str digest of ASCII characters and an exact dict, an
   input with fields sealed apart (a top-level "input_sealed": the hashes it keeps are committed as they are), a key
   at any level that is not an exact str of printable ASCII characters (RFC 8785's member order is then byte order,
   as tagged_digest requires), a value of another type than exact dict, list, str, int, float, bool or None, a
   nesting deeper than FLATTEN_DEPTH, a value whose canonical form raised an Exception. An interrupt raised while a
   value is written (KeyboardInterrupt, SystemExit) is raised here, as the reference raises it. Nothing is copied
   into fixed buffers: the names grow in a heap buffer bounded by the input's own size. The secret's pads and
   every derived state are wiped before returning. tests/test_hashcore.py compares it with the reference on
   generated and hostile inputs. */

typedef struct {
    char *names;          /* the path being walked: the name of the field it leads to */
    Py_ssize_t size, cap;
    char *kept;           /* every field's name, one after another */
    Py_ssize_t kept_size, kept_cap;
    Py_ssize_t *offsets;  /* per field: where its name starts in ``kept``, its size, its hash */
    Py_ssize_t *sizes;
    unsigned char *hashes;
    Py_ssize_t count, room;
} Commit;

static int commit_grow(Commit *c, Py_ssize_t extra)
{
    if (c->size + extra > c->cap) {
        Py_ssize_t cap = c->cap ? c->cap : 1024;
        while (cap < c->size + extra) {
            if (cap > PY_SSIZE_T_MAX / 2) return -1;
            cap *= 2;
        }
        char *names = PyMem_Realloc(c->names, (size_t)cap);
        if (names == NULL) return -1;
        c->names = names;
        c->cap = cap;
    }
    return 0;
}

static int commit_add_field(Commit *c, Py_ssize_t start, Py_ssize_t size, const unsigned char hash[HASH_BYTES])
{
    if (c->kept_size + size > c->kept_cap) {
        Py_ssize_t cap = c->kept_cap ? c->kept_cap : 1024;
        while (cap < c->kept_size + size) {
            if (cap > PY_SSIZE_T_MAX / 2) return -1;
            cap *= 2;
        }
        char *kept = PyMem_Realloc(c->kept, (size_t)cap);
        if (kept == NULL) return -1;
        c->kept = kept;
        c->kept_cap = cap;
    }
    if (c->count == c->room) {
        Py_ssize_t room = c->room ? c->room * 2 : 64;
        if (room > PY_SSIZE_T_MAX / HASH_BYTES) return -1;
        Py_ssize_t *offsets = PyMem_Realloc(c->offsets, (size_t)room * sizeof(Py_ssize_t));
        if (offsets == NULL) return -1;
        c->offsets = offsets;
        Py_ssize_t *sizes = PyMem_Realloc(c->sizes, (size_t)room * sizeof(Py_ssize_t));
        if (sizes == NULL) return -1;
        c->sizes = sizes;
        unsigned char *hashes = PyMem_Realloc(c->hashes, (size_t)room * HASH_BYTES);
        if (hashes == NULL) return -1;
        c->hashes = hashes;
        c->room = room;
    }
    if (size > 0) memcpy(c->kept + c->kept_size, c->names + start, (size_t)size);  /* "" may be a name: no buffer yet */
    c->offsets[c->count] = c->kept_size;
    c->sizes[c->count] = size;
    c->kept_size += size;
    memcpy(c->hashes + c->count * HASH_BYTES, hash, HASH_BYTES);
    c->count++;
    return 0;
}

typedef struct {
    const SHA256_CTX *inner;  /* HMAC's inner hash, its pad and the input's salt message absorbed */
    const SHA256_CTX *outer;  /* HMAC's outer hash, its pad absorbed */
    Py_ssize_t salt_bytes;
    PyObject *field_prefix, *canonical, *skip;
} CommitCtx;

/* One member's field (or the fields under it): DONE, FALLBACK (not the plain case), FAILED (error set). The name
   written so far is c->names[start : c->size]. */
static int commit_walk(Commit *c, const CommitCtx *k, PyObject *mapping, Py_ssize_t start, int depth)
{
    if (depth > FLATTEN_DEPTH) return FALLBACK;  /* the reference answers (as deep as its recursion allows) */
    Py_ssize_t pos = 0, base = c->size;
    PyObject *key, *inner;
    while (PyDict_Next(mapping, &pos, &key, &inner)) {
        if (!plain_name(key)) return FALLBACK;
        if (depth == 0 && PyUnicode_Compare(key, k->skip) == 0) continue;  /* both exact str: cannot fail */
        /* fields sealed apart (decision_input.SEALED_KEY): their kept hashes are the reference's to take */
        if (depth == 0 && PyUnicode_CompareWithASCIIString(key, "input_sealed") == 0) return FALLBACK;
        if (!(PyDict_CheckExact(inner) || inner == Py_None || PyUnicode_CheckExact(inner) || PyLong_CheckExact(inner)
              || PyBool_Check(inner) || PyList_CheckExact(inner) || PyFloat_CheckExact(inner)))
            return FALLBACK;  /* another Mapping or type: the reference's isinstance decides */
        Py_ssize_t n = PyUnicode_GET_LENGTH(key);
        const char *text = (const char *)PyUnicode_1BYTE_DATA(key);  /* ASCII (plain_name) */
        c->size = base;
        if (commit_grow(c, 2 * n + 1) < 0) {
            PyErr_NoMemory();
            return FAILED;
        }
        if (depth > 0) c->names[c->size++] = '.';
        for (Py_ssize_t i = 0; i < n; i++) {
            char ch = text[i];
            if (ch == '~' || ch == '.' || ch == '@') {
                c->names[c->size++] = '~';
                c->names[c->size++] = ch == '~' ? '0' : ch == '.' ? '1' : '2';
            } else {
                c->names[c->size++] = ch;
            }
        }
        int rc;
        Py_INCREF(key);
        Py_INCREF(inner);
        if (PyDict_CheckExact(inner) && PyDict_GET_SIZE(inner) > 0) {
            rc = commit_walk(c, k, inner, start, depth + 1);
        } else {
            unsigned char ih[HASH_BYTES], salt[HASH_BYTES], out[HASH_BYTES];
            SHA256_CTX ctx = *k->inner;
            SHA256_Update(&ctx, c->names + start, (size_t)(c->size - start));
            SHA256_Final(ih, &ctx);
            ctx = *k->outer;
            SHA256_Update(&ctx, ih, HASH_BYTES);
            SHA256_Final(salt, &ctx);
            OPENSSL_cleanse(&ctx, sizeof ctx);
            Py_ssize_t name_start = start, name_size = c->size - start;
            rc = hash_named_field(c->names + start, name_size, inner, (const char *)salt, k->salt_bytes,
                                  k->field_prefix, k->canonical, out);
            OPENSSL_cleanse(ih, sizeof ih);
            OPENSSL_cleanse(salt, sizeof salt);
            if (rc == DONE && commit_add_field(c, name_start, name_size, out) < 0) {
                PyErr_NoMemory();
                rc = FAILED;
            }
        }
        Py_DECREF(key);
        Py_DECREF(inner);
        if (rc != DONE) return rc;
    }
    c->size = base;
    return DONE;
}

static PyObject *input_commitments(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError, "input_commitments(secret, items, salt_prefix, salt_bytes, field_prefix, "
                                         "prefix, fmt, skip, canonical)");
        return NULL;
    }
    PyObject *secret = args[0], *items = args[1], *salt_prefix = args[2], *field_prefix = args[4],
             *prefix = args[5], *skip = args[7], *canonical = args[8];
    Py_ssize_t salt_bytes = PyLong_AsSsize_t(args[3]);
    if (salt_bytes == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t fmt_size;
    const char *fmt = plain_format(args[6], &fmt_size);
    if (!PyBytes_CheckExact(secret) || !PyList_CheckExact(items) || !PyBytes_CheckExact(salt_prefix)
        || !PyBytes_CheckExact(field_prefix) || !PyBytes_CheckExact(prefix) || !PyUnicode_CheckExact(skip)
        || fmt == NULL || salt_bytes < 1 || salt_bytes > HASH_BYTES)
        Py_RETURN_NONE;
    Py_ssize_t total = PyList_GET_SIZE(items);
    PyObject *result = PyList_New(total);
    if (result == NULL) return NULL;
    for (Py_ssize_t i = 0; i < total; i++) PyList_SET_ITEM(result, i, Py_NewRef(Py_None));
    /* RFC 2104 with SHA-256 (block 64): a key longer than a block is hashed first, then zero-padded */
    unsigned char key[64], pad[64], digest[HASH_BYTES];
    memset(key, 0, sizeof key);
    if (PyBytes_GET_SIZE(secret) > 64) {
        SHA256((const unsigned char *)PyBytes_AS_STRING(secret), (size_t)PyBytes_GET_SIZE(secret), key);
    } else {
        memcpy(key, PyBytes_AS_STRING(secret), (size_t)PyBytes_GET_SIZE(secret));
    }
    SHA256_CTX keyed, outer, inner;
    for (int j = 0; j < 64; j++) pad[j] = key[j] ^ 0x36;
    SHA256_Init(&keyed);
    SHA256_Update(&keyed, pad, 64);
    for (int j = 0; j < 64; j++) pad[j] = key[j] ^ 0x5c;
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad, 64);
    Commit c = {0};
    Member *members = NULL;
    Py_ssize_t members_room = 0;
    CommitCtx k = {&inner, &outer, salt_bytes, field_prefix, canonical, skip};
    int failed = 0;
    for (Py_ssize_t i = 0; i < total && !failed; i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) continue;
        Py_INCREF(item);  /* canonical may run Python code: keep the item (its digest and input) alive */
        PyObject *input_digest = PyTuple_GET_ITEM(item, 0), *value = PyTuple_GET_ITEM(item, 1);
        if (!PyUnicode_CheckExact(input_digest) || !PyDict_CheckExact(value)
#if PY_VERSION_HEX < 0x030C0000
            || PyUnicode_READY(input_digest) == -1
#endif
            || !PyUnicode_IS_ASCII(input_digest)) {
            PyErr_Clear();
            Py_DECREF(item);
            continue;
        }
        /* the salt message: salt_prefix || input_digest.lower() (ASCII) || "\0" */
        const char *d = (const char *)PyUnicode_1BYTE_DATA(input_digest);
        Py_ssize_t dn = PyUnicode_GET_LENGTH(input_digest);
        inner = keyed;
        SHA256_Update(&inner, PyBytes_AS_STRING(salt_prefix), (size_t)PyBytes_GET_SIZE(salt_prefix));
        for (Py_ssize_t done = 0; done < dn;) {
            char lower[64];
            Py_ssize_t chunk = dn - done < 64 ? dn - done : 64;
            for (Py_ssize_t j = 0; j < chunk; j++) {
                char ch = d[done + j];
                lower[j] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
            }
            SHA256_Update(&inner, lower, (size_t)chunk);
            done += chunk;
        }
        SHA256_Update(&inner, "", 1);
        c.size = 0;
        c.kept_size = 0;
        c.count = 0;
        int rc = commit_walk(&c, &k, value, 0, 0);
        Py_DECREF(item);
        if (rc == FAILED) {
            failed = 1;
            break;
        }
        if (rc != DONE) {
            if (PyErr_Occurred()) {  /* canonical's Exception: the reference raises it */
                if (!PyErr_ExceptionMatches(PyExc_Exception)) {
                    failed = 1;
                    break;
                }
                PyErr_Clear();
            }
            continue;
        }
        if (c.count > members_room || members == NULL) {  /* never NULL for qsort, even with no field */
            Member *grown = PyMem_Realloc(members, (size_t)(c.count ? c.count : 1) * sizeof(Member));
            if (grown == NULL) {
                PyErr_NoMemory();
                failed = 1;
                break;
            }
            members = grown;
            members_room = c.count ? c.count : 1;
        }
        for (Py_ssize_t j = 0; j < c.count; j++) {
            members[j].name = c.kept + c.offsets[j];
            members[j].name_size = c.sizes[j];
            members[j].hash = c.hashes + j * HASH_BYTES;
            members[j].hash_size = HASH_BYTES;
        }
        tagged_digest(members, c.count, fmt, fmt_size, PyBytes_AS_STRING(prefix), PyBytes_GET_SIZE(prefix), digest);
        static const char digits[] = "0123456789abcdef";
        char text[2 + 2 * HASH_BYTES];
        text[0] = '0';
        text[1] = 'x';
        for (int j = 0; j < HASH_BYTES; j++) {
            text[2 + 2 * j] = digits[digest[j] >> 4];
            text[3 + 2 * j] = digits[digest[j] & 15];
        }
        PyObject *answer = PyUnicode_FromStringAndSize(text, sizeof text);
        if (answer == NULL) {
            failed = 1;
            break;
        }
        PyObject *none = PyList_GET_ITEM(result, i);
        PyList_SET_ITEM(result, i, answer);  /* the list owns it; the None it replaces is released */
        Py_DECREF(none);
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(&keyed, sizeof keyed);
    OPENSSL_cleanse(&inner, sizeof inner);
    OPENSSL_cleanse(&outer, sizeof outer);
    if (c.hashes != NULL) OPENSSL_cleanse(c.hashes, (size_t)c.room * HASH_BYTES);
    PyMem_Free(c.names);
    PyMem_Free(c.kept);
    PyMem_Free(c.offsets);
    PyMem_Free(c.sizes);
    PyMem_Free(c.hashes);
    PyMem_Free(members);
    if (failed) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* json_fast(text, limit) -> bool: whether canonical.json_loads may hand ``text`` straight to orjson, which then
   answers what canonical._json_loads_py answers for it (False: the Python path decides). True only for an exact str
   of ASCII characters or exact bytes holding at most ``limit`` opening brackets ('[', '{'; none follows a
   backslash: where one does the text is no JSON and orjson refuses it) - then it nests no deeper, and
   check_json_depth passes it - and outside strings no number of 16 or more digits and points before its exponent,
   nor an exponent of 3 or more digits: an integer orjson and json may read differently (past 64 bits), or a number
   whose text may not be the double it reads as (canonical.may_respell: more than 15 significant digits, or an
   exponent past the range where a double carries 15 digits exactly). A run inside a string is read the same by
   both; a string is what lies between two quotes not escaped by a backslash, which for any text orjson accepts
   (RFC 8259) is exactly its strings. Reads the object's own bytes, nothing is copied. */
static PyObject *json_fast(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "json_fast(text, limit)");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[1]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    PyObject *text = args[0];
    const unsigned char *data;
    Py_ssize_t size;
    if (PyUnicode_CheckExact(text)) {
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(text) == -1) {
            PyErr_Clear();
            Py_RETURN_FALSE;
        }
#endif
        if (!PyUnicode_IS_ASCII(text)) Py_RETURN_FALSE; /* its UTF-8 form would be a copy: the Python path */
        data = (const unsigned char *)PyUnicode_DATA(text);
        size = PyUnicode_GET_LENGTH(text);
    } else if (PyBytes_CheckExact(text)) {
        data = (const unsigned char *)PyBytes_AS_STRING(text);
        size = PyBytes_GET_SIZE(text);
    } else {
        Py_RETURN_FALSE;
    }
    Py_ssize_t openings = 0, run = 0, exponent = -1; /* digits and points of a number; its exponent's digits */
    int quoted = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = data[i];
        if (c == '[' || c == '{') {
            if (++openings > limit) Py_RETURN_FALSE;
            run = 0;
            exponent = -1;
        } else if (quoted) {
            if (c == '\\') {
                i++; /* the escaped byte: a quote, a backslash, a letter (a '[' or '{' here is no JSON) */
            } else if (c == '"') {
                quoted = 0;
            }
        } else if ((c >= '0' && c <= '9') || c == '.') {
            if (exponent >= 0) {
                if (++exponent >= 3) Py_RETURN_FALSE;
            } else if (++run >= 16) {
                Py_RETURN_FALSE;
            }
        } else if ((c == 'e' || c == 'E') && run > 0) {
            exponent = 0;
        } else if (c != '+' && c != '-') { /* a sign (of a number or its exponent) keeps the counts */
            run = 0;
            exponent = -1;
            if (c == '"') quoted = 1;
        }
    }
    Py_RETURN_TRUE;
}

/* -- public verification's warm path in one call (api/services.py: ``fast_public_bytes``) ----------------------

   public_report(doc, view, head, ctx) -> bytes | None

   The body ``POST /public/verify`` answers for certificate file ``doc`` verified from memory against ``head``: the
   bytes of ``services.json_bytes(services.fast_public_report(view, doc))``, or None ("not handled": the Python
   path, which stays the reference, answers). It reads the document as document_parts does, hashes its fields and
   digest as field_hashes and tagged_digest do, walks its proof as root_from_proof does, and takes everything else
   from what the view (ledger/services/verify.py: ChainView) already holds in memory, as the Python path does on a
   warm view: the batch's anchor and its signer's registry answer (warm_head), the batch's checks kept for this head
   (keep_batch_checks), the type grant (was_authorized_for_type), the status index and the supersession notes of
   the last sync (status, replaces), the genesis read within GENESIS_RECHECK. Nothing is kept here: each value is
   read from the view at the call, as the Python path reads it. Validity is judged by the view's own
   validity_window(...).at(now()) (Python code, called last, when nothing borrowed is in use any more).

   It answers only the usual cases: a document of the exact published shape, every check passing but possibly
   the status (valid, suspended, revoked, superseded, with a known reason; replacing others or not) and the
   validity dates. Anything else - a check that fails, a value of another type, text that is not plain (a control
   character, a lone surrogate), a fact not in memory, no witness configured or one that is - is None. Nothing
   recurses over the input; every length is the object's own. ``ctx`` (services._native_context) is a tuple of
   the view's constants: see CTX_* below. tests/test_public_verify_native.py compares the bytes with the Python
   path's on valid, changed-status and hostile documents. */

enum { SALT_MOST = 64 };  /* bytes of a salt read here at most (the format's are 16) */

enum {
    CTX_FORMAT, CTX_SALT_DIGITS, CTX_FIELD_PREFIX, CTX_SALT_BYTES, CTX_CANONICAL, CTX_CERT_PREFIX, CTX_CHAIN_ID,
    CTX_CONTRACT, CTX_REGISTRY, CTX_CHAIN_CHECK, CTX_GENESIS, CTX_ALWAYS, CTX_REQUIRED, CTX_REASONS, CTX_NOW,
    CTX_STATUS_NAMES, CTX_NOW_US, CTX_WINDOW_TYPE, CTX_SMALL_FIELDS, CTX_GENESIS_RECHECK, CTX_CERT_TAG,
    CTX_COUNT
};

enum {
    A_BATCH_CHECKS, A_TYPE_GRANTS, A_INDEX, A_REPLACED, A_BATCHES, A_SIGNERS, A_GENESIS, A_WITNESS, A_CONFIRMATIONS,
    A_VALIDITY_WINDOW, A_AT, A_SIGNER, A_BLOCK_NUMBER, A_DEPARTMENT, A_NAME, A_OK, A_SKIPPED, A_DETAIL, A_TYPE,
    A_ISSUER, A_VALID_FROM, A_VALID_UNTIL, A_WINDOWS, A_ERROR, A_START_US, A_END_US, A_VERDICTS,
    A_MAX_HEAD_AGE, A_HEAD_READ_AT, A_HEAD, A_INDEXED, A_SYNCED, A_ENDED, A_HELD, A_TYPE_HASHES, A_SCHEMA, A_COUNT
};
static const char *const ATTR_NAMES[A_COUNT] = {
    "_batch_checks", "_type_grants", "_index", "_replaced", "_batches", "_signers", "_genesis", "witness",
    "confirmations", "validity_window", "at", "signer", "block_number", "department", "name", "ok", "skipped",
    "detail", "type", "issuer", "valid_from", "valid_until", "_windows", "_error", "_start_us", "_end_us",
    "_verdicts", "max_head_age", "_head_read_at", "_head", "_indexed", "_synced", "_ended", "_held", "_type_hashes",
    "schema",
};
static PyObject *ATTRS[A_COUNT];

/* The report being written: first into the caller's buffer (on its stack: a report is under 2 KB), then, past it,
   into memory that grows by doubling (``owned``: freed by out_free); ``failed`` once an allocation failed (the call
   then declines). */
typedef struct {
    char *p;
    Py_ssize_t n, cap;
    int failed, owned;
} Out;

static void out_free(Out *o)
{
    if (o->owned) PyMem_Free(o->p);
    o->p = NULL;
    o->owned = 0;
}

static void out_put(Out *o, const char *s, Py_ssize_t k)
{
    if (o->failed || k <= 0) return;
    if (o->n > PY_SSIZE_T_MAX / 2 - k) {
        o->failed = 1;
        return;
    }
    if (o->n + k > o->cap) {
        Py_ssize_t cap = o->cap ? o->cap : 2048;
        while (cap < o->n + k) cap *= 2;
        char *p = o->owned ? PyMem_Realloc(o->p, (size_t)cap) : PyMem_Malloc((size_t)cap);
        if (p == NULL) {
            o->failed = 1;
            return;
        }
        if (!o->owned && o->n > 0) memcpy(p, o->p, (size_t)o->n);
        o->p = p;
        o->cap = cap;
        o->owned = 1;
    }
    memcpy(o->p + o->n, s, (size_t)k);
    o->n += k;
}

#define OUT_LIT(o, s) out_put((o), (s), (Py_ssize_t)(sizeof(s) - 1))

static void out_int(Out *o, long long v)
{
    char digits[32];
    int k = snprintf(digits, sizeof digits, "%lld", v);
    out_put(o, digits, k);
}

static void out_hex(Out *o, const unsigned char *b, Py_ssize_t k)  /* "0x" + lower-case hex, as hex32 writes */
{
    static const char digits[] = "0123456789abcdef";
    char chunk[2 + 2 * HASH_BYTES];
    OUT_LIT(o, "0x");
    for (Py_ssize_t done = 0; done < k;) {
        Py_ssize_t part = k - done > HASH_BYTES ? HASH_BYTES : k - done;
        for (Py_ssize_t i = 0; i < part; i++) {
            chunk[2 * i] = digits[b[done + i] >> 4];
            chunk[2 * i + 1] = digits[b[done + i] & 15];
        }
        out_put(o, chunk, 2 * part);
        done += part;
    }
}

/* ``text`` (an exact str) inside a JSON string as orjson writes it: UTF-8, '"' and '\\' escaped. 0 (decline) for
   anything else: not an exact str, a control character (orjson's escapes are not written here), or text UTF-8
   cannot carry (a lone surrogate: json_bytes then falls back to the standard library's ASCII escapes). */
static int out_text(Out *o, PyObject *text)
{
    if (!PyUnicode_CheckExact(text)) return 0;
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t start = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)utf8[i];
        if (c < 0x20) return 0;
        if (c == '"' || c == '\\') {
            out_put(o, utf8 + start, i - start);
            out_put(o, c == '"' ? "\\\"" : "\\\\", 2);
            start = i + 1;
        }
    }
    out_put(o, utf8 + start, size - start);
    return 1;
}

/* The start of a check's object, up to the opening quote of its detail. */
static void out_check(Out *o, const char *name, int ok)
{
    if (o->n > 1) OUT_LIT(o, ",");
    OUT_LIT(o, "{\"name\":\"");
    out_put(o, name, (Py_ssize_t)strlen(name));
    if (ok)
        OUT_LIT(o, "\",\"ok\":true,\"skipped\":false,\"detail\":\"");
    else
        OUT_LIT(o, "\",\"ok\":false,\"skipped\":false,\"detail\":\"");
}

/* A Check object (verify.Check: name, ok, skipped, detail) as public_fields lists it; -1 decline, else its ok. */
static int out_check_object(Out *o, PyObject *check)
{
    PyObject *name = PyObject_GetAttr(check, ATTRS[A_NAME]), *ok = PyObject_GetAttr(check, ATTRS[A_OK]);
    PyObject *skipped = PyObject_GetAttr(check, ATTRS[A_SKIPPED]), *detail = PyObject_GetAttr(check, ATTRS[A_DETAIL]);
    int verdict = -1;
    if (name == NULL || ok == NULL || skipped == NULL || detail == NULL) {
        PyErr_Clear();
        goto end;
    }
    if (!PyBool_Check(ok) || !PyBool_Check(skipped) || !PyUnicode_CheckExact(detail)) goto end;
    if (o->n > 1) OUT_LIT(o, ",");
    OUT_LIT(o, "{\"name\":\"");
    if (!out_text(o, name)) goto end;
    OUT_LIT(o, "\",\"ok\":");
    if (ok == Py_True)
        OUT_LIT(o, "true");
    else
        OUT_LIT(o, "false");
    if (skipped == Py_True)
        OUT_LIT(o, ",\"skipped\":true,\"detail\":\"");
    else
        OUT_LIT(o, ",\"skipped\":false,\"detail\":\"");
    if (!out_text(o, detail)) goto end;
    OUT_LIT(o, "\"}");
    verdict = ok == Py_True;
end:
    Py_XDECREF(name);
    Py_XDECREF(ok);
    Py_XDECREF(skipped);
    Py_XDECREF(detail);
    return verdict;
}

/* An exact str of printable ASCII (0x20-0x7e), 1 to ``most`` characters: verify._is_department for most = 32. */
static int printable_ascii(PyObject *text, Py_ssize_t most)
{
    if (!ascii_str(text)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const unsigned char *p = PyUnicode_1BYTE_DATA(text);
    if (n < 1 || n > most) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] > 0x7e) return 0;
    }
    return 1;
}

/* a.lower() == b.lower() for two exact ASCII str (str.lower is ASCII's there); 0 for anything else. */
static int same_ignoring_case(PyObject *a, PyObject *b)
{
    if (!ascii_str(a) || !ascii_str(b) || PyUnicode_GET_LENGTH(a) != PyUnicode_GET_LENGTH(b)) return 0;
    const unsigned char *x = PyUnicode_1BYTE_DATA(a), *y = PyUnicode_1BYTE_DATA(b);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(a); i++) {
        unsigned char c = x[i] >= 'A' && x[i] <= 'Z' ? x[i] + 32 : x[i], d = y[i] >= 'A' && y[i] <= 'Z' ? y[i] + 32 : y[i];
        if (c != d) return 0;
    }
    return 1;
}

/* verify._CERTIFICATE_TYPE: ^[a-z0-9][a-z0-9-]{0,63}\Z */
static int certificate_type(PyObject *text)
{
    if (!ascii_str(text)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const unsigned char *p = PyUnicode_1BYTE_DATA(text);
    if (n < 1 || n > 64) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int alnum = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9');
        if (!alnum && (i == 0 || p[i] != '-')) return 0;
    }
    return 1;
}

/* An exact int within 64 bits, into *v; 0 otherwise. */
static int small_int(PyObject *value, long long *v)
{
    if (!PyLong_CheckExact(value)) return 0;
    int overflow = 0;
    *v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (*v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return !overflow;
}

/* The view's attribute ``which`` (a new reference), or NULL with no error set. */
static PyObject *view_attr(PyObject *view, int which)
{
    PyObject *value = PyObject_GetAttr(view, ATTRS[which]);
    if (value == NULL) PyErr_Clear();
    return value;
}

/* dict.get(key) of an exact dict, borrowed, or NULL with no error set (keys here are tuples of bytes, str and int:
   their hashing and comparison run no Python code). */
static PyObject *dict_get(PyObject *mapping, PyObject *key)
{
    if (mapping == NULL || !PyDict_CheckExact(mapping)) return NULL;
    PyObject *value = PyDict_GetItemWithError(mapping, key);
    if (value == NULL) PyErr_Clear();
    return value;
}

/* Merkle root_from_proof over a list of "0x" + 64 hex digits, into out; 0 when an element is not one (the one
   check of each element's text, as it is read: document_shape leaves it to this walk). */
static int walk_proof(const unsigned char *digest, PyObject *elements, unsigned char out[HASH_BYTES])
{
    static const unsigned char leaf = 0x00, inner = 0x01;
    unsigned char sibling[HASH_BYTES];
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, &leaf, 1);
    SHA256_Update(&ctx, digest, HASH_BYTES);
    SHA256_Final(out, &ctx);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(elements); i++) {
        PyObject *element = PyList_GET_ITEM(elements, i);
        if (!hex_text(element, "0x", 64)) return 0;
        const unsigned char *p = PyUnicode_1BYTE_DATA(element) + 2;
        for (int k = 0; k < HASH_BYTES; k++) sibling[k] = (unsigned char)(HEX_DIGIT[p[2 * k]] << 4 | HEX_DIGIT[p[2 * k + 1]]);
        int first = memcmp(out, sibling, HASH_BYTES) <= 0;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, &inner, 1);
        SHA256_Update(&ctx, first ? out : sibling, HASH_BYTES);
        SHA256_Update(&ctx, first ? sibling : out, HASH_BYTES);
        SHA256_Final(out, &ctx);
    }
    return 1;
}

/* The system clock as datetime.now reads it (CLOCK_REALTIME), in whole microseconds since 1970, floored. */
static int clock_now_us(long long *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    *out = (long long)ts.tv_sec * 1000000LL + (long long)(ts.tv_nsec / 1000);
    return 1;
}

static PyObject *py_clock_us(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    long long now;
    if (nargs != 0 || !clock_now_us(&now)) {
        PyErr_SetString(PyExc_OSError, "clock_us() takes no arguments; the clock could not be read");
        return NULL;
    }
    return PyLong_FromLongLong(now);
}

/* An attribute of an exact ValidityWindow (its __slots__: member descriptors, no Python code), new reference or
   NULL with no error set. */
static PyObject *slot(PyObject *window, int which)
{
    PyObject *value = PyObject_GetAttr(window, ATTRS[which]);
    if (value == NULL) PyErr_Clear();
    return value;
}

/* ValidityWindow.at(now) for the window ``window``, an exact ``window_type`` the view keeps, at microsecond
   ``now`` (its instants as microseconds: _start_us, _end_us; instant_us of _start_t and _end_t): the verdict it
   already wrote for that branch (a new reference), or NULL with no error set when it is not one to judge here (not
   an exact window, malformed, a slot of another type, the verdict not written yet): the view's code then judges. */
static PyObject *window_verdict(PyObject *window, PyObject *window_type, long long now)
{
    if (!PyType_Check(window_type) || !Py_IS_TYPE(window, (PyTypeObject *)window_type)) return NULL;
    PyObject *error = slot(window, A_ERROR), *start = slot(window, A_START_US), *end = slot(window, A_END_US);
    PyObject *verdicts = slot(window, A_VERDICTS), *verdict = NULL;
    long long start_us = 0, end_us = 0;
    if (error != Py_None || start == NULL || end == NULL || verdicts == NULL || !PyList_CheckExact(verdicts)
        || PyList_GET_SIZE(verdicts) != 3 || (start != Py_None && !small_int(start, &start_us))
        || (end != Py_None && !small_int(end, &end_us)))
        goto done;
    /* at(): `if self._start_t and now < self._start_t` (a datetime is always true), then the end */
    int branch = start != Py_None && now < start_us ? 1 : end != Py_None && now > end_us ? 2 : 0;
    PyObject *found = PyList_GET_ITEM(verdicts, branch);
    if (PyTuple_CheckExact(found) && PyTuple_GET_SIZE(found) == 2 && PyBool_Check(PyTuple_GET_ITEM(found, 0))
        && PyUnicode_CheckExact(PyTuple_GET_ITEM(found, 1)))
        verdict = Py_NewRef(found);
done:
    Py_XDECREF(error);
    Py_XDECREF(start);
    Py_XDECREF(end);
    Py_XDECREF(verdicts);
    return verdict;
}

static PyObject *report(PyObject *doc, PyObject *view, PyObject *head_obj, PyObject *ctx);

static PyObject *public_report(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyLong_CheckExact(args[2]) || !PyTuple_CheckExact(args[3]) || PyTuple_GET_SIZE(args[3]) != CTX_COUNT) {
        PyErr_SetString(PyExc_TypeError, "public_report(doc, view, head, ctx)");
        return NULL;
    }
    return report(args[0], args[1], args[2], args[3]);
}

/* time.monotonic() as CPython computes it (CLOCK_MONOTONIC in nanoseconds, then _PyTime_AsSecondsDouble); 0 when
   the clock cannot be read. */
static int monotonic_seconds(double *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
    long long t = (long long)ts.tv_sec * 1000000000LL + (long long)ts.tv_nsec;
    volatile double d;
    if (t % 1000000000LL == 0) {
        d = (double)(t / 1000000000LL);
    } else {
        d = (double)t;
        d /= 1e9;
    }
    *out = d;
    return 1;
}

/* An exact float, or an exact int within 2**53 (compared with a float exactly as Python compares them), as a
   double; 0 otherwise. */
static int plain_number(PyObject *value, double *out)
{
    long long v;
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 1;
    }
    if (small_int(value, &v) && v > -(1LL << 53) && v < (1LL << 53)) {
        *out = (double)v;
        return 1;
    }
    return 0;
}

/* ChainView.warm() read natively (ledger/services/verify.py): the head (a new reference) when it was read within
   max_head_age, the status index is synced to it and the genesis was read within GENESIS_RECHECK; NULL (no error
   set) when it is not warm or any attribute is not of the type that code writes. The same reads, in the same
   order, with the same clock (time.monotonic()'s value, read twice as that code reads it). */
static PyObject *warm_head(PyObject *view, PyObject *recheck_obj)
{
    PyObject *max_age_obj = view_attr(view, A_MAX_HEAD_AGE), *read_at_obj = view_attr(view, A_HEAD_READ_AT);
    PyObject *head = NULL, *indexed = NULL, *synced = NULL, *genesis = NULL, *warm = NULL;
    double max_age, read_at, now, recheck, genesis_at;
    long long head_v, synced_v;
    if (max_age_obj == NULL || read_at_obj == NULL || !plain_number(max_age_obj, &max_age)
        || !PyFloat_CheckExact(read_at_obj) || !plain_number(recheck_obj, &recheck))
        goto done;
    read_at = PyFloat_AS_DOUBLE(read_at_obj);
    if (max_age <= 0 || !monotonic_seconds(&now) || now - read_at > max_age) goto done;
    head = view_attr(view, A_HEAD);
    indexed = view_attr(view, A_INDEXED);
    synced = view_attr(view, A_SYNCED);
    genesis = view_attr(view, A_GENESIS);
    if (head == NULL || indexed == NULL || synced == NULL || genesis == NULL || !small_int(head, &head_v)
        || !PyBool_Check(indexed) || !small_int(synced, &synced_v) || !PyTuple_CheckExact(genesis)
        || PyTuple_GET_SIZE(genesis) != 2 || !PyFloat_CheckExact(PyTuple_GET_ITEM(genesis, 1)))
        goto done;
    genesis_at = PyFloat_AS_DOUBLE(PyTuple_GET_ITEM(genesis, 1));
    if (indexed != Py_True || head_v > synced_v || !monotonic_seconds(&now) || now - genesis_at > recheck) goto done;
    warm = Py_NewRef(head);
done:
    Py_XDECREF(max_age_obj);
    Py_XDECREF(read_at_obj);
    Py_XDECREF(head);
    Py_XDECREF(indexed);
    Py_XDECREF(synced);
    Py_XDECREF(genesis);
    return warm;
}

/* public_answer(doc, view, ctx) -> bytes | None: services.fast_public_bytes in one call - None when a witness is
   configured, the document is not small (more than CTX_SMALL_FIELDS fields and hidden hashes: the route verifies
   it in a worker thread), or the view is not warm (warm_head); else public_report(doc, view, head, ctx). */
static PyObject *public_answer(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[2]) || PyTuple_GET_SIZE(args[2]) != CTX_COUNT) {
        PyErr_SetString(PyExc_TypeError, "public_answer(doc, view, ctx)");
        return NULL;
    }
    PyObject *doc = args[0], *view = args[1], *ctx = args[2];
    PyObject *witness = view_attr(view, A_WITNESS);
    int witnessed = witness != Py_None;
    Py_XDECREF(witness);
    if (witnessed || !plain_dict(doc)) Py_RETURN_NONE;  /* every key an exact str: member() runs no Python code */
    PyObject *fields = member(doc, K_FIELDS), *hidden = member(doc, K_HIDDEN);
    PyErr_Clear();
    long long most;
    if (fields == NULL || !PyDict_CheckExact(fields) || (hidden != NULL && !PyDict_CheckExact(hidden))
        || !small_int(PyTuple_GET_ITEM(ctx, CTX_SMALL_FIELDS), &most)
        || PyDict_GET_SIZE(fields) + (hidden != NULL ? PyDict_GET_SIZE(hidden) : 0) > most)
        Py_RETURN_NONE;
    PyObject *head = warm_head(view, PyTuple_GET_ITEM(ctx, CTX_GENESIS_RECHECK));
    if (head == NULL) Py_RETURN_NONE;
    PyObject *answer = report(doc, view, head, ctx);
    Py_DECREF(head);
    return answer;
}

static PyObject *report(PyObject *doc, PyObject *view, PyObject *head_obj, PyObject *ctx)
{
#define CTX(i) PyTuple_GET_ITEM(ctx, (i))
    long long head;
    if (!small_int(head_obj, &head)) Py_RETURN_NONE;
    PyObject *result = NULL, *fields = NULL, *hidden = NULL, *anchor = NULL, *digest_obj = NULL, *root = NULL;
    PyObject *signature = NULL;
    PyObject *salts = NULL, *stated = NULL;
    Member *members = NULL;
    unsigned char *hash_space = NULL;
    PyObject *key = NULL, *memo = NULL, *grants = NULL, *index = NULL, *replaced = NULL, *batches = NULL;
    PyObject *signers = NULL, *genesis = NULL, *witness = NULL, *confirmations = NULL, *found = NULL;
    PyObject *batch = NULL, *signer = NULL, *block_obj = NULL, *department = NULL, *window = NULL, *verdict = NULL;
    PyObject *now = NULL, *dept_id = NULL, *status_key = NULL, *start = NULL, *end = NULL, *issuer_held = NULL;
    PyObject *type_held = NULL, *windows = NULL, *ended = NULL, *ended_key = NULL, *held = NULL;
    char body_space[4096], top_space[512];
    Out o = {body_space, 0, sizeof body_space, 0, 0}, top = {top_space, 0, sizeof top_space, 0, 0};
    int verified = 1, hidden_dates = 0;
    const char *status_name = NULL;

    /* the document (document_parts' checks), its field hashes (hash_field, as field_hashes) and digest (as
       tagged_digest over the fields' and the hidden hashes), with no dict or bytes made on the way */
    Py_ssize_t salt_digits = PyLong_AsSsize_t(CTX(CTX_SALT_DIGITS)), least = PyLong_AsSsize_t(CTX(CTX_SALT_BYTES));
    if ((salt_digits == -1 || least == -1) && PyErr_Occurred()) goto end;
    if (salt_digits < 2 * least || salt_digits > 2 * SALT_MOST || !PyBytes_CheckExact(CTX(CTX_FIELD_PREFIX))
        || !PyBytes_CheckExact(CTX(CTX_CERT_PREFIX)) || !PyBytes_CheckExact(CTX(CTX_CERT_TAG))
        || !PyUnicode_CheckExact(CTX(CTX_FORMAT)))
        goto end;
    PyObject *shape[5];
    /* deferred: the salts' and hidden hashes' hex is checked in the loops below, the stated digest's, the root's,
       the signature's and the proof's where they are read; each once */
    if (!document_shape(doc, CTX(CTX_FORMAT), salt_digits, shape, 1)) goto end;
    /* held: an allocation may run a collection, whose finalizers could edit the caller's document, and the Python
       code run at the end (validity) could reach it. No object a collection tracks is made before the loops below
       have read every salt and hidden hash (the empty dict of a document without hidden hashes is made after
       them): the dicts they read are the ones document_shape checked, every salt read once (as many salts as
       fields, each a field's). */
    fields = Py_NewRef(shape[0]);
    hidden = Py_XNewRef(shape[2]);
    anchor = Py_NewRef(shape[3]);
    salts = Py_NewRef(shape[1]);
    stated = Py_XNewRef(shape[4]);
    Py_ssize_t n_fields = PyDict_GET_SIZE(fields), n_hidden = hidden != NULL ? PyDict_GET_SIZE(hidden) : 0;
    members = PyMem_Calloc((size_t)(n_fields + n_hidden + 1), sizeof(Member));
    hash_space = PyMem_Malloc((size_t)(n_fields + n_hidden + 1) * HASH_BYTES);
    if (members == NULL || hash_space == NULL) {
        PyErr_NoMemory();
        goto end;
    }
    Py_ssize_t pos = 0, count = 0;
    PyObject *name, *value;
    /* text that is printable, true, false, null or an int within 2**53: hash_field writes each itself, so
       canonical_json (Python code, which walks nested values recursively) never runs here, and no dict read here
       can change while it is read */
    while (PyDict_Next(fields, &pos, &name, &value)) {
        long long number;
        if (!(PyUnicode_CheckExact(value) ? printable(value)
                                          : value == Py_None || PyBool_Check(value)
                                                || (small_int(value, &number) && number > -(1LL << 53)
                                                    && number < (1LL << 53))))
            goto end;
        PyObject *salt_text = PyDict_GetItemWithError(salts, name);  /* hex, salt_digits of them: checked here */
        if (salt_text == NULL || !plain_name(name) || !hex_text(salt_text, "", salt_digits)) {
            PyErr_Clear();
            goto end;
        }
        if (count >= n_fields + n_hidden) goto end;  /* the dicts' sizes as read before: never past the arrays */
        unsigned char salt[SALT_MOST];
        const unsigned char *digits = PyUnicode_1BYTE_DATA(salt_text);
        for (Py_ssize_t k = 0; k < salt_digits / 2; k++)
            salt[k] = (unsigned char)(HEX_DIGIT[digits[2 * k]] << 4 | HEX_DIGIT[digits[2 * k + 1]]);
        unsigned char *out = hash_space + count * HASH_BYTES;
        if (hash_field(name, value, (const char *)salt, salt_digits / 2, CTX(CTX_FIELD_PREFIX), CTX(CTX_CANONICAL), out)
            != DONE) {
            PyErr_Clear();
            goto end;
        }
        members[count].name = PyUnicode_AsUTF8AndSize(name, &members[count].name_size);  /* ASCII: its own data */
        members[count].hash = out;
        members[count].hash_size = HASH_BYTES;
        count++;
    }
    pos = 0;
    while (hidden != NULL && PyDict_Next(hidden, &pos, &name, &value)) {  /* 64 hex digits after an optional "0x" */
        if (!plain_name(name) || !field_hash_text(value) || count >= n_fields + n_hidden) goto end;
        unsigned char *out = hash_space + count * HASH_BYTES;
        const unsigned char *digits = PyUnicode_1BYTE_DATA(value) + (PyUnicode_GET_LENGTH(value) == 66 ? 2 : 0);
        for (int k = 0; k < HASH_BYTES; k++) out[k] = (unsigned char)(HEX_DIGIT[digits[2 * k]] << 4 | HEX_DIGIT[digits[2 * k + 1]]);
        members[count].name = PyUnicode_AsUTF8AndSize(name, &members[count].name_size);
        members[count].hash = out;
        members[count].hash_size = HASH_BYTES;
        count++;
    }
    if (count != n_fields + n_hidden) goto end;
    if (hidden == NULL && (hidden = PyDict_New()) == NULL) goto end;
    Py_ssize_t fmt_size;
    const char *fmt = plain_format(CTX(CTX_FORMAT), &fmt_size);
    if (fmt == NULL) goto end;
    unsigned char digest[HASH_BYTES], schema[HASH_BYTES];
    /* the digest commits to the type (pl-cert/2): SHA-256(tag || keccak256(type) || fields digest), the type's hash
       as the view memoised it (ChainView.type_hash); a type not memoised (or not text) is the Python path's */
    {
        PyObject *kind = dict_get(fields, ATTRS[A_TYPE]);
        if (kind == NULL || !PyUnicode_CheckExact(kind)) goto end;
        PyObject *hashes = view_attr(view, A_TYPE_HASHES);
        PyObject *hashed = dict_get(hashes, kind);  /* an exact str key: its hashing runs no Python code */
        int usable = hashed != NULL && PyBytes_CheckExact(hashed) && PyBytes_GET_SIZE(hashed) == HASH_BYTES;
        if (usable) memcpy(schema, PyBytes_AS_STRING(hashed), HASH_BYTES);
        Py_XDECREF(hashes);
        if (!usable) goto end;
    }
    tagged_digest(members, count, fmt, fmt_size, PyBytes_AS_STRING(CTX(CTX_CERT_PREFIX)),
                  PyBytes_GET_SIZE(CTX(CTX_CERT_PREFIX)), digest);
    {
        SHA256_CTX typed;
        SHA256_Init(&typed);
        SHA256_Update(&typed, PyBytes_AS_STRING(CTX(CTX_CERT_TAG)), (size_t)PyBytes_GET_SIZE(CTX(CTX_CERT_TAG)));
        SHA256_Update(&typed, schema, HASH_BYTES);
        SHA256_Update(&typed, digest, HASH_BYTES);
        SHA256_Final(digest, &typed);
    }
    if (stated != NULL && stated != Py_None) {  /* the stated digest: "0x" and 64 hex digits, or the 64 alone */
        if (!field_hash_text(stated)) goto end;
        const unsigned char *digits = PyUnicode_1BYTE_DATA(stated) + (PyUnicode_GET_LENGTH(stated) == 66 ? 2 : 0);
        for (int k = 0; k < HASH_BYTES; k++) {
            if ((unsigned char)(HEX_DIGIT[digits[2 * k]] << 4 | HEX_DIGIT[digits[2 * k + 1]]) != digest[k]) goto end;
        }
    }
    digest_obj = PyBytes_FromStringAndSize((const char *)digest, HASH_BYTES);
    if (digest_obj == NULL) goto end;

    OUT_LIT(&o, "[");
    /* format */
    out_check(&o, "format", 1);
    out_put(&o, fmt, fmt_size);
    OUT_LIT(&o, ", ");
    out_int(&o, (long long)PyDict_GET_SIZE(fields));
    OUT_LIT(&o, " disclosed and ");
    out_int(&o, (long long)PyDict_GET_SIZE(hidden));
    OUT_LIT(&o, " hidden fields\"}");
    /* chain: the chain id, anchor contract and registry the view reads (the one text of a passing check) */
    PyObject *chain_id = member(anchor, K_CHAIN_ID), *contract = member(anchor, K_CONTRACT);
    PyObject *registry = member(anchor, K_REGISTRY);
    if (chain_id == NULL || !PyLong_CheckExact(chain_id) || PyObject_RichCompareBool(chain_id, CTX(CTX_CHAIN_ID), Py_EQ) != 1
        || contract == NULL || !same_ignoring_case(contract, CTX(CTX_CONTRACT)) || registry == NULL
        || !same_ignoring_case(registry, CTX(CTX_REGISTRY))) {
        PyErr_Clear();
        goto end;
    }
    OUT_LIT(&o, ",");
    out_put(&o, PyBytes_AS_STRING(CTX(CTX_CHAIN_CHECK)), PyBytes_GET_SIZE(CTX(CTX_CHAIN_CHECK)));
    /* chain_identity: the genesis read (at most GENESIS_RECHECK ago: the caller's warm_head) is the recorded one */
    genesis = view_attr(view, A_GENESIS);
    if (genesis == NULL || !PyTuple_CheckExact(genesis) || PyTuple_GET_SIZE(genesis) != 2
        || !same_ignoring_case(PyTuple_GET_ITEM(genesis, 0), CTX(CTX_GENESIS)))
        goto end;
    out_check(&o, "chain_identity", 1);
    OUT_LIT(&o, "genesis ");
    if (!out_text(&o, CTX(CTX_GENESIS))) goto end;
    OUT_LIT(&o, "\"}");
    /* integrity */
    out_check(&o, "integrity", 1);
    OUT_LIT(&o, "digest ");
    out_hex(&o, digest, HASH_BYTES);
    OUT_LIT(&o, " recomputed from ");
    out_int(&o, (long long)(PyDict_GET_SIZE(fields) + PyDict_GET_SIZE(hidden)));
    OUT_LIT(&o, " field hashes\"}");
    /* disclosure: every always-disclosed field not hidden, every required one disclosed */
    PyObject *always = CTX(CTX_ALWAYS), *required = CTX(CTX_REQUIRED);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(always); i++) {
        if (PyDict_Contains(hidden, PyTuple_GET_ITEM(always, i)) != 0) goto end;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(required); i++) {
        if (PyDict_Contains(fields, PyTuple_GET_ITEM(required, i)) != 1) goto end;
    }
    out_check(&o, "disclosure", 1);
    OUT_LIT(&o, "id, type, issuer, issued_at and the validity dates are disclosed\"}");
    /* merkle_proof */
    PyObject *root_text = member(anchor, K_ROOT), *proof = member(anchor, K_PROOF);
    PyObject *signature_text = member(anchor, K_SIGNATURE);
    if (root_text == NULL || proof == NULL || signature_text == NULL || !hex_text(root_text, "0x", 64)
        || !hex_text(signature_text, "0x", 130))
        goto end;
    root = hex_bytes(root_text, 2);
    signature = hex_bytes(signature_text, 2);
    if (root == NULL || signature == NULL) goto end;
    unsigned char reached[HASH_BYTES];
    if (!PyList_CheckExact(proof) || !walk_proof(digest, proof, reached)
        || memcmp(reached, PyBytes_AS_STRING(root), HASH_BYTES) != 0)
        goto end;
    out_check(&o, "merkle_proof", 1);
    OUT_LIT(&o, "proof of ");
    out_int(&o, (long long)PyList_GET_SIZE(proof));
    OUT_LIT(&o, " hashes leads to root ");
    out_hex(&o, (const unsigned char *)PyBytes_AS_STRING(root), HASH_BYTES);
    OUT_LIT(&o, "\"}");
    /* the batch: its anchor and signer's answer in memory (warm_head), its checks kept for this head */
    PyObject *issuer = dict_get(fields, ATTRS[A_ISSUER]);
    if (issuer == NULL || !printable_ascii(issuer, 32)) goto end;
    Py_INCREF(issuer);  /* held: the Python code run below (validity) could edit the caller's document */
    issuer_held = issuer;
    batches = view_attr(view, A_BATCHES);
    signers = view_attr(view, A_SIGNERS);
    key = PyTuple_Pack(2, issuer, root);
    if (key == NULL) goto end;
    PyObject *cached = dict_get(batches, key);
    Py_CLEAR(key);
    if (cached == NULL) goto end;
    Py_INCREF(cached);
    signer = PyObject_GetAttr(cached, ATTRS[A_SIGNER]);
    block_obj = PyObject_GetAttr(cached, ATTRS[A_BLOCK_NUMBER]);
    Py_DECREF(cached);
    if (signer == NULL || block_obj == NULL) {
        PyErr_Clear();
        goto end;
    }
    key = PyTuple_Pack(2, signer, block_obj);
    if (key == NULL) goto end;
    int known_signer = signers != NULL && PyDict_CheckExact(signers) ? PyDict_Contains(signers, key) : 0;
    Py_CLEAR(key);
    Py_CLEAR(signer);
    Py_CLEAR(block_obj);
    if (known_signer != 1) {
        PyErr_Clear();
        goto end;
    }
    memo = view_attr(view, A_BATCH_CHECKS);
    confirmations = view_attr(view, A_CONFIRMATIONS);
    if (memo == NULL || confirmations == NULL || !PyTuple_CheckExact(memo) || PyTuple_GET_SIZE(memo) != 2
        || !PyLong_CheckExact(confirmations) || PyObject_RichCompareBool(PyTuple_GET_ITEM(memo, 0), head_obj, Py_EQ) != 1) {
        PyErr_Clear();
        goto end;
    }
    key = PyTuple_Pack(5, issuer, root, signature, head_obj, confirmations);
    if (key == NULL) goto end;
    found = Py_XNewRef(dict_get(PyTuple_GET_ITEM(memo, 1), key));
    Py_CLEAR(key);
    if (found == NULL || !PyTuple_CheckExact(found) || PyTuple_GET_SIZE(found) != 3) goto end;
    batch = PyTuple_GET_ITEM(found, 0);
    PyObject *kept = PyTuple_GET_ITEM(found, 1), *facts = PyTuple_GET_ITEM(found, 2);
    if (batch == Py_None || !PyTuple_CheckExact(kept) || PyTuple_GET_SIZE(kept) != 4 || !PyDict_CheckExact(facts)) goto end;
    signer = PyObject_GetAttr(batch, ATTRS[A_SIGNER]);
    block_obj = PyObject_GetAttr(batch, ATTRS[A_BLOCK_NUMBER]);
    long long block;
    if (signer == NULL || block_obj == NULL || !small_int(block_obj, &block)) {
        PyErr_Clear();
        goto end;
    }
    PyObject *reported = dict_get(facts, ATTRS[A_DEPARTMENT]);  /* the report's "issuer": facts["department"] */
    if (reported == NULL || !PyUnicode_CheckExact(reported)) goto end;
    department = Py_NewRef(reported);
    for (int i = 0; i < 2; i++) {  /* anchored, confirmations */
        int ok = out_check_object(&o, PyTuple_GET_ITEM(kept, i));
        if (ok < 0) goto end;
        verified &= ok;
    }
    /* issuer: the anchor section names the issuer and the key its batch was anchored by */
    PyObject *named = member(anchor, K_DEPARTMENT), *stated_signer = member(anchor, K_SIGNER);
    if (named == NULL || !PyUnicode_CheckExact(named) || PyUnicode_Compare(named, issuer) != 0 || stated_signer == NULL
        || !same_ignoring_case(stated_signer, signer)) {
        PyErr_Clear();
        goto end;
    }
    out_check(&o, "issuer", 1);
    OUT_LIT(&o, "issued and anchored by ");
    if (!out_text(&o, issuer)) goto end;
    OUT_LIT(&o, "\"}");
    for (int i = 2; i < 4; i++) {  /* department_key, signature */
        int ok = out_check_object(&o, PyTuple_GET_ITEM(kept, i));
        if (ok < 0) goto end;
        verified &= ok;
    }
    /* type_authority: the council's answer for this type at the anchoring block, in memory */
    type_held = Py_XNewRef(dict_get(fields, ATTRS[A_TYPE]));  /* held: the key's allocation may run a finalizer */
    PyObject *type = type_held;
    if (type == NULL || !certificate_type(type)) goto end;
    /* the certificate's type is its batch's (CertificateAnchor 3.0.0): the type's hash as the view memoised it
       (ChainView.type_hash) is the batch's schema; else (not memoised, or another type) the Python path answers */
    {
        PyObject *hashes = view_attr(view, A_TYPE_HASHES);
        PyObject *hashed = hashes == NULL ? NULL : dict_get(hashes, type);
        PyObject *schema = hashed == NULL ? NULL : PyObject_GetAttr(batch, ATTRS[A_SCHEMA]);
        int same = schema == NULL || !PyBytes_CheckExact(hashed) || !PyBytes_CheckExact(schema)
                       ? -1
                       : PyObject_RichCompareBool(hashed, schema, Py_EQ);
        Py_XDECREF(schema);
        Py_XDECREF(hashes);
        if (same != 1) {
            PyErr_Clear();
            goto end;
        }
    }
    key = PyTuple_Pack(4, ATTRS[A_TYPE], issuer, type, block_obj);  /* ("type", issuer, type, block) */
    if (key == NULL) goto end;
    grants = view_attr(view, A_TYPE_GRANTS);
    PyObject *authorized = dict_get(grants, key);
    Py_CLEAR(key);
    if (authorized == NULL || !PyBool_Check(authorized)) goto end;
    out_check(&o, "type_authority", authorized == Py_True);
    verified &= authorized == Py_True;
    if (!out_text(&o, issuer)) goto end;
    if (authorized == Py_True) {
        OUT_LIT(&o, " was authorized for type '");
        if (!out_text(&o, type)) goto end;
        OUT_LIT(&o, "' at block ");
        out_int(&o, block);
    } else {
        OUT_LIT(&o, " was not authorized by the council to issue type '");
        if (!out_text(&o, type)) goto end;
        OUT_LIT(&o, "' at block ");
        out_int(&o, block);
        OUT_LIT(&o, ", where it anchored this certificate: a department acting outside its authority (the registry's "
                    "typeHistory lists the types it held and when)");
    }
    OUT_LIT(&o, "\"}");
    /* status: the index of the last sync, keyed where the issuer anchored the certificate */
    char padded[32] = {0};
    memcpy(padded, PyUnicode_1BYTE_DATA(issuer), (size_t)PyUnicode_GET_LENGTH(issuer));
    dept_id = PyBytes_FromStringAndSize(padded, 32);
    if (dept_id == NULL) goto end;
    status_key = PyTuple_Pack(3, dept_id, root, digest_obj);
    if (status_key == NULL) goto end;
    index = view_attr(view, A_INDEX);
    replaced = view_attr(view, A_REPLACED);
    if (index == NULL || replaced == NULL || !PyTuple_CheckExact(index) || PyTuple_GET_SIZE(index) != 2
        || !PyTuple_CheckExact(replaced) || PyTuple_GET_SIZE(replaced) != 2)
        goto end;
    PyObject *change = dict_get(PyTuple_GET_ITEM(index, 1), status_key);
    if (change == NULL) change = dict_get(PyTuple_GET_ITEM(index, 0), status_key);
    long long code = 0, changed_at = 0;
    PyObject *detail = NULL;
    if (change != NULL) {
        if (!PyTuple_CheckExact(change) || PyTuple_GET_SIZE(change) != 3 || !small_int(PyTuple_GET_ITEM(change, 0), &code)
            || !small_int(PyTuple_GET_ITEM(change, 1), &changed_at) || !PyBytes_CheckExact(PyTuple_GET_ITEM(change, 2)))
            goto end;
        detail = PyTuple_GET_ITEM(change, 2);
    }
    PyObject *names = CTX(CTX_STATUS_NAMES);
    if (code < 0 || code >= PyTuple_GET_SIZE(names)) goto end;
    PyObject *status = PyTuple_GET_ITEM(names, code);
    status_name = PyUnicode_AsUTF8(status);
    if (status_name == NULL) goto end;
    if (code == 0 || code == 1) {
        /* revoked or superseded by its issuer under another root (the same digest anchored again: ChainView's
           _ended, red team round 42), or suspended or reinstated under another root (_held, red team round 46):
           declined, the Python path reports that status and names the root */
        ended = view_attr(view, A_ENDED);
        if (ended == NULL || !PyTuple_CheckExact(ended) || PyTuple_GET_SIZE(ended) != 2) goto end;
        held = view_attr(view, A_HELD);
        if (held == NULL || !PyTuple_CheckExact(held) || PyTuple_GET_SIZE(held) != 2) goto end;
        ended_key = PyTuple_Pack(2, dept_id, digest_obj);
        if (ended_key == NULL) goto end;
        for (int part = 0; part < 4; part++) {
            PyObject *end_made = dict_get(PyTuple_GET_ITEM(part < 2 ? ended : held, part % 2), ended_key);
            if (end_made == NULL) continue;
            if (!PyTuple_CheckExact(end_made) || PyTuple_GET_SIZE(end_made) != 4) goto end;
            int same = PyObject_RichCompareBool(PyTuple_GET_ITEM(end_made, 0), root, Py_EQ);
            if (same < 0) PyErr_Clear();
            if (same != 1) goto end;  /* another root (or an error): not answered here */
        }
    }
    int valid = code == 0;
    out_check(&o, "status", valid);
    verified &= valid;
    out_put(&o, status_name, (Py_ssize_t)strlen(status_name));
    if (changed_at) {
        OUT_LIT(&o, " in block ");
        out_int(&o, changed_at);
    }
    if (strcmp(status_name, "superseded") == 0) {
        if (PyBytes_GET_SIZE(detail) != HASH_BYTES) goto end;
        OUT_LIT(&o, ", superseded by ");
        out_hex(&o, (const unsigned char *)PyBytes_AS_STRING(detail), HASH_BYTES);
    } else if ((strcmp(status_name, "revoked") == 0 || strcmp(status_name, "suspended") == 0) && detail != NULL
               && PyBytes_GET_SIZE(detail) > 0) {
        PyObject *reason = dict_get(CTX(CTX_REASONS), detail);
        if (reason == NULL) goto end;  /* a code outside the vocabulary: the Python path names it */
        OUT_LIT(&o, " (reason: ");
        if (!out_text(&o, reason)) goto end;
        OUT_LIT(&o, ")");
    }
    Py_ssize_t predecessors = 0;
    for (int part = 0; part < 2; part++) {  /* replaces(): the final notes, then the recent ones */
        PyObject *notes = dict_get(PyTuple_GET_ITEM(replaced, part), status_key);
        if (notes == NULL) continue;
        if (!PyTuple_CheckExact(notes)) goto end;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(notes); i++) {
            PyObject *note = PyTuple_GET_ITEM(notes, i);
            if (!PyBytes_CheckExact(note)) goto end;
            if (predecessors++)
                OUT_LIT(&o, " and ");
            else
                OUT_LIT(&o, "; it replaces ");
            out_hex(&o, (const unsigned char *)PyBytes_AS_STRING(note), PyBytes_GET_SIZE(note));
        }
    }
    OUT_LIT(&o, "\"}");
    /* witnessed: only "not configured" is answered here */
    witness = view_attr(view, A_WITNESS);
    if (witness != Py_None) goto end;
    /* validity, last: the window the view keeps for these dates (ChainView.validity_window's memo, keyed by the
       texts and whether a date is hidden) judged here at the clock's microsecond when it holds that verdict; else
       the view's own code (Python, which may let another thread run), as before */
    start = Py_XNewRef(dict_get(fields, ATTRS[A_VALID_FROM]));
    end = Py_XNewRef(dict_get(fields, ATTRS[A_VALID_UNTIL]));
    if ((start != NULL && start != Py_None && !PyUnicode_CheckExact(start))
        || (end != NULL && end != Py_None && !PyUnicode_CheckExact(end)))
        goto end;
    hidden_dates = PyDict_Contains(hidden, ATTRS[A_VALID_FROM]) == 1 || PyDict_Contains(hidden, ATTRS[A_VALID_UNTIL]) == 1;
    long long now_us = 0;
    int clock_read = 0;
    if (CTX(CTX_NOW_US) == Py_None) {
        clock_read = clock_now_us(&now_us);
    } else {  /* a test's moment */
        PyObject *moment = PyObject_CallNoArgs(CTX(CTX_NOW_US));
        if (moment == NULL) goto failed_call;
        clock_read = small_int(moment, &now_us);
        Py_DECREF(moment);
        if (!clock_read) goto end;
    }
    windows = view_attr(view, A_WINDOWS);
    if (clock_read && windows != NULL && PyDict_CheckExact(windows)) {
        key = PyTuple_Pack(3, start ? start : Py_None, end ? end : Py_None, hidden_dates ? Py_True : Py_False);
        if (key == NULL) goto end;
        window = Py_XNewRef(dict_get(windows, key));  /* str, None and bool: no Python code hashes or compares */
        Py_CLEAR(key);
        if (window != NULL) verdict = window_verdict(window, CTX(CTX_WINDOW_TYPE), now_us);
        Py_CLEAR(window);
    }
    if (verdict == NULL) {
        now = PyObject_CallNoArgs(CTX(CTX_NOW));
        if (now == NULL) goto failed_call;
        window = PyObject_CallMethodObjArgs(view, ATTRS[A_VALIDITY_WINDOW], start ? start : Py_None,
                                            end ? end : Py_None, hidden_dates ? Py_True : Py_False, NULL);
        if (window == NULL) goto failed_call;
        verdict = PyObject_CallMethodOneArg(window, ATTRS[A_AT], now);
        if (verdict == NULL) goto failed_call;
    }
    if (!PyTuple_CheckExact(verdict) || PyTuple_GET_SIZE(verdict) != 2 || !PyBool_Check(PyTuple_GET_ITEM(verdict, 0)))
        goto end;
    int in_window = PyTuple_GET_ITEM(verdict, 0) == Py_True;
    out_check(&o, "validity", in_window);
    verified &= in_window;
    if (!out_text(&o, PyTuple_GET_ITEM(verdict, 1))) goto end;
    OUT_LIT(&o, "\"}");
    out_check(&o, "witnessed", 1);
    OUT_LIT(&o, "not configured: this verifier trusts no witnesses\"}]}");

    /* the report's members before its checks, as services.public_fields orders them */
    if (verified)
        OUT_LIT(&top, "{\"verified\":true,\"digest\":\"");
    else
        OUT_LIT(&top, "{\"verified\":false,\"digest\":\"");
    out_hex(&top, digest, HASH_BYTES);
    OUT_LIT(&top, "\",\"status\":\"");
    out_put(&top, status_name, (Py_ssize_t)strlen(status_name));
    OUT_LIT(&top, "\",\"issuer\":\"");
    if (!out_text(&top, department)) goto end;
    OUT_LIT(&top, "\",\"as_of_block\":");
    out_int(&top, head);
    OUT_LIT(&top, ",\"erased\":null,\"checks\":");
    if (o.failed || top.failed) goto end;
    result = PyBytes_FromStringAndSize(NULL, top.n + o.n);
    if (result != NULL) {
        memcpy(PyBytes_AS_STRING(result), top.p, (size_t)top.n);
        memcpy(PyBytes_AS_STRING(result) + top.n, o.p, (size_t)o.n);
    }
    goto end;
failed_call:
    if (PyErr_ExceptionMatches(PyExc_Exception)) PyErr_Clear();  /* the Python path meets it and reports it */
end:
    if (result == NULL && !PyErr_Occurred()) result = Py_NewRef(Py_None);
    out_free(&o);
    out_free(&top);
    PyMem_Free(members);
    PyMem_Free(hash_space);
    Py_XDECREF(fields);
    Py_XDECREF(salts);
    Py_XDECREF(stated);
    Py_XDECREF(hidden);
    Py_XDECREF(anchor);
    Py_XDECREF(digest_obj);
    Py_XDECREF(root);
    Py_XDECREF(signature);
    Py_XDECREF(key);
    Py_XDECREF(memo);
    Py_XDECREF(grants);
    Py_XDECREF(index);
    Py_XDECREF(replaced);
    Py_XDECREF(ended);
    Py_XDECREF(ended_key);
    Py_XDECREF(held);
    Py_XDECREF(batches);
    Py_XDECREF(signers);
    Py_XDECREF(genesis);
    Py_XDECREF(witness);
    Py_XDECREF(confirmations);
    Py_XDECREF(found);
    Py_XDECREF(signer);
    Py_XDECREF(block_obj);
    Py_XDECREF(department);
    Py_XDECREF(window);
    Py_XDECREF(verdict);
    Py_XDECREF(now);
    Py_XDECREF(dept_id);
    Py_XDECREF(status_key);
    Py_XDECREF(start);
    Py_XDECREF(end);
    Py_XDECREF(issuer_held);
    Py_XDECREF(type_held);
    Py_XDECREF(windows);
    return result;
#undef CTX
}

/* -- replay's reading of a chunk's decision bodies in one call (services/replay.py: ``_DepartmentRun.chunk``) ---

   decision_bodies(rows, parse, limit, link_fields) -> list[tuple | None]

   For each (seq, text, ...) row of a chunk of the decisions log, either None ("not handled": replay's Python code
   reads that row, as it reads every row without this module) or (body, lookup, mentions, links), which is exactly
   what that code finds for the row when the text is the canonical JSON of the object it parses to:
     body      parse(text) (orjson.loads, which canonical.json_loads and logchain.stored_loads hand such a text to)
     lookup    logchain.lookup_of(body): logbody.lookup_key(body["case_id"]) for a str case id, else None
     mentions  set(logchain.mentions_of(body)): every "0x" + 64 lower-case hex digits named as a cited
               certificate's digest (certificates[].digest) or as the issued certificate (issued.certificate)
     links     {k: body[k] for k in link_fields if k in body}
   and logchain.spelling_problem(text, body) is then None, so the row has no spelling to report.

   A row is handled only when its text is an exact str spelt as RFC 8785 writes a plain value (and nothing else):
   an object at the top; no whitespace; members named in printable ASCII, in strictly increasing byte order (which
   is RFC 8785's order for them; no name twice); strings without a backslash, a control character or DEL (so no
   escape, no lone surrogate, no quote inside; any other character as its UTF-8, as RFC 8785 and orjson write it:
   a text holding a lone surrogate has no UTF-8 form and declines); integers of at most
   15 digits without a sign on zero (within +-2**53, no fraction, no exponent: floats and long numbers decline);
   true, false, null; nesting no deeper than ``limit`` (json_loads' MAX_JSON_DEPTH). Such a text is the canonical
   form of its value and of no other text (its value's canonical_body is the text itself), json and orjson read it
   the same, and it holds no surrogate escape: the four answers above are those of the Python code. Everything
   else - another spelling, a float, a long number, an escape, a name not in ASCII, too deep, not an object, a row
   that is not a tuple of a seq and an exact str - is None, and replay's Python code reports what is wrong with it.

   The text is scanned once, by a loop with an explicit stack (``limit`` + 1 levels, allocated once per call):
   nothing recurses on the input, every length is the object's own. parse's ValueError declines the row; any other
   exception (an interrupt, MemoryError) is raised. tests/test_hashcore.py compares every answer with the Python
   code's on honest and tampered bodies. */

typedef struct {
    Py_ssize_t key_start; /* where the last member name of this object starts; -1 before its first */
    Py_ssize_t key_size;
    char object;
} BodyLevel;

enum { B_CASE_ID, B_CERTIFICATES, B_DIGEST, B_ISSUED, B_CERTIFICATE, B_COUNT };
static const char *const BODY_KEY_NAMES[B_COUNT] = {"case_id", "certificates", "digest", "issued", "certificate"};
static PyObject *BODY_KEYS[B_COUNT];

/* The end of the plain string starting at p[i] == '"' (one past its closing quote), or -1. ``wide``: bytes of
   0x80 and above may be in it (a member value: the UTF-8 of a str, which RFC 8785 writes as it is), else not (a
   member name: RFC 8785 orders names by UTF-16 code units, which is their bytes' order for ASCII only). */
static Py_ssize_t plain_string_end(const unsigned char *p, Py_ssize_t n, Py_ssize_t i, int wide)
{
    for (i++; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"') return i + 1;
        if (c < 0x20 || c == 0x7f || c == '\\' || (c > 0x7f && !wide)) return -1;
    }
    return -1;
}

/* The end of the plain integer starting at p[i], or -1. */
static Py_ssize_t plain_integer_end(const unsigned char *p, Py_ssize_t n, Py_ssize_t i)
{
    int negative = p[i] == '-';
    if (negative) i++;
    if (i >= n || p[i] < '0' || p[i] > '9') return -1;
    Py_ssize_t start = i;
    if (p[i] == '0') {
        if (negative) return -1; /* -0 reads as 0, written "0" */
        i++;
    } else {
        while (i < n && p[i] >= '0' && p[i] <= '9') i++;
        if (i - start > 15) return -1; /* may be past 2**53: canonical JSON writes it as a double */
    }
    if (i < n && ((p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == 'e' || p[i] == 'E')) return -1;
    return i;
}

/* Whether p[0..n) is the RFC 8785 spelling of a plain JSON object nested at most ``limit`` deep (levels: limit + 1
   entries). */
static int canonical_plain_object(const unsigned char *p, Py_ssize_t n, Py_ssize_t limit, BodyLevel *levels)
{
    Py_ssize_t i = 0, depth = 0;
    if (n < 2 || p[0] != '{') return 0;
    for (;;) {
        /* a value at p[i] */
        if (i >= n) return 0;
        unsigned char c = p[i];
        if (c == '{' || c == '[') {
            if (++depth > limit) return 0;
            levels[depth].object = c == '{';
            levels[depth].key_start = -1;
            levels[depth].key_size = 0;
            i++;
            if (i < n && p[i] == (c == '{' ? '}' : ']')) {
                i++;
                depth--;
                goto after_value;
            }
            if (c == '[') continue;
            goto member_name;
        } else if (c == '"') {
            i = plain_string_end(p, n, i, 1);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            i = plain_integer_end(p, n, i);
        } else if (c == 't' && n - i >= 4 && memcmp(p + i, "true", 4) == 0) {
            i += 4;
        } else if (c == 'f' && n - i >= 5 && memcmp(p + i, "false", 5) == 0) {
            i += 5;
        } else if (c == 'n' && n - i >= 4 && memcmp(p + i, "null", 4) == 0) {
            i += 4;
        } else {
            return 0;
        }
        if (i < 0) return 0;
    after_value:
        for (;;) {
            if (depth == 0) return i == n;
            if (i >= n) return 0;
            c = p[i++];
            if (c == ',') break;
            if (c != (levels[depth].object ? '}' : ']')) return 0;
            depth--;
        }
        if (!levels[depth].object) continue;
    member_name:
        if (i >= n || p[i] != '"') return 0;
        {
            Py_ssize_t end = plain_string_end(p, n, i, 0);
            if (end < 0) return 0;
            Py_ssize_t start = i + 1, size = end - 1 - start;
            BodyLevel *level = &levels[depth];
            if (level->key_start >= 0) { /* strictly after the name before it: sorted, none twice */
                Py_ssize_t common = size < level->key_size ? size : level->key_size;
                int order = memcmp(p + start, p + level->key_start, (size_t)common);
                if (order < 0 || (order == 0 && size <= level->key_size)) return 0;
            }
            level->key_start = start;
            level->key_size = size;
            i = end;
        }
        if (i >= n || p[i] != ':') return 0;
        i++;
    }
}

/* "0x" + 64 lower-case hex digits (logchain._DIGEST_TEXT's fullmatch). */
static int digest_text(PyObject *text)
{
    if (!ascii_str(text) || PyUnicode_GET_LENGTH(text) != 66) return 0;
    const unsigned char *p = PyUnicode_1BYTE_DATA(text);
    if (p[0] != '0' || p[1] != 'x') return 0;
    for (int i = 2; i < 66; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return 0;
    }
    return 1;
}

/* mapping.get(BODY_KEY_NAMES[which]) for an exact dict (borrowed; NULL with no error when absent). Its keys are
   exact str (parsed JSON), so the look-up runs no Python code. */
static PyObject *body_member(PyObject *mapping, int which)
{
    PyObject *value = PyDict_GetItemWithError(mapping, BODY_KEYS[which]);
    if (value == NULL) PyErr_Clear();
    return value;
}

/* Whether a value read here is of a type parse makes (exact dict, list, str) or of none of those: a subclass,
   which the Python code's isinstance reads as its base, declines the row. */
static int exact_kind(PyObject *v)
{
    if (PyDict_Check(v)) return PyDict_CheckExact(v);
    if (PyList_Check(v)) return PyList_CheckExact(v);
    if (PyUnicode_Check(v)) return PyUnicode_CheckExact(v);
    return 1;
}

/* logchain.lookup_of(body) of a decisions-log body: a new reference (a str or None); *decline set for a case id
   of a str subclass. */
static PyObject *body_lookup(PyObject *body, int *decline)
{
    PyObject *case_id = body_member(body, B_CASE_ID);
    if (case_id == NULL || !PyUnicode_Check(case_id)) Py_RETURN_NONE;
    if (!PyUnicode_CheckExact(case_id)) { /* a subclass is not parse's */
        *decline = 1;
        Py_RETURN_NONE;
    }
    /* lookup_key encodes with surrogatepass: the same bytes as UTF-8 for a str without surrogates, which is every
       str of a text without a backslash; one holding a surrogate (not parse's) declines */
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(case_id, &size);
    if (utf8 == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeError)) return NULL;
        PyErr_Clear();
        *decline = 1;
        Py_RETURN_NONE;
    }
    unsigned char digest[HASH_BYTES];
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, "pl-lookup\0", 10);
    SHA256_Update(&ctx, utf8, (size_t)size);
    SHA256_Final(digest, &ctx);
    static const char digits[] = "0123456789abcdef";
    char text[32];
    for (int j = 0; j < 16; j++) {
        text[2 * j] = digits[digest[j] >> 4];
        text[2 * j + 1] = digits[digest[j] & 15];
    }
    return PyUnicode_FromStringAndSize(text, sizeof text);
}

/* set(logchain.mentions_of(body)) of a decisions-log body; *decline set for a value of a subclass. */
static PyObject *body_mentions(PyObject *body, int *decline)
{
    PyObject *named = PySet_New(NULL);
    if (named == NULL) return NULL;
    PyObject *cited = body_member(body, B_CERTIFICATES);
    if (cited != NULL && !exact_kind(cited)) *decline = 1;
    if (cited != NULL && PyList_CheckExact(cited)) {
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(cited); k++) {
            PyObject *c = PyList_GET_ITEM(cited, k);
            if (!exact_kind(c)) *decline = 1;
            if (!PyDict_CheckExact(c)) continue;
            PyObject *d = body_member(c, B_DIGEST);
            if (d != NULL && !exact_kind(d)) *decline = 1;
            if (d != NULL && digest_text(d) && PySet_Add(named, d) < 0) goto failed;
        }
    }
    PyObject *issued = body_member(body, B_ISSUED);
    if (issued != NULL && !exact_kind(issued)) *decline = 1;
    if (issued != NULL && PyDict_CheckExact(issued)) {
        PyObject *d = body_member(issued, B_CERTIFICATE);
        if (d != NULL && !exact_kind(d)) *decline = 1;
        if (d != NULL && digest_text(d) && PySet_Add(named, d) < 0) goto failed;
    }
    return named;
failed:
    Py_DECREF(named);
    return NULL;
}

static PyObject *decision_bodies(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 4 || !PyList_CheckExact(args[0]) || !PyCallable_Check(args[1]) || !PyTuple_CheckExact(args[3])) {
        PyErr_SetString(PyExc_TypeError, "decision_bodies(rows: list, parse, limit: int, link_fields: tuple)");
        return NULL;
    }
    PyObject *rows = args[0], *parse = args[1], *link_fields = args[3];
    Py_ssize_t limit = PyLong_AsSsize_t(args[2]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    if (limit < 1 || limit > 4096) {
        PyErr_SetString(PyExc_ValueError, "decision_bodies: limit must be 1-4096");
        return NULL;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(link_fields); k++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(link_fields, k))) {
            PyErr_SetString(PyExc_TypeError, "decision_bodies: link_fields must be str");
            return NULL;
        }
    }
    Py_ssize_t count = PyList_GET_SIZE(rows);
    PyObject *result = PyList_New(count);
    if (result == NULL) return NULL;
    for (Py_ssize_t r = 0; r < count; r++) PyList_SET_ITEM(result, r, Py_NewRef(Py_None));
    BodyLevel *levels = PyMem_Malloc(sizeof(BodyLevel) * (size_t)(limit + 1));
    if (levels == NULL) {
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    int failed = 0;
    for (Py_ssize_t r = 0; r < PyList_GET_SIZE(rows) && r < count && !failed; r++) {
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyTuple_CheckExact(row) || PyTuple_GET_SIZE(row) < 2) continue;
        PyObject *text = PyTuple_GET_ITEM(row, 1);
        if (!PyUnicode_CheckExact(text)) continue;
        const unsigned char *data;
        Py_ssize_t size;
        if (ascii_str(text)) {
            data = PyUnicode_1BYTE_DATA(text);
            size = PyUnicode_GET_LENGTH(text);
        } else {
            /* its UTF-8 form (kept with the str while it lives); a str holding a lone surrogate has none: the
               Python code reads it and reports it */
            data = (const unsigned char *)PyUnicode_AsUTF8AndSize(text, &size);
            if (data == NULL) {
                if (!PyErr_ExceptionMatches(PyExc_UnicodeError)) {
                    failed = 1;
                    break;
                }
                PyErr_Clear();
                continue;
            }
        }
        if (!canonical_plain_object(data, size, limit, levels)) continue;
        Py_INCREF(row); /* the tuple holds the text while parse runs Python code */
        PyObject *body = PyObject_CallOneArg(parse, text);
        Py_DECREF(row);
        if (body == NULL) {
            if (PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear(); /* the Python code reads it and says why */
                continue;
            }
            failed = 1;
            break;
        }
        PyObject *lookup = NULL, *mentions = NULL, *links = NULL, *item = NULL;
        int decline = 0;
        if (!PyDict_CheckExact(body)) goto next;
        if ((lookup = body_lookup(body, &decline)) == NULL || (mentions = body_mentions(body, &decline)) == NULL ||
            (links = PyDict_New()) == NULL) {
            failed = 1;
            goto next;
        }
        if (decline) goto next;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(link_fields); k++) {
            PyObject *name = PyTuple_GET_ITEM(link_fields, k);
            PyObject *value = PyDict_GetItemWithError(body, name);
            if (value == NULL) {
                if (PyErr_Occurred()) {
                    failed = 1;
                    goto next;
                }
                continue;
            }
            if (PyDict_SetItem(links, name, value) < 0) {
                failed = 1;
                goto next;
            }
        }
        item = PyTuple_Pack(4, body, lookup, mentions, links);
        if (item == NULL) {
            failed = 1;
            goto next;
        }
        PyObject *none = PyList_GET_ITEM(result, r);
        PyList_SET_ITEM(result, r, item); /* the list owns it; the None it replaces is released */
        Py_DECREF(none);
    next:
        Py_DECREF(body);
        Py_XDECREF(lookup);
        Py_XDECREF(mentions);
        Py_XDECREF(links);
    }
    PyMem_Free(levels);
    if (failed) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* ------------------------------------------------------------------------------------------ the rule engine

   rules_evaluate(program, view, budget): ledger/formats/rules.py's evaluate (its compiled closures) of one decision
   input, after published_view, for a rule set compiled by ledger/formats/_native_rules.py into ``program``. The
   Python engine is the reference: this returns exactly its (outcome, reasons, fired), or None, and the caller then
   runs the Python engine on the whole decision (which raises the error, if there is one). None for anything but the
   plain case: a view or a value on a rule's path that is not an exact dict, list, tuple, str, int, float, bool or
   None (a subclass, another mapping: their comparisons may run Python code); a comparison of two lists or two
   objects of one size (the Python engine walks them, spending its budget); a certificate scan past the budget (the
   Python engine refuses the decision); any error. Nothing here recurses into the input: a value's depth and size do
   not matter (lists are only measured), and the program's own depth is bounded when it is compiled (RULES_DEPTH). */

enum {
    R_ALL = 0, R_ANY, R_NOT, R_EXISTS, R_ABSENT, R_EQ, R_NE, R_IN, R_NOT_IN, R_ORDER, R_REF_ORDER, R_REF_EQ, R_REF_NE,
    R_CERT, R_CODES
};
enum { RULES_DEPTH = 64, RULES_MAX = 4096 };
enum { K_SCALAR = 0, K_LIST, K_DICT, K_OTHER };
#define R_DECLINE (-1)

static PyObject *CERTIFICATES_KEY = NULL;
static char R_BAIL_MARK;
#define R_BAIL ((PyObject *)&R_BAIL_MARK)

static int r_kind(PyObject *v)
{
    if (v == Py_None || PyBool_Check(v) || PyUnicode_CheckExact(v) || PyLong_CheckExact(v) || PyFloat_CheckExact(v))
        return K_SCALAR;
    if (PyList_CheckExact(v) || PyTuple_CheckExact(v)) return K_LIST;
    if (PyDict_CheckExact(v)) return K_DICT;
    return K_OTHER;
}

/* The value at ``path`` (a tuple of str) in ``d`` (an exact dict), a new reference; NULL when missing (a key absent,
   a scalar or a list on the way), R_BAIL for another kind of value on the way or an error. Each step holds its own
   reference: a lookup in a dict holding a key of another type than str may run that key's ``__eq__`` (no JSON
   value has one; the walk does not count on it). */
static PyObject *r_get(PyObject *d, PyObject *path)
{
    PyObject *v = Py_NewRef(d);
    Py_ssize_t n = PyTuple_GET_SIZE(path);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyDict_CheckExact(v)) {
            int other = r_kind(v) == K_OTHER;
            Py_DECREF(v);
            return other ? R_BAIL : NULL;
        }
        PyObject *next = PyDict_GetItemWithError(v, PyTuple_GET_ITEM(path, i));
        Py_XINCREF(next);
        Py_DECREF(v);
        if (next == NULL) return PyErr_Occurred() ? R_BAIL : NULL;
        v = next;
    }
    if (r_kind(v) == K_OTHER) {
        Py_DECREF(v);
        return R_BAIL;
    }
    return v;
}

/* ``a == b`` (Python's operator, no identity shortcut: NaN is not NaN) of two objects of exact scalar kinds. */
static int r_equal(PyObject *a, PyObject *b)
{
    if (a == b) return PyFloat_CheckExact(a) ? !isnan(PyFloat_AS_DOUBLE(a)) : 1;
    PyObject *r = PyObject_RichCompare(a, b, Py_EQ);
    if (r == NULL) return R_DECLINE;
    int equal = r == Py_True;
    Py_DECREF(r);
    return equal;
}

/* rules._same for two scalars: equal, and both booleans or neither. */
static int r_same_scalar(PyObject *a, PyObject *b)
{
    if (PyBool_Check(a) != PyBool_Check(b)) return 0;
    return r_equal(a, b);
}

/* rules._same of two values of known kinds (never K_OTHER): scalars compared; a list and an object, or a container
   and a scalar, differ; two lists or two objects differ when their sizes do, and are otherwise declined. */
static int r_same(PyObject *a, PyObject *b)
{
    int ka = r_kind(a), kb = r_kind(b);
    if (ka == K_OTHER || kb == K_OTHER) return R_DECLINE;
    if (ka == K_SCALAR && kb == K_SCALAR) return r_same_scalar(a, b);
    if (ka != kb) return 0;
    if (ka == K_LIST && Py_SIZE(a) != Py_SIZE(b)) return 0;
    if (ka == K_DICT && PyDict_GET_SIZE(a) != PyDict_GET_SIZE(b)) return 0;
    return R_DECLINE;
}

/* rules._is_number: an exact int (not a bool) or a finite exact float. */
static int r_number(PyObject *v)
{
    if (PyLong_CheckExact(v)) return 1;
    return PyFloat_CheckExact(v) && isfinite(PyFloat_AS_DOUBLE(v));
}

static int r_order(PyObject *a, PyObject *b, PyObject *op_obj)
{
    long op = PyLong_CheckExact(op_obj) ? PyLong_AsLong(op_obj) : -1;
    if (op < Py_LT || op > Py_GE) return R_DECLINE; /* an error set is cleared by rules_evaluate */
    PyObject *r = PyObject_RichCompare(a, b, (int)op);
    if (r == NULL) return R_DECLINE;
    int holds = r == Py_True;
    Py_DECREF(r);
    return holds;
}

static int r_check(PyObject *node, PyObject *d, Py_ssize_t *budget, int depth);
static int r_holds(PyObject *wanted, PyObject *c);
static int r_compare(PyObject *node, long code, PyObject *x, PyObject *d);

/* rules._compile_certificate's check: some certificate of the view's list (an exact dict) has every wanted
   property; ``wanted`` a tuple of (name, value, is_issuer). The list's length is spent first, as _spend does. */
static int r_certificate(PyObject *wanted, PyObject *d, Py_ssize_t *budget)
{
    PyObject *certificates = PyDict_GetItemWithError(d, CERTIFICATES_KEY);
    if (certificates == NULL) return PyErr_Occurred() ? R_DECLINE : 0;
    int kind = r_kind(certificates);
    if (kind == K_OTHER) return R_DECLINE;
    if (kind != K_LIST) return 0;
    Py_ssize_t n = Py_SIZE(certificates);
    if (n > *budget) return R_DECLINE; /* the Python engine refuses the decision */
    *budget -= n;
    Py_INCREF(certificates);
    int found = 0;
    for (Py_ssize_t i = 0; i < Py_SIZE(certificates) && !found; i++) {
        PyObject *c = PyList_CheckExact(certificates) ? PyList_GET_ITEM(certificates, i)
                                                      : PyTuple_GET_ITEM(certificates, i);
        if (!PyDict_CheckExact(c)) {
            if (r_kind(c) == K_OTHER) found = R_DECLINE;
            continue;
        }
        Py_INCREF(c);
        found = r_holds(wanted, c);
        Py_DECREF(c);
    }
    Py_DECREF(certificates);
    return found;
}

/* Every wanted property holds for the certificate ``c`` (an exact dict), or R_DECLINE. */
static int r_holds(PyObject *wanted, PyObject *c)
{
    Py_ssize_t w = PyTuple_GET_SIZE(wanted);
    int all = 1;
    for (Py_ssize_t j = 0; j < w && all; j++) {
        PyObject *want = PyTuple_GET_ITEM(wanted, j);
        if (!PyTuple_CheckExact(want) || PyTuple_GET_SIZE(want) != 3) return R_DECLINE;
        PyObject *key = PyTuple_GET_ITEM(want, 0), *value = PyTuple_GET_ITEM(want, 1);
        PyObject *have = PyDict_GetItemWithError(c, key);
        if (have == NULL && PyErr_Occurred()) return R_DECLINE;
        if (PyTuple_GET_ITEM(want, 2) == Py_True) { /* c.get("issuer") in (issuers, ...) */
            if (!PyTuple_CheckExact(value)) return R_DECLINE;
            if (have == NULL) have = Py_None;
            int hk = r_kind(have);
            if (hk == K_OTHER) return R_DECLINE;
            all = 0;
            if (PyUnicode_CheckExact(have)) {
                for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(value) && !all; k++) {
                    int e = r_equal(PyTuple_GET_ITEM(value, k), have);
                    if (e < 0) return R_DECLINE;
                    all = e;
                }
            }
        } else { /* _same(c.get(name, _MISSING), value): missing is no value */
            if (have == NULL) {
                all = 0;
                continue;
            }
            int s = r_same(have, value);
            if (s < 0) return R_DECLINE;
            all = s;
        }
    }
    return all;
}

static int r_check(PyObject *node, PyObject *d, Py_ssize_t *budget, int depth)
{
    if (depth > RULES_DEPTH || !PyTuple_CheckExact(node) || PyTuple_GET_SIZE(node) < 2) return R_DECLINE;
    PyObject *code_obj = PyTuple_GET_ITEM(node, 0);
    long code = PyLong_CheckExact(code_obj) ? PyLong_AsLong(code_obj) : -1;
    if (code == -1) PyErr_Clear();
    PyObject *arg = PyTuple_GET_ITEM(node, 1);
    switch (code) {
    case R_ALL:
    case R_ANY: {
        if (!PyTuple_CheckExact(arg)) return R_DECLINE;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(arg); i++) {
            int r = r_check(PyTuple_GET_ITEM(arg, i), d, budget, depth + 1);
            if (r < 0) return R_DECLINE;
            if (r == (code == R_ANY)) return r;
        }
        return code == R_ALL;
    }
    case R_NOT: {
        int r = r_check(arg, d, budget, depth + 1);
        return r < 0 ? R_DECLINE : !r;
    }
    case R_CERT:
        return PyTuple_CheckExact(arg) ? r_certificate(arg, d, budget) : R_DECLINE;
    case R_EXISTS:
    case R_ABSENT:
        break;
    case R_EQ:
    case R_NE:
    case R_IN:
    case R_NOT_IN:
    case R_REF_EQ:
    case R_REF_NE:
        if (PyTuple_GET_SIZE(node) != 3) return R_DECLINE;
        break;
    case R_ORDER:
    case R_REF_ORDER:
        if (PyTuple_GET_SIZE(node) != 4) return R_DECLINE;
        break;
    default:
        return R_DECLINE;
    }
    if (!PyTuple_CheckExact(arg) || PyTuple_GET_SIZE(arg) < 1) return R_DECLINE;
    PyObject *x = r_get(d, arg);
    if (x == R_BAIL) return R_DECLINE;
    int r = r_compare(node, code, x, d);
    Py_XDECREF(x);
    return r;
}

/* A comparison node's answer for ``x``, the value at its field (NULL: missing). */
static int r_compare(PyObject *node, long code, PyObject *x, PyObject *d)
{
    switch (code) {
    case R_EXISTS:
        return x != NULL;
    case R_ABSENT:
        return x == NULL;
    case R_EQ:
    case R_NE: { /* _equal_to; ``!=``: present and not _same */
        if (x == NULL) return 0;
        int s = r_same(x, PyTuple_GET_ITEM(node, 2));
        return s < 0 ? R_DECLINE : (code == R_EQ ? s : !s);
    }
    case R_IN:
    case R_NOT_IN: { /* _member_of: missing is false either way; a list or an object is in no list of scalars */
        if (x == NULL) return 0;
        int inside = code == R_IN;
        if (r_kind(x) != K_SCALAR) return !inside;
        PyObject *options = PyTuple_GET_ITEM(node, 2);
        if (!PyTuple_CheckExact(options)) return R_DECLINE;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(options); i++) {
            int s = r_same_scalar(x, PyTuple_GET_ITEM(options, i));
            if (s < 0) return R_DECLINE;
            if (s) return inside;
        }
        return !inside;
    }
    case R_ORDER: /* _ordered: a number, compared */
        if (x == NULL || !r_number(x)) return 0;
        return r_order(x, PyTuple_GET_ITEM(node, 2), PyTuple_GET_ITEM(node, 3));
    case R_REF_ORDER: {
        if (x == NULL || !r_number(x)) return 0;
        PyObject *other = PyTuple_GET_ITEM(node, 2);
        PyObject *y = PyTuple_CheckExact(other) ? r_get(d, other) : R_BAIL;
        if (y == R_BAIL) return R_DECLINE;
        int r = y != NULL && r_number(y) ? r_order(x, y, PyTuple_GET_ITEM(node, 3)) : 0;
        Py_XDECREF(y);
        return r;
    }
    case R_REF_EQ:
    case R_REF_NE: { /* _compare_fields: both present, and _same (or not) */
        if (x == NULL) return 0;
        PyObject *other = PyTuple_GET_ITEM(node, 2);
        PyObject *y = PyTuple_CheckExact(other) ? r_get(d, other) : R_BAIL;
        if (y == R_BAIL) return R_DECLINE;
        if (y == NULL) return 0;
        int s = r_same(x, y);
        Py_DECREF(y);
        return s < 0 ? R_DECLINE : (code == R_REF_EQ ? s : !s);
    }
    default:
        return R_DECLINE;
    }
}

/* program: (rules, outcomes, default) with rules a tuple of (condition, outcome rank, reason, rule id), outcomes the
   names by rank (OUTCOMES' order of precedence) and default the result when no rule fires. */
static PyObject *rules_evaluate(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != 3 || !PyDict_CheckExact(args[1]) ||
        !PyLong_CheckExact(args[2]))
        Py_RETURN_NONE;
    PyObject *rules = PyTuple_GET_ITEM(args[0], 0), *outcomes = PyTuple_GET_ITEM(args[0], 1);
    PyObject *fallback = PyTuple_GET_ITEM(args[0], 2);
    if (!PyTuple_CheckExact(rules) || !PyTuple_CheckExact(outcomes) || PyTuple_GET_SIZE(rules) > RULES_MAX ||
        !PyTuple_CheckExact(fallback) || PyTuple_GET_SIZE(fallback) != 3)
        Py_RETURN_NONE;
    Py_ssize_t budget = PyLong_AsSsize_t(args[2]);
    if (budget < 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(rules), count = 0;
    unsigned char fired[RULES_MAX];
    long best = LONG_MAX;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rule = PyTuple_GET_ITEM(rules, i);
        if (!PyTuple_CheckExact(rule) || PyTuple_GET_SIZE(rule) != 4) Py_RETURN_NONE;
        int r = r_check(PyTuple_GET_ITEM(rule, 0), args[1], &budget, 0);
        if (r < 0) {
            PyErr_Clear();
            Py_RETURN_NONE;
        }
        fired[i] = (unsigned char)r;
        if (r) {
            PyObject *rank_obj = PyTuple_GET_ITEM(rule, 1);
            long rank = PyLong_CheckExact(rank_obj) ? PyLong_AsLong(rank_obj) : -1;
            if (rank < 0 || rank >= PyTuple_GET_SIZE(outcomes)) {
                PyErr_Clear();
                Py_RETURN_NONE;
            }
            if (rank < best) best = rank;
            count++;
        }
    }
    if (count == 0) return Py_NewRef(fallback);
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (fired[i] && PyLong_AsLong(PyTuple_GET_ITEM(PyTuple_GET_ITEM(rules, i), 1)) == best) kept++;
    }
    PyObject *reasons = PyTuple_New(kept), *ids = PyTuple_New(count);
    if (reasons == NULL || ids == NULL) {
        Py_XDECREF(reasons);
        Py_XDECREF(ids);
        return NULL;
    }
    Py_ssize_t r = 0, f = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!fired[i]) continue;
        PyObject *rule = PyTuple_GET_ITEM(rules, i);
        PyTuple_SET_ITEM(ids, f++, Py_NewRef(PyTuple_GET_ITEM(rule, 3)));
        if (PyLong_AsLong(PyTuple_GET_ITEM(rule, 1)) == best) PyTuple_SET_ITEM(reasons, r++, Py_NewRef(PyTuple_GET_ITEM(rule, 2)));
    }
    PyObject *result = PyTuple_Pack(3, PyTuple_GET_ITEM(outcomes, best), reasons, ids);
    Py_DECREF(reasons);
    Py_DECREF(ids);
    return result;
}

/* -- verify_many's certificate digest in one call (certificate.py: ``CertificateDocument.digest``) -------------

   document_digest(fields, salts, hidden, least, field_prefix, cert_prefix, fmt, tag, schema) -> bytes | None

   SHA-256(tag || schema || fields digest), the fields digest being tagged_digest(cert_prefix, hashes, fmt) of
   ``hashes`` = field_hashes(fields, salts) updated with ``hidden``: what ``certificate_digest(doc._field_hashes(),
   type, fmt)`` gives, in one call instead of a dict of hashes, an update, the tagged digest and the type's layer
   (the caller hands the type's ``schema``, keccak256 of the type's name, which it looked up). None (the caller runs
   the Python code, errors included) for anything but the plain case: mappings that are not exact dicts, a field
   or hidden name that is not printable ASCII, a salt missing, not exact bytes or shorter than ``least``, a hidden
   hash that is not exact bytes, a name both disclosed and hidden (the update's order decides there: the Python
   code answers), a schema that is not 32 exact bytes, and a value that is not one plain_scalar or a printable
   exact str writes (field_hashes hands those to canonical_json; here there is no writer to call: calling None
   raises, and hash_field declines), or a salt named by anything but an exact str. So no Python code runs in this
   call (a look-up among exact str keys compares in C): the dicts cannot change while they are read, and every
   name, salt and hash read stays alive to the digest. */
static PyObject *document_digest(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError,
                        "document_digest(fields, salts, hidden, least, field_prefix, cert_prefix, fmt, tag, schema)");
        return NULL;
    }
    PyObject *fields = args[0], *salts = args[1], *hidden = args[2], *field_prefix = args[4], *cert_prefix = args[5];
    PyObject *tag = args[7], *schema = args[8];
    Py_ssize_t least = PyLong_AsSsize_t(args[3]);
    if (least == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t fmt_size;
    const char *fmt = plain_format(args[6], &fmt_size);
    if (!PyDict_CheckExact(fields) || !PyDict_CheckExact(salts) || !PyDict_CheckExact(hidden)
        || !PyBytes_CheckExact(field_prefix) || !PyBytes_CheckExact(cert_prefix) || !PyBytes_CheckExact(tag)
        || !PyBytes_CheckExact(schema) || PyBytes_GET_SIZE(schema) != HASH_BYTES || fmt == NULL)
        Py_RETURN_NONE;
    PyObject *name, *value;
    Py_ssize_t pos = 0, i = 0;
    while (PyDict_Next(salts, &pos, &name, &value)) {
        if (!PyUnicode_CheckExact(name)) Py_RETURN_NONE;
    }
    Py_ssize_t disclosed = PyDict_GET_SIZE(fields), n = disclosed + PyDict_GET_SIZE(hidden);
    Member *members = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Member));
    unsigned char *hashes = PyMem_Malloc((size_t)(disclosed ? disclosed : 1) * HASH_BYTES);
    PyObject *result = NULL;
    if (members == NULL || hashes == NULL) {
        PyErr_NoMemory();
        goto end;
    }
    pos = 0;
    while (PyDict_Next(fields, &pos, &name, &value)) {
        if (i >= disclosed || !plain_name(name)) goto fallback;  /* (no more than it had: nothing edits it) */
        PyObject *salt = PyDict_GetItemWithError(salts, name);  /* borrowed; an exact str key: no Python code runs */
        if (salt == NULL) {
            if (PyErr_Occurred()) goto end;
            goto fallback;
        }
        if (!PyBytes_CheckExact(salt) || PyBytes_GET_SIZE(salt) < least) goto fallback;
        int done = hash_field(name, value, PyBytes_AS_STRING(salt), PyBytes_GET_SIZE(salt), field_prefix, Py_None,
                              hashes + i * HASH_BYTES);
        if (done != DONE) {  /* a value for canonical_json: calling None raised a TypeError, cleared (or worse) */
            if (done == FAILED) goto end;
            goto fallback;
        }
        members[i].name = PyUnicode_AsUTF8AndSize(name, &members[i].name_size);  /* ASCII: cannot fail */
        members[i].hash = hashes + i * HASH_BYTES;
        members[i].hash_size = HASH_BYTES;
        i++;
    }
    pos = 0;
    while (PyDict_Next(hidden, &pos, &name, &value)) {
        if (i >= n || !plain_name(name) || !PyBytes_CheckExact(value)) goto fallback;
        int both = PyDict_Contains(fields, name);  /* an exact str key: no Python code runs */
        if (both < 0) goto end;
        if (both) goto fallback;
        members[i].name = PyUnicode_AsUTF8AndSize(name, &members[i].name_size);
        members[i].hash = (const unsigned char *)PyBytes_AS_STRING(value);
        members[i].hash_size = PyBytes_GET_SIZE(value);
        i++;
    }
    unsigned char fields_digest[HASH_BYTES], out[HASH_BYTES];
    tagged_digest(members, i, fmt, fmt_size, PyBytes_AS_STRING(cert_prefix), PyBytes_GET_SIZE(cert_prefix),
                  fields_digest);
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, PyBytes_AS_STRING(tag), (size_t)PyBytes_GET_SIZE(tag));
    SHA256_Update(&ctx, PyBytes_AS_STRING(schema), HASH_BYTES);
    SHA256_Update(&ctx, fields_digest, HASH_BYTES);
    SHA256_Final(out, &ctx);
    result = PyBytes_FromStringAndSize((const char *)out, HASH_BYTES);
    goto end;
fallback:
    result = Py_NewRef(Py_None);
end:
    PyMem_Free(members);
    PyMem_Free(hashes);
    return result;
}

/* ---- replay's facts check (ledger/services/replay.py, _Facts.check_reference) ----------------------------------

   facts_check(body, decision_input, department, anchor, moments, judged, judge, cache, erased, shredded, status_of,
   reference) -> (findings, views) | None: one decision's facts check, _Facts.check_reference's findings (a list of
   (check, detail), in its order, with its texts) and its return value (the rules' view of each fact, or None), or
   None (declined: the Python reference checks the whole decision, from its start). It declines on anything it does
   not take: a value of another type than the reference's own (a subclass, a tuple where JSON has a list), a moment
   not parsed yet, facts not established yet, an erased citation (its fact is re-established from the store), a
   holding through another field than its type's (held_by_other_field), a finding that would show a list or an
   object, any error (a callback's included; they are pure: the reference calls them again). It reads what
   _Facts keeps (moments, judged, cache, erased, shredded) and calls back for what needs the chain or the secret:
   judge(department, block, decided, anchor, body) -> (ok, findings) (_Facts._judge), status_of(fact, block) -> str
   (_Facts._status_of), reference(department, identity) -> str (applicant_reference). No user code runs otherwise:
   every value compared is of an exact JSON type, and every value read is held by a reference of its own. */

enum {
    FK_CERTIFICATES, FK_DECIDED_AT, FK_AS_OF_BLOCK, FK_INPUT_DIGEST, FK_APPLICANT_REF, FK_CONFIRMATIONS, FK_DOCUMENT_REF,
    FK_BLOCK_NUMBER, FK_DIGEST, FK_TYPE, FK_VERIFIED, FK_STATUS, FK_EXPIRED, FK_HOLDER, FK_ISSUER, FK_ROOT,
    FK_ANCHORED_BLOCK, FK_FAILED, FK_SUBJECT_IDS, FK_ANY_IDS, FK_NOT_FOUND, FK_CITATION_INVALID, FK_UNKNOWN,
    FK_CERTIFICATE_FACTS, FK_FACTS_BLOCK_INVALID, FK_SEPARATOR, FK_COUNT
};
static const char *FACTS_KEY_NAMES[FK_COUNT] = {
    "certificates", "decided_at", "as_of_block", "input_digest", "applicant_ref", "confirmations", "document_ref",
    "block_number", "digest", "type", "verified", "status", "expired", "holder", "issuer", "root",
    "anchored_block", "failed", "subject_ids", "any_ids", "not_found", "citation_invalid", "unknown",
    "certificate_facts", "facts_block_invalid", "; ",
};
static PyObject *FK[FK_COUNT];

/* the recorded fields compared, in _FACT_FIELDS order, and the index of each in a fact's values */
#define FACT_FIELDS 6
static const int FACT_FIELD_KEYS[FACT_FIELDS] = {FK_DIGEST, FK_TYPE, FK_VERIFIED, FK_STATUS, FK_EXPIRED, FK_HOLDER};

typedef struct {
    PyObject *digest, *type, *verified, *status, *expired, *anchored, *issuer, *root, *holder, *subject_ids,
        *any_ids, *failed;
} FactAttrs;

static void fact_attrs_clear(FactAttrs *f)
{
    Py_CLEAR(f->digest);
    Py_CLEAR(f->type);
    Py_CLEAR(f->verified);
    Py_CLEAR(f->status);
    Py_CLEAR(f->expired);
    Py_CLEAR(f->anchored);
    Py_CLEAR(f->issuer);
    Py_CLEAR(f->root);
    Py_CLEAR(f->holder);
    Py_CLEAR(f->subject_ids);
    Py_CLEAR(f->any_ids);
    Py_CLEAR(f->failed);
}

/* a new reference to d[key], or to None when it has no such key; NULL on an error */
static PyObject *f_get(PyObject *d, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    return Py_NewRef(v);
}

/* a value of an exact JSON type (str, int, float, bool, None, list, dict): comparing one with a str, a bool or None
   runs no user code */
static int f_json(PyObject *v)
{
    return v == Py_None || PyUnicode_CheckExact(v) || PyLong_CheckExact(v) || PyBool_Check(v) || PyFloat_CheckExact(v) ||
           PyList_CheckExact(v) || PyDict_CheckExact(v);
}

static int f_tuple_of_str(PyObject *v)
{
    if (!PyTuple_CheckExact(v)) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v); i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(v, i))) return 0;
    }
    return 1;
}

/* a fact's attributes, each of the type the reference's facts have (1), or not (0), or an error (-1) */
static int f_read_fact(PyObject *fact, FactAttrs *f)
{
    PyObject **slots[] = {&f->digest,   &f->type, &f->verified, &f->status, &f->expired,     &f->anchored,
                          &f->issuer,   &f->root, &f->holder,   &f->subject_ids, &f->any_ids, &f->failed};
    static const int names[] = {FK_DIGEST, FK_TYPE,   FK_VERIFIED,    FK_STATUS,  FK_EXPIRED, FK_ANCHORED_BLOCK,
                                FK_ISSUER, FK_ROOT,   FK_HOLDER,      FK_SUBJECT_IDS, FK_ANY_IDS, FK_FAILED};
    for (int i = 0; i < 12; i++) {
        if ((*slots[i] = PyObject_GetAttr(fact, FK[names[i]])) == NULL) return -1;
    }
#define STR_OR_NONE(v) ((v) == Py_None || PyUnicode_CheckExact(v))
#define BOOL_OR_NONE(v) ((v) == Py_None || PyBool_Check(v))
    return STR_OR_NONE(f->digest) && STR_OR_NONE(f->type) && PyBool_Check(f->verified) && PyUnicode_CheckExact(f->status) &&
           BOOL_OR_NONE(f->expired) && (f->anchored == Py_None || PyLong_CheckExact(f->anchored)) &&
           STR_OR_NONE(f->issuer) && STR_OR_NONE(f->root) && BOOL_OR_NONE(f->holder) && f_tuple_of_str(f->subject_ids) &&
           f_tuple_of_str(f->any_ids) && f_tuple_of_str(f->failed);
#undef STR_OR_NONE
#undef BOOL_OR_NONE
}

/* failed == (name,) for a tuple of str */
static int f_failed_is(PyObject *failed, PyObject *name)
{
    return PyTuple_GET_SIZE(failed) == 1 && PyUnicode_Compare(PyTuple_GET_ITEM(failed, 0), name) == 0;
}

/* str.strip() is not empty: a character that is not Unicode whitespace */
static int f_not_blank(PyObject *s)
{
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(s); i++) {
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) return 1;
    }
    return 0;
}

/* any(reference(department, i) == applicant for i in ids if i.strip()): 1, 0, -1 on an error, -2 declined */
static int f_held(PyObject *ids, PyObject *reference, PyObject *department, PyObject *applicant)
{
    PyObject *held = Py_NewRef(ids);
    int found = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(held) && !found; i++) {
        PyObject *identity = PyTuple_GET_ITEM(held, i);
        if (!f_not_blank(identity)) continue;
        PyObject *ref = PyObject_CallFunctionObjArgs(reference, department, identity, NULL);
        if (ref == NULL) {
            found = -1;
            break;
        }
        if (!PyUnicode_CheckExact(ref))
            found = -2;
        else
            found = PyUnicode_Compare(ref, applicant) == 0;
        Py_DECREF(ref);
    }
    Py_DECREF(held);
    return found;
}

/* the truth of a == b (op Py_EQ) or a != b (Py_NE) for values of exact JSON types: 1, 0, -1 on an error */
static int f_compare(PyObject *a, PyObject *b, int op)
{
    PyObject *r = PyObject_RichCompare(a, b, op);
    if (r == NULL) return -1;
    int truth = PyObject_IsTrue(r);
    Py_DECREF(r);
    return truth;
}

/* a findings list with one (check, detail), the detail stolen; NULL on an error */
static int f_add(PyObject *findings, PyObject *check, PyObject *detail)
{
    if (detail == NULL) return -1;
    PyObject *pair = PyTuple_Pack(2, check, detail);
    Py_DECREF(detail);
    if (pair == NULL) return -1;
    int r = PyList_Append(findings, pair);
    Py_DECREF(pair);
    return r;
}

static PyObject *facts_check(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 12) Py_RETURN_NONE;
    PyObject *body = args[0], *decision_input = args[1], *department = args[2], *anchor = args[3], *moments = args[4];
    PyObject *judged = args[5], *judge = args[6], *cache = args[7], *erased = args[8], *shredded = args[9];
    PyObject *status_of = args[10], *reference = args[11];
    if (!PyDict_CheckExact(body) || !PyDict_CheckExact(decision_input) || !PyUnicode_CheckExact(department) ||
        !PyDict_CheckExact(moments) || !PyDict_CheckExact(judged) || !PyDict_CheckExact(cache) ||
        (erased != Py_None && !PyDict_CheckExact(erased)) || !PyDict_CheckExact(shredded))
        Py_RETURN_NONE;
    PyObject *result = NULL, *recorded = NULL, *moment = NULL, *decided = NULL, *cited = NULL, *rec = NULL;
    PyObject *block = NULL, *findings = NULL, *now = NULL, *facts = NULL, *applicant = NULL, *anchor_block = NULL;
    PyObject *verdict = NULL, *views = NULL, *key = NULL, *found = NULL;
    FactAttrs *attrs = NULL;
    Py_ssize_t n = 0;
    if ((findings = PyList_New(0)) == NULL) goto decline;
    if ((recorded = f_get(body, FK[FK_CERTIFICATES])) == NULL || (moment = f_get(body, FK[FK_DECIDED_AT])) == NULL)
        goto decline;
    if (!PyUnicode_CheckExact(moment)) goto decline; /* parsed by the reference (and kept, when it is text) */
    if ((decided = PyDict_GetItemWithError(moments, moment)) == NULL) goto decline;
    Py_INCREF(decided);
    if ((found = f_get(decision_input, FK[FK_CERTIFICATES])) == NULL) goto decline;
    if (PyList_CheckExact(found))
        cited = PyList_AsTuple(found);
    else if (PyTuple_CheckExact(found))
        cited = Py_NewRef(found);
    else if (PyList_Check(found) || PyTuple_Check(found))
        goto decline;
    else
        cited = PyTuple_New(0);
    if (cited == NULL) goto decline;
    n = PyTuple_GET_SIZE(cited);
    if (PyList_CheckExact(recorded)) {
        if ((rec = PyList_AsTuple(recorded)) == NULL) goto decline;
    } else if (PyList_Check(recorded))
        goto decline;
    if (rec == NULL || PyTuple_GET_SIZE(rec) != n || decided == Py_None) {
        if (f_add(findings, FK[FK_CERTIFICATE_FACTS],
                  PyUnicode_FromFormat("the decision records %zd certificate facts for %zd cited certificates",
                                       rec == NULL ? (Py_ssize_t)0 : PyTuple_GET_SIZE(rec), n)) < 0)
            goto decline;
        result = PyTuple_Pack(2, findings, Py_None);
        goto done;
    }
    if ((block = f_get(body, FK[FK_AS_OF_BLOCK])) == NULL) goto decline;
    int block_ok = PyLong_CheckExact(block);
    if (!block_ok && PyLong_Check(block) && !PyBool_Check(block)) goto decline; /* an int of another type */
    for (Py_ssize_t i = 0; block_ok && i < n; i++) {
        PyObject *theirs = PyTuple_GET_ITEM(rec, i);
        if (!PyDict_Check(theirs)) {
            block_ok = 0;
            break;
        }
        if (!PyDict_CheckExact(theirs)) goto decline;
        PyObject *stated = f_get(theirs, FK[FK_AS_OF_BLOCK]);
        if (stated == NULL) goto decline;
        int other = f_json(stated) ? f_compare(stated, block, Py_NE) : -1;
        Py_DECREF(stated);
        if (other < 0) goto decline;
        if (other) block_ok = 0;
    }
    if (!block_ok) {
        /* its repr in the detail: a list or an object is the reference's to show */
        if (!f_json(block) || PyList_CheckExact(block) || PyDict_CheckExact(block)) goto decline;
        if (f_add(findings, FK[FK_FACTS_BLOCK_INVALID],
                  PyUnicode_FromFormat("the decision and its certificate facts name no single block they were judged "
                                       "at (as_of_block %R)",
                                       block)) < 0)
            goto decline;
        result = PyTuple_Pack(2, findings, Py_None);
        goto done;
    }
    /* every fact read and checked before anything is judged, so that a declined decision called back nothing */
    if (n > 0) {
        PyObject *digest_key = f_get(body, FK[FK_INPUT_DIGEST]);
        if (digest_key == NULL) goto decline;
        key = PyTuple_Pack(2, digest_key, moment);
        Py_DECREF(digest_key);
        if (key == NULL) goto decline;
        if ((now = PyDict_GetItemWithError(cache, key)) == NULL) goto decline; /* established by the reference */
        if (PyList_CheckExact(now))
            facts = PyList_AsTuple(now);
        else if (PyTuple_CheckExact(now))
            facts = Py_NewRef(now);
        else
            goto decline;
        now = NULL;
        if (facts == NULL || PyTuple_GET_SIZE(facts) != n) goto decline;
        if ((applicant = f_get(body, FK[FK_APPLICANT_REF])) == NULL) goto decline;
        if (PyUnicode_Check(applicant) && !PyUnicode_CheckExact(applicant)) goto decline;
        if ((attrs = PyMem_Calloc((size_t)n, sizeof(FactAttrs))) == NULL) goto decline;
        for (Py_ssize_t i = 0; i < n; i++) {
            FactAttrs *f = &attrs[i];
            if (f_read_fact(PyTuple_GET_ITEM(facts, i), f) != 1) goto decline;
            /* _erased_citation: a lawfully erased certificate's fact is re-established from the store */
            if (f_failed_is(f->failed, FK[FK_NOT_FOUND])) {
                if (erased == Py_None) goto decline; /* read by the reference, once */
                int gone = PyDict_Contains(erased, f->digest);
                if (gone != 0) goto decline;
            }
            PyObject *citation = PyTuple_GET_ITEM(cited, i);
            if (PyDict_Check(citation) && !PyDict_CheckExact(citation)) goto decline; /* its own get() */
            if (!PyDict_Check(citation) || !f_failed_is(f->failed, FK[FK_CITATION_INVALID])) continue;
            PyObject *ref = f_get(citation, FK[FK_DOCUMENT_REF]);
            if (ref == NULL) goto decline;
            if (!PyUnicode_Check(ref)) {
                Py_DECREF(ref);
                continue;
            }
            PyObject *named = PyUnicode_CheckExact(ref) ? f_get(shredded, ref) : NULL;
            Py_DECREF(ref);
            if (named == NULL) goto decline;
            if (named == Py_None) {
                Py_DECREF(named);
                continue;
            }
            PyObject *stated = PyUnicode_CheckExact(named) ? f_get(PyTuple_GET_ITEM(rec, i), FK[FK_DIGEST]) : NULL;
            int same = stated != NULL && f_json(stated) ? f_compare(named, stated, Py_EQ) : -1;
            Py_XDECREF(stated);
            int gone = same == 1 ? (erased == Py_None ? -1 : PyDict_Contains(erased, named)) : same;
            Py_DECREF(named);
            if (gone != 0) goto decline;
        }
    }
    /* _judge: when and by whom, kept per chunk */
    if (anchor == Py_None)
        anchor_block = Py_NewRef(Py_None);
    else if ((anchor_block = PyObject_GetAttr(anchor, FK[FK_BLOCK_NUMBER])) == NULL)
        goto decline;
    Py_CLEAR(key);
    if ((key = PyTuple_Pack(4, department, block, moment, anchor_block)) == NULL) goto decline;
    verdict = PyDict_GetItemWithError(judged, key);
    if (verdict != NULL)
        Py_INCREF(verdict);
    else if (PyErr_Occurred() ||
             (verdict = PyObject_CallFunctionObjArgs(judge, department, block, decided, anchor, body, NULL)) == NULL)
        goto decline;
    if (!PyTuple_CheckExact(verdict) || PyTuple_GET_SIZE(verdict) != 2 || !PyBool_Check(PyTuple_GET_ITEM(verdict, 0)) ||
        !PyList_CheckExact(PyTuple_GET_ITEM(verdict, 1)))
        goto decline;
    PyObject *noted = PyTuple_GET_ITEM(verdict, 1);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(noted); i++) {
        PyObject *pair = PyList_GET_ITEM(noted, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 || PyList_Append(findings, pair) < 0) goto decline;
    }
    if (PyTuple_GET_ITEM(verdict, 0) == Py_False) {
        result = PyTuple_Pack(2, findings, Py_None);
        goto done;
    }
    if ((views = PyList_New(n)) == NULL) goto decline;
    for (Py_ssize_t i = 0; i < n; i++) {
        FactAttrs *f = &attrs[i];
        PyObject *theirs = PyTuple_GET_ITEM(rec, i), *fact = PyTuple_GET_ITEM(facts, i);
        PyObject *depth = PyDict_GetItemWithError(theirs, FK[FK_CONFIRMATIONS]);
        if (depth == NULL && PyErr_Occurred()) goto decline;
        if (depth != NULL && PyLong_Check(depth) && !PyBool_Check(depth) && !PyLong_CheckExact(depth)) goto decline;
        if (depth == NULL || !PyLong_CheckExact(depth)) depth = NULL; /* 0 */
        Py_XINCREF(depth);
        int verified = f->verified == Py_True;
        PyObject *status = Py_NewRef(f->status), *expired = Py_NewRef(f->expired);
        int settled = 0;
        if (verified && f->anchored != Py_None) {
            int later = PyObject_RichCompareBool(f->anchored, block, Py_GT);
            int shallow = 0;
            if (later == 0) {
                PyObject *age = PyNumber_Subtract(block, f->anchored);
                if (age == NULL)
                    shallow = -1;
                else {
                    PyObject *zero = depth == NULL ? PyLong_FromLong(0) : Py_NewRef(depth);
                    shallow = zero == NULL ? -1 : PyObject_RichCompareBool(age, zero, Py_LT);
                    Py_XDECREF(zero);
                    Py_DECREF(age);
                }
            }
            if (later < 0 || shallow < 0) {
                Py_XDECREF(depth);
                Py_DECREF(status);
                Py_DECREF(expired);
                goto decline;
            }
            if (later || shallow) {
                /* anchored after the decision block, or not yet deep enough at it */
                verified = 0;
                Py_SETREF(status, Py_NewRef(FK[FK_UNKNOWN]));
                if (later) Py_SETREF(expired, Py_NewRef(Py_None));
                settled = 1;
            }
        }
        Py_XDECREF(depth);
        if (!settled && verified && f->issuer != Py_None && PyUnicode_GET_LENGTH(f->issuer) &&
            f->root != Py_None && PyUnicode_GET_LENGTH(f->root) && f->digest != Py_None &&
            PyUnicode_GET_LENGTH(f->digest)) {
            PyObject *chain = PyObject_CallFunctionObjArgs(status_of, fact, block, NULL);
            if (chain == NULL || !PyUnicode_CheckExact(chain)) {
                Py_XDECREF(chain);
                Py_DECREF(status);
                Py_DECREF(expired);
                goto decline;
            }
            Py_SETREF(status, chain);
        }
        PyObject *holder = Py_NewRef(f->holder);
        if (PyUnicode_Check(applicant)) {
            int held = verified ? f_held(f->subject_ids, reference, department, applicant) : 0;
            if (held == 0 && verified) {
                PyObject *stated = PyDict_GetItemWithError(theirs, FK[FK_HOLDER]);
                if (stated == Py_True) {
                    int other = f_held(f->any_ids, reference, department, applicant);
                    held = other == 0 ? 0 : (other == 1 ? -2 : other); /* held_by_other_field: the reference's */
                } else if (stated == NULL && PyErr_Occurred())
                    held = -1;
            }
            if (held < 0) {
                Py_DECREF(holder);
                Py_DECREF(status);
                Py_DECREF(expired);
                goto decline;
            }
            Py_SETREF(holder, Py_NewRef(held ? Py_True : Py_False));
        }
        PyObject *mine[FACT_FIELDS] = {f->digest, f->type, verified ? Py_True : Py_False, status, expired, holder};
        PyObject *stated[FACT_FIELDS] = {NULL};
        int agree = 1, failed = 0;
        for (int k = 0; k < FACT_FIELDS && !failed; k++) {
            if ((stated[k] = f_get(theirs, FK[FACT_FIELD_KEYS[k]])) == NULL || !f_json(stated[k])) {
                failed = 1;
                break;
            }
            if (agree) {
                int same = f_compare(stated[k], mine[k], Py_EQ);
                if (same < 0) failed = 1;
                agree = same == 1;
            }
        }
        PyObject *parts = NULL;
        if (!failed && !agree && (parts = PyList_New(0)) == NULL) failed = 1;
        for (int k = 0; k < FACT_FIELDS && !failed && !agree; k++) {
            int other = f_compare(stated[k], mine[k], Py_NE);
            if (other < 0 || (other && (PyList_CheckExact(stated[k]) || PyDict_CheckExact(stated[k])))) {
                failed = 1; /* a list or an object shown: the reference's */
                break;
            }
            if (!other) continue;
            PyObject *part = PyUnicode_FromFormat("%U: recorded %R, the chain says %R", FK[FACT_FIELD_KEYS[k]],
                                                  stated[k], mine[k]);
            if (part == NULL || PyList_Append(parts, part) < 0) failed = 1;
            Py_XDECREF(part);
        }
        if (!failed && parts != NULL && PyList_GET_SIZE(parts) > 0) {
            PyObject *joined = PyUnicode_Join(FK[FK_SEPARATOR], parts);
            PyObject *head = joined == NULL ? NULL
                                            : PyUnicode_FromFormat("certificate %zd (%S) as of block %S: ", i + 1,
                                                                   f->digest, block);
            PyObject *detail = head == NULL ? NULL : PyUnicode_Concat(head, joined);
            Py_XDECREF(joined);
            Py_XDECREF(head);
            if (f_add(findings, FK[FK_CERTIFICATE_FACTS], detail) < 0) failed = 1;
        }
        Py_XDECREF(parts);
        for (int k = 0; k < FACT_FIELDS; k++) Py_XDECREF(stated[k]);
        PyObject *view = NULL;
        if (!failed) {
            /* CertificateFact.rule_view */
            view = PyDict_New();
            if (view == NULL || PyDict_SetItem(view, FK[FK_TYPE], f->type) < 0 ||
                PyDict_SetItem(view, FK[FK_DIGEST], f->digest) < 0 ||
                PyDict_SetItem(view, FK[FK_ISSUER], verified ? f->issuer : Py_None) < 0 ||
                PyDict_SetItem(view, FK[FK_VERIFIED], verified ? Py_True : Py_False) < 0 ||
                PyDict_SetItem(view, FK[FK_STATUS], status) < 0 || PyDict_SetItem(view, FK[FK_EXPIRED], expired) < 0 ||
                PyDict_SetItem(view, FK[FK_HOLDER], holder == Py_True ? Py_True : Py_False) < 0) {
                Py_CLEAR(view);
                failed = 1;
            }
        }
        Py_DECREF(holder);
        Py_DECREF(status);
        Py_DECREF(expired);
        if (failed) goto decline;
        PyList_SET_ITEM(views, i, view);
    }
    result = PyTuple_Pack(2, findings, views);
    goto done;
decline:
    PyErr_Clear();
    result = Py_NewRef(Py_None);
done:
    if (attrs != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) fact_attrs_clear(&attrs[i]);
        PyMem_Free(attrs);
    }
    Py_XDECREF(recorded);
    Py_XDECREF(moment);
    Py_XDECREF(decided);
    Py_XDECREF(found);
    Py_XDECREF(cited);
    Py_XDECREF(rec);
    Py_XDECREF(block);
    Py_XDECREF(findings);
    Py_XDECREF(facts);
    Py_XDECREF(applicant);
    Py_XDECREF(anchor_block);
    Py_XDECREF(verdict);
    Py_XDECREF(views);
    Py_XDECREF(key);
    if (result == NULL) { /* PyTuple_Pack failed: declined too */
        PyErr_Clear();
        result = Py_NewRef(Py_None);
    }
    return result;
}

/* The membership (Bloom) filter of a closed generation of certificate digests (ledger/formats/membership.py is the
   specification and the fallback). A digest is uniformly random, so its positions are taken from its own bytes, no
   hashing: h1 and h2 are its first two 8-byte words (little-endian, h2 made odd), position i is h1 + i * h2 modulo
   the filter's size in bits (a power of two). The filter is the caller's bytes; both functions read every length
   from the objects themselves and decline (None) a filter whose size is no power of two of at least 8 bytes or
   digests not a whole number of 32-byte digests. */

enum { MEMBERSHIP_POSITIONS = 11 };

static void membership_words(const unsigned char *d, uint64_t *h1, uint64_t *h2)
{
    uint64_t a = 0, b = 0;
    for (int i = 7; i >= 0; i--) {
        a = (a << 8) | d[i];
        b = (b << 8) | d[8 + i];
    }
    *h1 = a;
    *h2 = b | 1;
}

static int membership_size_ok(Py_ssize_t size)
{
    return size >= 8 && (size & (size - 1)) == 0;
}

static PyObject *membership_build(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyLong_CheckExact(args[1])) Py_RETURN_NONE;
    Py_ssize_t size = PyLong_AsSsize_t(args[1]);
    if (size == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (!membership_size_ok(size) || n % HASH_BYTES != 0) Py_RETURN_NONE;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) return NULL;
    unsigned char *bits = (unsigned char *)PyBytes_AS_STRING(out);
    memset(bits, 0, (size_t)size);
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    uint64_t mask = (uint64_t)size * 8 - 1;
    for (Py_ssize_t off = 0; off < n; off += HASH_BYTES) {
        uint64_t h1, h2;
        membership_words(d + off, &h1, &h2);
        for (uint64_t i = 0; i < MEMBERSHIP_POSITIONS; i++) {
            uint64_t pos = (h1 + i * h2) & mask;
            bits[pos >> 3] |= (unsigned char)(1u << (pos & 7));
        }
    }
    return out;
}

static PyObject *membership_maybe(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1])) Py_RETURN_NONE;
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]), n = PyBytes_GET_SIZE(args[1]);
    if (!membership_size_ok(size) || n % HASH_BYTES != 0) Py_RETURN_NONE;
    const unsigned char *bits = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    uint64_t mask = (uint64_t)size * 8 - 1;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (Py_ssize_t off = 0; off < n; off += HASH_BYTES) {
        uint64_t h1, h2;
        membership_words(d + off, &h1, &h2);
        int all = 1;
        for (uint64_t i = 0; i < MEMBERSHIP_POSITIONS && all; i++) {
            uint64_t pos = (h1 + i * h2) & mask;
            all = (bits[pos >> 3] >> (pos & 7)) & 1;
        }
        if (!all) continue;
        PyObject *index = PyLong_FromSsize_t(off / HASH_BYTES);
        if (index == NULL || PyList_Append(out, index) < 0) {
            Py_XDECREF(index);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(index);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"field_hashes", (PyCFunction)(void (*)(void))field_hashes, METH_FASTCALL,
     "field_hashes(fields, salts, prefix, least, canonical) -> dict | None"},
    {"tagged_digest", (PyCFunction)(void (*)(void))py_tagged_digest, METH_FASTCALL,
     "tagged_digest(prefix, hashes, fmt) -> bytes | None"},
    {"sealed_digest", (PyCFunction)(void (*)(void))sealed_digest, METH_FASTCALL,
     "sealed_digest(fields, randomness, offset, salt_bytes, field_prefix, cert_prefix, fmt, canonical) -> bytes | "
     "None"},
    {"input_hashes", (PyCFunction)(void (*)(void))input_hashes, METH_FASTCALL,
     "input_hashes(fields, secret, message, salt_bytes, prefix, canonical) -> dict | None"},
    {"json_plain", (PyCFunction)(void (*)(void))json_plain, METH_FASTCALL, "json_plain(value, budget) -> bool"},
    {"json_fast", (PyCFunction)(void (*)(void))json_fast, METH_FASTCALL, "json_fast(text, limit) -> bool"},
    {"flatten", (PyCFunction)(void (*)(void))flatten, METH_FASTCALL, "flatten(value, escape) -> dict | None"},
    {"input_commitments", (PyCFunction)(void (*)(void))input_commitments, METH_FASTCALL,
     "input_commitments(secret, items, salt_prefix, salt_bytes, field_prefix, prefix, fmt, skip, canonical) -> "
     "list[str | None] | None"},
    {"proof_walk", (PyCFunction)(void (*)(void))proof_walk, METH_FASTCALL,
     "proof_walk(digest, elements, text, root, nodes) -> (reached, walked) | None | NotImplemented"},
    {"document_parts", (PyCFunction)(void (*)(void))document_parts, METH_FASTCALL,
     "document_parts(doc, fmt, salt_digits) -> (fields, salts, hidden, anchor, stated_digest) | None"},
    {"public_report", (PyCFunction)(void (*)(void))public_report, METH_FASTCALL,
     "public_report(doc, view, head, ctx) -> bytes | None"},
    {"public_answer", (PyCFunction)(void (*)(void))public_answer, METH_FASTCALL,
     "public_answer(doc, view, ctx) -> bytes | None"},
    {"clock_us", (PyCFunction)(void (*)(void))py_clock_us, METH_FASTCALL,
     "clock_us() -> int: the system clock in whole microseconds since 1970 (datetime.now's instant)"},
    {"seal_bodies", (PyCFunction)(void (*)(void))seal_bodies, METH_FASTCALL,
     "seal_bodies(kek, header, aad_prefix, items, randomness) -> list[bytes] | None"},
    {"decision_bodies", (PyCFunction)(void (*)(void))decision_bodies, METH_FASTCALL,
     "decision_bodies(rows, parse, limit, link_fields) -> list[(body, lookup, mentions, links) | None]"},
    {"rules_evaluate", (PyCFunction)(void (*)(void))rules_evaluate, METH_FASTCALL,
     "rules_evaluate(program, view, budget) -> (outcome, reasons, fired) | None"},
    {"facts_check", (PyCFunction)(void (*)(void))facts_check, METH_FASTCALL,
     "facts_check(body, decision_input, department, anchor, moments, judged, judge, cache, erased, shredded, "
     "status_of, reference) -> (findings, views | None) | None"},
    {"document_digest", (PyCFunction)(void (*)(void))document_digest, METH_FASTCALL,
     "document_digest(fields, salts, hidden, least, field_prefix, cert_prefix, fmt, tag, schema) -> bytes | None"},
    {"membership_build", (PyCFunction)(void (*)(void))membership_build, METH_FASTCALL,
     "membership_build(digests, size) -> bytes | None: the filter of size bytes holding the 32-byte digests"},
    {"membership_maybe", (PyCFunction)(void (*)(void))membership_maybe, METH_FASTCALL,
     "membership_maybe(filter, digests) -> list[int] | None: the indexes of the digests the filter may hold"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hashcore",
    "Native fast path of canonical.py's field hashes and digests (None: run the pure-Python code).", -1, methods,
};

PyMODINIT_FUNC PyInit__hashcore(void)
{
    for (int c = 0; c < 256; c++) HEX_DIGIT[c] = hex_value((Py_UCS4)c) < 0 ? 0x10 : (unsigned char)hex_value((Py_UCS4)c);
    for (int i = 0; i < K_COUNT_OF_KEYS; i++) {
        if (KEYS[i] == NULL && (KEYS[i] = PyUnicode_InternFromString(KEY_NAMES[i])) == NULL) return NULL;
    }
    for (int i = 0; i < B_COUNT; i++) {
        if (BODY_KEYS[i] == NULL && (BODY_KEYS[i] = PyUnicode_InternFromString(BODY_KEY_NAMES[i])) == NULL) return NULL;
    }
    for (int i = 0; i < A_COUNT; i++) {
        if (ATTRS[i] == NULL && (ATTRS[i] = PyUnicode_InternFromString(ATTR_NAMES[i])) == NULL) return NULL;
    }
    for (int i = 0; i < FK_COUNT; i++) {
        if (FK[i] == NULL && (FK[i] = PyUnicode_InternFromString(FACTS_KEY_NAMES[i])) == NULL) return NULL;
    }
    if (CERTIFICATES_KEY == NULL && (CERTIFICATES_KEY = PyUnicode_InternFromString("certificates")) == NULL) return NULL;
    return PyModule_Create(&module);
}
