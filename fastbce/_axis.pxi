# Included by _kernels.pyx: reductions over axes ("mean", "sum", "weighted_mean" with axis=).
# Each work unit runs the "none" pass over its elements block by block, the losses going to a
# scratch buffer of one block, and adds each block's losses to the slots of the reduced shape
# they belong to, in element order. Units are fixed by the shape alone (the route chooses
# them: Job.rows_per_unit, segs, seglen), and a slot's partial sums from several units are
# added in unit order, so the result is the same bits for every thread count.

cdef inline double _piece_sum(const floating* v, Py_ssize_t m) noexcept nogil:
    """v[0] + ... + v[m-1] in float64: whole groups of LANES in lanes, then the rest."""
    cdef double lanes[LANES]
    cdef double s = 0.0
    cdef Py_ssize_t k, full = m // LANES * LANES
    if full:
        for k in range(LANES):
            lanes[k] = 0.0
        _sum16(lanes, v, full)
        s = _fold16(lanes)
    for k in range(full, m):
        s += <double>v[k]
    return s


cdef void _scatter_add(double* acc, Py_ssize_t off, const floating* v, const Layout* lay,
                       Cursor* c, Py_ssize_t m) noexcept nogil:
    """acc[slot - off] += v[i] for the walk's next m elements (slot: the element's place in
    the reduced shape, read through lay as _gather reads a weight). A row along the slots
    (a per-class sum) adds element-wise; a row of one slot (a per-sample sum) adds its sum."""
    cdef Py_ssize_t p = 0, take, j, base
    while p < m:
        take = lay.row_len - c.col
        if take > m - p:
            take = m - p
        base = c.base - off
        if lay.row_step:
            base += c.col
            for j in range(take):
                acc[base + j] += <double>v[p + j]
        else:
            acc[base] += _piece_sum(v + p, take)
        p += take
        c.col += take
        if c.col == lay.row_len:
            _next_row(c, lay)


cdef void _axis_unit(const Job* jb, const floating* xs, Py_ssize_t u, double* part,
                     floating* scratch, Totals* tu) noexcept nogil:
    """Work unit u: its elements' losses, added to its slots (in jb.rsum for a unit of
    whole rows, in its own partial sums in part for a segment of a row)."""
    cdef Job jl = jb[0]
    cdef Totals tb
    cdef Cursor c
    cdef double* acc = jb.rsum
    cdef Py_ssize_t a, lo, hi, b0, b1, off = 0
    cdef int k
    if jb.segs > 1:
        a = u // jb.segs
        lo = a * jb.rowlen + (u - a * jb.segs) * jb.seglen
        hi = min(a * jb.rowlen + jb.rowlen, lo + jb.seglen)
        acc = part + u * jb.rowslots
        off = a * jb.rowslots
    else:
        lo = u * jb.rows_per_unit * jb.rowlen
        hi = min(jb.n, lo + jb.rows_per_unit * jb.rowlen)
    memset(tu, 0, sizeof(Totals))
    jl.want_sum = 0
    _seek(&c, jb.olay, lo)
    b0 = lo
    while b0 < hi:
        b1 = min(hi, b0 + BLOCK)
        # the block writes element i's loss at loss + i: here scratch[i - b0]
        jl.loss = <void*>(scratch - b0)
        _any_block(&jl, xs, b0, b1, &tb)
        _scatter_add(acc, off, scratch, jb.olay, &c, b1 - b0)
        tu.flags |= tb.flags
        for k in range(NPATHS):
            tu.chunks[k] += tb.chunks[k]
        b0 = b1


cdef int _run_axis(const Job* jb, const floating* xs, int nthreads, Totals* tot) noexcept nogil:
    """All units, in parallel when worth it, into jb.rsum (zeroed by the route); the range
    flags and chunks per path into tot. Returns 0, or -1 when memory ran out."""
    cdef Py_ssize_t nunits, u, a, s, k
    cdef Py_ssize_t nslots = jb.rowslots
    cdef double* part = NULL
    cdef double* p
    cdef double* q
    cdef Totals* tu
    cdef floating* scratch
    memset(tot, 0, sizeof(Totals))
    if jb.n == 0:  # (no units: the route set none up)
        return 0
    if jb.segs > 1:
        nunits = jb.arows * jb.segs
    else:
        nunits = (jb.arows + jb.rows_per_unit - 1) // jb.rows_per_unit
    if jb.n < PARALLEL_MIN or nthreads < 1:
        nthreads = 1
    if nthreads > nunits:
        nthreads = <int>nunits
    tu = <Totals*>malloc(nunits * sizeof(Totals))
    scratch = <floating*>malloc(nthreads * BLOCK * sizeof(floating))
    if jb.segs > 1:
        part = <double*>calloc(nunits * nslots, sizeof(double))
    if tu == NULL or scratch == NULL or (jb.segs > 1 and part == NULL):
        free(tu)
        free(scratch)
        free(part)
        return -1
    if nthreads > 1:
        for u in prange(nunits, schedule="static", num_threads=nthreads):
            _axis_unit(jb, xs, u, part, scratch + threadid() * BLOCK, &tu[u])
    else:
        for u in range(nunits):
            _axis_unit(jb, xs, u, part, scratch, &tu[u])
    if jb.segs > 1:  # each row's segments, added in order
        for a in range(jb.arows):
            q = jb.rsum + a * nslots
            for s in range(jb.segs):
                p = part + (a * jb.segs + s) * nslots
                for k in range(nslots):
                    q[k] += p[k]
    for u in range(nunits):
        tot.flags |= tu[u].flags
        for k in range(NPATHS):
            tot.chunks[k] += tu[u].chunks[k]
    free(tu)
    free(scratch)
    free(part)
    return 0
