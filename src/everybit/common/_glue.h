/* CPython glue shared by everybit's C extensions (included, not linked: each extension stays one file). */
#ifndef EVERYBIT_GLUE_H
#define EVERYBIT_GLUE_H

#include <Python.h>
#include <string.h>

/* Maps positional + keyword arguments of a METH_FASTCALL call onto slots; unset slots stay NULL. */
static int parse_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
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

/* A new exception class derived from everybit.common.errors.CorruptDataError (so also a ValueError),
 * like every everybit decoding failure; NULL with an exception set on failure. */
static PyObject *new_corrupt_error(const char *name, const char *doc) {
    PyObject *errors = PyImport_ImportModule("everybit.common.errors");
    PyObject *base = errors ? PyObject_GetAttrString(errors, "CorruptDataError") : NULL;
    Py_XDECREF(errors);
    if (!base) return NULL;
    PyObject *cls = PyErr_NewExceptionWithDoc(name, doc, base, NULL);
    Py_DECREF(base);
    return cls;
}

#endif
