# Included by _kernels.pyx: a broadcast operand (weight, pos_weight, where=) read through
# its Layout, chunk by chunk.

cdef struct Cursor:
    # where a sequential walk through the input stands in a weight's layout
    Py_ssize_t col              # position inside the row
    Py_ssize_t base             # weight index of the row's first element
    Py_ssize_t cnt[MAXDIMS]     # row % div[k]
    Py_ssize_t digit[MAXDIMS]   # (row // div[k]) % mod[k]


cdef void _seek(Cursor* c, const Layout* lay, Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t row = i // lay.row_len
    cdef Py_ssize_t q
    cdef int k
    c.col = i - row * lay.row_len
    c.base = 0
    for k in range(lay.nouter):
        q = row // lay.div[k]
        c.cnt[k] = row - q * lay.div[k]
        c.digit[k] = q % lay.mod[k]
        c.base += c.digit[k] * lay.stride[k]


cdef inline void _next_row(Cursor* c, const Layout* lay) noexcept nogil:
    # an odometer: no division per row
    cdef int k
    c.col = 0
    for k in range(lay.nouter):
        c.cnt[k] += 1
        if c.cnt[k] == lay.div[k]:
            c.cnt[k] = 0
            c.digit[k] += 1
            c.base += lay.stride[k]
            if c.digit[k] == lay.mod[k]:
                c.digit[k] = 0
                c.base -= lay.mod[k] * lay.stride[k]


ctypedef fused gathered:
    float
    double
    uint8_t


cdef void _gather(gathered* out, const gathered* w, const Layout* lay, Cursor* c,
                  Py_ssize_t m) noexcept nogil:
    """The next m weights (or mask values) of the walk, into out."""
    cdef Py_ssize_t p = 0, take, j, col, base, digit, r = lay.row_len
    cdef gathered v
    if lay.row_step == 0 and r < 16 and lay.nouter == 1 and lay.div[0] == 1:
        # short rows of one weight each, rows walking the weight with one stride (a per-row
        # (N, 1) weight on (N, 2), say): element by element, no call per row
        col, base, digit = c.col, c.base, c.digit[0]
        for j in range(m):
            out[j] = w[base]
            col += 1
            if col == r:
                col = 0
                digit += 1
                base += lay.stride[0]
                if digit == lay.mod[0]:
                    digit = 0
                    base = 0
        c.col, c.base, c.digit[0] = col, base, digit
        c.cnt[0] = 0
        return
    while p < m:
        take = lay.row_len - c.col
        if take > m - p:
            take = m - p
        if lay.row_step:
            memcpy(out + p, w + c.base + c.col, take * sizeof(gathered))
        else:
            v = w[c.base]
            for j in range(take):
                out[p + j] = v
        p += take
        c.col += take
        if c.col == lay.row_len:
            _next_row(c, lay)
