/* CPython glue shared by everybit's C extensions (included, not linked: each extension stays one file).
 * Everything is static inline, so an extension that does not use a helper gets no unused-function warning. */
#ifndef EVERYBIT_GLUE_H
#define EVERYBIT_GLUE_H

#include <Python.h>
#include <string.h>

/* Maps positional + keyword arguments of a METH_FASTCALL call onto slots; unset slots stay NULL. */
static inline int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                             const char *const *names, int nnames, int nrequired, PyObject **slots) {
    if (nargs > nnames) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, nnames, nargs);
        return -1;
    }
    for (int i = 0; i < nnames; i++) slots[i] = i < nargs ? args[i] : NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        const char *key = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, k));
        if (!key) return -1;
        int i = 0;
        while (i < nnames && strcmp(names[i], key)) i++;
        if (i == nnames) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%s'", fname, key);
            return -1;
        }
        if (slots[i]) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname, key);
            return -1;
        }
        slots[i] = args[nargs + k];
    }
    for (int i = 0; i < nrequired; i++) {
        if (!slots[i]) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
            return -1;
        }
    }
    return 0;
}

/* Refuses more than npos positional arguments: the options after them are keyword-only. */
static inline int max_positional(const char *fname, Py_ssize_t nargs, Py_ssize_t npos) {
    if (nargs <= npos) return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s but %zd were given (options are keyword-only)",
                 fname, npos, npos == 1 ? "" : "s", nargs);
    return -1;
}

/* A C-contiguous view of any buffer: a strided one (memoryview(a)[::2]) is copied first, so callers accept
 * every buffer Python can describe. Released with PyBuffer_Release as usual (the view owns the copy). */
static inline int get_input(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) == 0) return 0;
    if (!PyObject_CheckBuffer(obj)) return -1; /* not a buffer at all: keep the TypeError */
    PyErr_Clear(); /* the exporter's refusal of a strided view: BufferError, or ValueError from numpy */
    PyObject *copy = PyMemoryView_GetContiguous(obj, PyBUF_READ, 'C');
    if (!copy) return -1;
    int r = PyObject_GetBuffer(copy, view, PyBUF_C_CONTIGUOUS);
    Py_DECREF(copy); /* view->obj holds its own reference */
    return r;
}

/* A new exception class derived from everybit.common.errors.CorruptDataError (so also a ValueError),
 * like every everybit decoding failure; NULL with an exception set on failure. */
static inline PyObject *new_corrupt_error(const char *name, const char *doc) {
    PyObject *errors = PyImport_ImportModule("everybit.common.errors");
    PyObject *base = errors ? PyObject_GetAttrString(errors, "CorruptDataError") : NULL;
    Py_XDECREF(errors);
    if (!base) return NULL;
    PyObject *cls = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    Py_DECREF(base);
    return cls;
}

/* Guard of an object whose methods run with the GIL released and change its state (a Chunker, a
 * MergeTrainer): a second call that arrives meanwhile, from another thread, would race on that state, so it
 * is refused with RuntimeError instead. The flag is only read and set with the GIL held, which makes the
 * test-and-set atomic. Every method that touches the state, __init__ included, enters the guard first:
 *
 *     if (busy_enter(&self->busy, "Chunker")) return NULL;
 *     ... (may release the GIL) ...
 *     busy_leave(&self->busy);
 */
static inline int busy_enter(int *busy, const char *what) {
    if (*busy) {
        PyErr_Format(PyExc_RuntimeError, "%s is in use by another thread", what);
        return -1;
    }
    *busy = 1;
    return 0;
}

static inline void busy_leave(int *busy) { *busy = 0; }

#endif
