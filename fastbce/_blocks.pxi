# Included by _kernels.pyx: a block's chunks (set-up, masks, denominators, sums) and the
# parallel pass over all blocks.

cdef void _mask_chunk(const floating* x, const floating* t, floating* xo, floating* to,
                             floating* w, const uint8_t* mk, bint have_w, floating safe,
                             Py_ssize_t m) noexcept nogil:
    """where=: a skipped element's x and t become a valid pair (safe, 0), so that it is not
    range-checked and its math is finite, and its weight 0; kept ones are copied."""
    cdef Py_ssize_t j
    for j in range(m):
        xo[j] = x[j] if mk[j] else safe
        to[j] = t[j] if mk[j] else 0
    _mask_weights(w, mk, have_w, m)


cdef inline void _mask_weights(floating* w, const uint8_t* mk, bint have_w,
                               Py_ssize_t m) noexcept nogil:
    cdef Py_ssize_t j
    if have_w:
        for j in range(m):
            w[j] = w[j] if mk[j] else 0
    else:
        for j in range(m):
            w[j] = 1 if mk[j] else 0


cdef void _zero_skipped(floating* out, const uint8_t* mk, Py_ssize_t m) noexcept nogil:
    """Exact zeros where where= is False (a weight 0 times an infinite or NaN grad_output
    would not give one)."""
    cdef Py_ssize_t j
    for j in range(m):
        out[j] = out[j] if mk[j] else 0


cdef inline int64_t _count(const uint8_t* mk, Py_ssize_t m) noexcept nogil:
    cdef int64_t c = 0
    cdef Py_ssize_t j
    for j in range(m):
        c += mk[j] != 0
    return c


cdef void _den_chunk(const Job* jb, floating* wbuf, const uint8_t* mbuf, Py_ssize_t m,
                            Py_ssize_t mv, double* accw, int64_t* cnt) noexcept nogil:
    """The denominators' share of one chunk (wbuf: its effective weights)."""
    cdef Py_ssize_t j
    if jb.den & 1:
        cnt[0] += _count(mbuf, m)
    if jb.den & 2:
        for j in range(m, mv):
            wbuf[j] = 0
        _sum16(accw, wbuf, mv)


cdef struct Walk:
    # where a block's walk stands in its broadcast operands' layouts
    Cursor w
    Cursor pw
    Cursor mask
    Cursor g


cdef inline void _walk_from(Walk* walk, const Job* jb, Py_ssize_t lo) noexcept nogil:
    if jb.glay != NULL:
        _seek(&walk.g, jb.glay, lo)
    if jb.w != NULL:
        _seek(&walk.w, jb.wlay, lo)
    if jb.pw != NULL:
        _seek(&walk.pw, jb.pwlay, lo)
    if jb.mask != NULL:
        _seek(&walk.mask, jb.mlay, lo)


cdef inline uint32_t _chunk_setup(
        const Job* jb, Py_ssize_t m, Py_ssize_t mv, Walk* walk, const floating** xp,
        const floating** tp, const floating** wp, const floating** pwp, const uint8_t** mkp,
        floating* xbuf, floating* tbuf, floating* wbuf, floating* pwbuf, uint8_t* mbuf,
        double* accw, int64_t* cnt) noexcept nogil:
    """One chunk of m elements, made ready for the math (the one set-up of _block and
    _block_other): its weights gathered (times where='s 0 or 1), skipped elements replaced
    by a valid pair, the denominators' share, label smoothing, pos_weight, and padding to
    mv elements with x = t = 0 (pos_weight 1). *xp and *tp point to the chunk's input and
    target on entry, to what the math reads on return; *wp, *pwp and *mkp are set to the
    chunk's weights, pos_weight and mask where the job has them. Returns the range flags
    of the smoothed targets."""
    cdef const floating* x = xp[0]
    cdef const floating* t = tp[0]
    cdef floating a = <floating>(1.0 - jb.ls)
    cdef floating b = <floating>(0.5 * jb.ls)
    cdef uint32_t bad = 0
    cdef Py_ssize_t j
    if jb.w != NULL:
        _gather(wbuf, <const floating*>jb.w, jb.wlay, &walk.w, m)
        wp[0] = wbuf
    if jb.mask != NULL:
        _gather(mbuf, jb.mask, jb.mlay, &walk.mask, m)
        mkp[0] = mbuf
        _mask_chunk(x, t, xbuf, tbuf, wbuf, mbuf, jb.w != NULL,
                    <floating>(0.0 if jb.logits else 0.5), m)
        x, t = xbuf, tbuf
        wp[0] = wbuf
    if jb.den:
        _den_chunk(jb, wbuf, mbuf, m, mv, accw, cnt)
    if jb.ls != 0.0:
        for j in range(m):
            bad |= _flags_target(t[j])
            tbuf[j] = t[j] * a + b
        t = tbuf
    if jb.pw != NULL:
        _gather(pwbuf, <const floating*>jb.pw, jb.pwlay, &walk.pw, m)
        if jb.mask != NULL:  # a skipped element's pos_weight (inf, NaN) must not reach 0 * it
            for j in range(m):
                pwbuf[j] = pwbuf[j] if mbuf[j] else 1
        pwp[0] = pwbuf
    # The math runs over whole vectors: a chunk that ends inside one (the last of the
    # array) is copied and padded with x = t = 0, valid in both families. So every
    # element goes through the same vector code, never a scalar epilogue, and a result
    # does not depend on where its element sits.
    if mv != m:
        if x != &xbuf[0]:
            memcpy(xbuf, x, m * sizeof(floating))
        if t != &tbuf[0]:
            memcpy(tbuf, t, m * sizeof(floating))
        for j in range(m, mv):
            xbuf[j] = 0
            tbuf[j] = 0
            pwbuf[j] = 1
        x, t = xbuf, tbuf
    xp[0], tp[0] = x, t
    return bad


cdef inline const floating* _upstream(const Job* jb, Cursor* c, Py_ssize_t c0, Py_ssize_t m,
                                     floating* buf) noexcept nogil:
    """The chunk's upstream gradients: in place when per element, else gathered into buf."""
    if jb.glay == NULL:
        return <const floating*>jb.gvec + c0
    _gather(buf, <const floating*>jb.gvec, jb.glay, c, m)
    return buf


cdef void _den_block(const Job* jb, Py_ssize_t lo, Py_ssize_t hi, Totals* tb,
                     const floating* tag) noexcept nogil:
    """The denominators of elements [lo, hi) alone, with the very operations _block does
    (so the same bits): for a gradient, which needs them before its pass."""
    cdef floating wbuf[CHUNK]
    cdef uint8_t mbuf[CHUNK]
    cdef double accw[LANES]
    cdef Cursor wc, mc
    cdef Py_ssize_t ci, c0, m, k, nchunks = (hi - lo + CHUNK - 1) // CHUNK
    for k in range(LANES):
        accw[k] = 0.0
    tb.count = 0
    if jb.w != NULL:
        _seek(&wc, jb.wlay, lo)
    if jb.mask != NULL:
        _seek(&mc, jb.mlay, lo)
    for ci in range(nchunks):
        c0 = lo + ci * CHUNK
        m = hi - c0
        if m > CHUNK:
            m = CHUNK
        if jb.w != NULL:
            _gather(wbuf, <const floating*>jb.w, jb.wlay, &wc, m)
        if jb.mask != NULL:
            _gather(mbuf, jb.mask, jb.mlay, &mc, m)
            _mask_weights(wbuf, mbuf, jb.w != NULL, m)
        _den_chunk(jb, wbuf, mbuf, m, (m + LANES - 1) // LANES * LANES, accw, &tb.count)
    tb.wsum = _fold16(accw)


cdef inline double _fold16(double* acc) noexcept nogil:
    """The 16 lanes' sum, pairwise in a fixed order."""
    cdef Py_ssize_t k
    for k in range(8):
        acc[k] += acc[k + 8]
    for k in range(4):
        acc[k] += acc[k + 4]
    return (acc[0] + acc[2]) + (acc[1] + acc[3])


cdef inline uint32_t _logit_math(bint has_pw, const floating* x, const floating* t,
                                 const floating* pw, floating* ld, floating* gd, floating* hd,
                                 Py_ssize_t mv, floating ghi, floating glo, bint want_loss,
                                 bint want_grad) noexcept nogil:
    """A chunk of logits through the loop its outputs and pos_weight call for."""
    if want_loss and want_grad:
        if has_pw:
            return _logit_loss_grad(x, t, pw, ld, gd, hd, mv, ghi, glo, <General*>NULL)
        return _logit_loss_grad(x, t, pw, ld, gd, hd, mv, ghi, glo, <NoPw*>NULL)
    if want_loss:
        if has_pw:
            return _logit_loss(x, t, pw, ld, mv, <General*>NULL)
        return _logit_loss(x, t, pw, ld, mv, <NoPw*>NULL)
    if has_pw:
        return _logit_grad(x, t, pw, gd, hd, mv, ghi, glo, <General*>NULL)
    if ghi == 1 and glo == 0:
        return _logit_grad(x, t, pw, gd, hd, mv, ghi, glo, <Plain*>NULL)
    return _logit_grad(x, t, pw, gd, hd, mv, ghi, glo, <NoPw*>NULL)


cdef inline uint32_t _prob_math(const floating* x, const floating* t, floating* ld,
                                floating* gd, Py_ssize_t mv, bint hard, floating ghi,
                                floating glo, bint want_loss, bint want_grad) noexcept nogil:
    """A chunk of probabilities through the per-element loop for its outputs (hard: one
    log per element, the targets all 0 or 1)."""
    if want_loss and want_grad:
        return _prob_loop(x, t, ld, gd, mv, hard, ghi, glo, <LossGrad*>NULL)
    if want_loss:
        return _prob_loop(x, t, ld, gd, mv, hard, ghi, glo, <LossOnly*>NULL)
    return _prob_loop(x, t, ld, gd, mv, False, ghi, glo, <GradOnly*>NULL)


cdef inline void _chunk_store(
        const Job* jb, Py_ssize_t c0, Py_ssize_t m, Py_ssize_t mv, const floating* w,
        const floating* gv, const uint8_t* mk, floating* ld, floating* gd, floating* hd,
        floating* lbuf, floating* gbuf, floating* hbuf, bint want_loss, bint add_loss,
        bint gin, double* acc) noexcept nogil:
    """A chunk's results, from the local buffers the math wrote (ld, gd, hd pointing there;
    elsewhere the math wrote the outputs itself): weighted, the losses added to the lanes
    (add_loss), stored, and zeroed where where= is False."""
    cdef Py_ssize_t j
    cdef floating* lout
    if want_loss and ld == &lbuf[0]:
        if jb.loss == NULL:
            lout = &lbuf[0]
        else:
            lout = <floating*>jb.loss + c0
        if w != NULL:
            for j in range(m):
                lout[j] = lbuf[j] * w[j]
        elif jb.loss != NULL:
            memcpy(lout, lbuf, m * sizeof(floating))
        if add_loss:
            if jb.loss != NULL and w != NULL:
                memcpy(lbuf, lout, m * sizeof(floating))
            for j in range(m, mv):
                lbuf[j] = 0
            _sum16(acc, lbuf, mv)
    if jb.grad != NULL and gd == &gbuf[0]:
        if gin:
            memcpy(<floating*>jb.grad + c0, gbuf, m * sizeof(floating))
        else:
            _store_grad(<floating*>jb.grad + c0, gbuf, w, gv, jb.g, m)
    if jb.hess != NULL and hd == &hbuf[0]:
        lout = <floating*>jb.hess + c0
        if w != NULL:
            for j in range(m):
                lout[j] = hbuf[j] * w[j]
        else:
            memcpy(lout, hbuf, m * sizeof(floating))
    if mk != NULL:
        if jb.grad != NULL:
            _zero_skipped(<floating*>jb.grad + c0, mk, m)
        if jb.hess != NULL:
            _zero_skipped(<floating*>jb.hess + c0, mk, m)


cdef inline bint _split_g(double g, floating* ghi, floating* glo) noexcept nogil:
    """Whether the math loops can scale the gradient by the scalar g themselves (and write
    it in place), with g = ghi + glo: in float64 as q g; in float32 as q ghi + q glo
    rounded once, where g is a float (glo = 0: q g rounded once, the same as the float64
    product rounded) or, with FMA, |g| is in [2^-100, 2^100] (no part subnormal or near
    overflow; ghi + glo is g to 2^-48). Else ghi, glo stay 1, 0 and _store_grad scales
    later."""
    cdef floating hi
    if floating is double:
        ghi[0] = g
        return True
    hi = <float>g
    if <double>hi == g:
        ghi[0] = hi
        return True
    if FB_FUSED and 7.888609052210118e-31 <= abs(g) <= 1.2676506002282294e30:
        ghi[0] = hi
        glo[0] = <float>(g - <double>hi)
        return True
    return False


cdef inline void _prefetch_chunk(const floating* x, const floating* t) noexcept nogil:
    """Ask for the chunk of x and t starting here (float32: see _block)."""
    cdef Py_ssize_t j
    for j in range(0, CHUNK * sizeof(floating), 64):
        fb_prefetch(<const char*>x + j)
        fb_prefetch(<const char*>t + j)


cdef struct Looks:
    # which chunks ask whether their targets are all 0 or 1 (see _choose_path)
    int skip          # chunks left that do not ask
    int backoff       # chunks the next miss skips
    bint hard_next    # the skipped chunks still ask for the one-log path


cdef inline bint _choose_path(
        const Job* jb, bint lproduct, bint product, const floating* x, const floating* t,
        Py_ssize_t m, Py_ssize_t mv, Looks* lk, double* prod, uint64_t* expo,
        Py_ssize_t* renorms, double* extra, double* acc, uint32_t* bad, floating* gd,
        floating* hbuf, floating ghi, floating glo, bint want_grad, bint* hard) noexcept nogil:
    """The chunk's path: True where the product path took it (its loss summed, its gradient
    written to gd), else *hard says whether its targets are all 0 or 1 (one log per
    element). Whether the targets are all 0 or 1 is asked with a back-off: after k misses
    in a row the next min(2^k - 1, 31) chunks are not asked (soft targets pay for one look
    in 32 chunks). The product path looks at the targets itself; where it refuses a chunk
    of 0/1 targets (confident predictions: many losses too small for it), the chunk takes
    the one-log path, and so do the chunks the back-off then keeps from the product path,
    each asked (hard_next) as on the other paths."""
    cdef bint summed = False, looked = True
    hard[0] = False
    if jb.logits and not lproduct:
        return False
    if lk.skip > 0:
        lk.skip -= 1
        if lk.hard_next:
            hard[0] = _all_hard(t, mv)
        return False
    if lproduct:
        looked = m == CHUNK
        if floating is float:
            if looked:
                summed = _logit_product(x, t, prod, expo, renorms, acc, gd, hbuf, want_grad,
                                        ghi, glo) == 0
    elif product and (m == CHUNK or floating is double):
        if want_grad:
            summed = _prob_product(x, t, m, prod, expo, renorms, extra, bad, gd, ghi, glo,
                                   <WithGrad*>NULL) == 0
        else:
            summed = _prob_product(x, t, m, prod, expo, renorms, extra, bad, gd, ghi, glo,
                                   <NoGrad*>NULL) == 0
        if not summed:
            hard[0] = _all_hard(t, mv)
        lk.hard_next = hard[0]
    else:
        hard[0] = _all_hard(t, mv)
    if looked:
        if summed or (hard[0] and not lk.hard_next):
            lk.backoff = 0
        else:
            lk.skip = lk.backoff
            lk.backoff = 2 * lk.backoff + 1 if lk.backoff < 31 else 31
    return summed


cdef struct Plan:
    # what a block does, from the job alone (see _plan)
    bint want_loss, want_grad
    bint gin           # the math scales the gradient by g itself and writes it in place
    bint direct_l      # the loss, and the hessian, written in place by the math
    bint direct_h
    bint lproduct      # logits without pos_weight: the float32 logits product path
    bint product       # probabilities summed by the product path where targets allow
    Py_ssize_t ahead   # float32 prefetch distance


cdef inline void _plan(const Job* jb, Plan* pl, floating* ghi, floating* glo) noexcept nogil:
    """The block's plan; ghi, glo the gradient scale the math applies (1, 0 when it does
    not: _split_g)."""
    # outputs the math may write in place: no weighting or scaling after it (with where=,
    # the elements are weighted by 0 or 1, times the weight)
    cdef bint unweighted = jb.w == NULL and jb.mask == NULL
    pl.want_loss = jb.loss != NULL or jb.want_sum
    pl.want_grad = jb.grad != NULL or jb.hess != NULL
    pl.gin = jb.grad != NULL and unweighted and jb.gvec == NULL and _split_g(jb.g, ghi, glo)
    pl.direct_h = jb.hess != NULL and unweighted
    pl.direct_l = jb.loss != NULL and unweighted
    pl.lproduct = (floating is float and jb.logits and jb.pw == NULL and jb.want_sum
                   and jb.loss == NULL and unweighted and jb.hess == NULL)
    pl.product = (not jb.logits and jb.want_sum and jb.loss == NULL and unweighted
                  and jb.ls == 0.0)
    # float32 prefetch distance: the next chunk, or two ahead for the logits gradient without
    # the loss (grad_hess: its loop is short, and one chunk's lead was too little beyond
    # the caches on one thread, 11% slower at 1e7 on AVX2; two chunks made the slower
    # loops 2-5% slower)
    pl.ahead = 2 * CHUNK if jb.logits and not pl.want_loss else CHUNK


cdef inline void _lanes_init(double* acc, double* accw, double* prod, uint64_t* expo,
                             int64_t* npath) noexcept nogil:
    """The block's accumulators at their start: sums 0, products 1, no chunks yet."""
    cdef Py_ssize_t k
    for k in range(LANES):
        acc[k] = 0.0
        accw[k] = 0.0
        prod[k] = 1.0
        expo[k] = 0
    for k in range(NPATHS):
        npath[k] = 0


cdef inline double _block_total(const Job* jb, double* acc, double extra, double* prod,
                                uint64_t* expo, Py_ssize_t renorms) noexcept nogil:
    """The block's loss sum: the lanes, the product path's logs of its products (a sum of
    softplus for logits, of -log for probabilities) and the losses summed apart."""
    if renorms:
        if jb.logits:
            extra += _prod_sum(prod, expo, renorms)
        else:
            extra -= _prod_sum(prod, expo, renorms)
    return _fold16(acc) + extra


cdef inline uint32_t _chunk_math(const Job* jb, const Plan* pl, const floating* x,
                                 const floating* t, const floating* pw, floating** ld,
                                 floating** gd, floating** hd, floating* lbuf, floating* gbuf,
                                 floating* hbuf, Py_ssize_t mv, bint hard, floating ghi,
                                 floating glo, int64_t* npath) noexcept nogil:
    """A chunk the product path did not take: its per-element math (logits, or probabilities
    with one log or two), counted on its path; returns the range flags."""
    if jb.logits:
        npath[PATH_LOGITS] += 1
        if pl.want_loss and pl.want_grad:
            # local buffers only: with three outputs beside three inputs GCC would need more
            # run-time alias checks than it makes, and not vectorise
            ld[0], gd[0], hd[0] = lbuf, gbuf, hbuf
        return _logit_math(jb.pw != NULL, x, t, pw, ld[0], gd[0], hd[0], mv, ghi, glo,
                           pl.want_loss, pl.want_grad)
    npath[PATH_HARD if hard and pl.want_loss else PATH_SOFT] += 1
    return _prob_math(x, t, ld[0], gd[0], mv, hard, ghi, glo, pl.want_loss, pl.want_grad)


cdef double _block(const Job* jb, const floating* xs, Py_ssize_t lo, Py_ssize_t hi,
                   Totals* tb) noexcept nogil:
    """Elements [lo, hi): the loss sum in float64 (returned), outputs, and in tb the range
    flags, the denominators jb.den asks for (the kept elements' count, their weights' sum)
    and the chunks each path took."""
    cdef int64_t npath[NPATHS]  # chunks per path
    cdef uint8_t mbuf[CHUNK]
    cdef double accw[LANES]
    cdef floating xbuf[CHUNK]
    cdef floating tbuf[CHUNK]
    cdef floating wbuf[CHUNK]
    cdef floating pwbuf[CHUNK]
    cdef floating lbuf[CHUNK]
    cdef floating gbuf[CHUNK]
    cdef floating hbuf[CHUNK]
    cdef floating gvbuf[CHUNK]
    cdef double acc[LANES]
    cdef double prod[LANES]
    cdef uint64_t expo[LANES]
    cdef double extra = 0.0
    cdef Py_ssize_t renorms = 0
    cdef bint summed, hard
    cdef floating ghi = 1, glo = 0
    cdef Plan pl
    _plan(jb, &pl, &ghi, &glo)
    cdef floating* ld
    cdef floating* gd
    cdef floating* hd
    cdef Looks looks = Looks(0, 0, False)
    cdef Walk walk
    cdef const uint8_t* mk = NULL
    cdef const floating* ts = <const floating*>jb.t
    cdef const floating* x
    cdef const floating* t
    cdef const floating* w = NULL
    cdef const floating* pw
    cdef const floating* gv = NULL
    cdef Py_ssize_t c0, m, mv, nchunks = (hi - lo + CHUNK - 1) // CHUNK, ci
    cdef uint32_t bad = 0
    _lanes_init(acc, accw, prod, expo, npath)
    tb.count = 0
    if floating is float:
        pw = ONES_F32
    else:
        pw = ONES_F64
    _walk_from(&walk, jb, lo)
    for ci in range(nchunks):
        c0 = lo + ci * CHUNK
        m = hi - c0
        if m > CHUNK:
            m = CHUNK
        x = xs + c0
        t = ts + c0
        # float32: the next chunk's inputs, asked for at the chunk's start (the loops
        # below leave gaps in the stream of loads that the hardware prefetcher alone does
        # not cover: without this, 1e7 elements ran 8-33% slower on AVX2; two chunks
        # ahead was 2-4% slower than one, four 7-12% at 1e6). float64 asks inside its
        # loops (see _ahead): a chunk spans twice the cache lines, and a burst of that
        # size stalled the loop.
        if floating is float and c0 + pl.ahead + CHUNK <= hi:
            _prefetch_chunk(x + pl.ahead, t + pl.ahead)
        mv = (m + LANES - 1) // LANES * LANES
        bad |= _chunk_setup(jb, m, mv, &walk, &x, &t, &w, &pw, &mk, xbuf, tbuf, wbuf, pwbuf,
                            mbuf, accw, &tb.count)
        if jb.gvec != NULL:
            gv = _upstream(jb, &walk.g, c0, m, gvbuf)
        # the math, into local buffers or, where nothing follows it, the outputs
        ld, gd, hd = &lbuf[0], &gbuf[0], &hbuf[0]
        if mv == m:
            if pl.direct_l:
                ld = <floating*>jb.loss + c0
            if pl.gin:
                gd = <floating*>jb.grad + c0
            if pl.direct_h:
                hd = <floating*>jb.hess + c0
        summed = _choose_path(jb, pl.lproduct, pl.product, x, t, m, mv, &looks, prod, expo,
                              &renorms, &extra, acc, &bad, gd, hbuf, ghi, glo, pl.want_grad,
                              &hard)
        if summed:
            npath[PATH_PRODUCT] += 1
        else:
            bad |= _chunk_math(jb, &pl, x, t, pw, &ld, &gd, &hd, lbuf, gbuf, hbuf, mv, hard,
                               ghi, glo, npath)
        _chunk_store(jb, c0, m, mv, w, gv, mk, ld, gd, hd, lbuf, gbuf, hbuf, pl.want_loss,
                     jb.want_sum != 0 and not summed, pl.gin, acc)
    tb.flags = bad
    tb.wsum = _fold16(accw)
    memcpy(tb.chunks, npath, sizeof(npath))
    return _block_total(jb, acc, extra, prod, expo, renorms)


cdef double _block_other(const Job* jb, const floating* xs, Py_ssize_t lo, Py_ssize_t hi,
                         Totals* tb) noexcept nogil:
    """_block for the losses it leaves out -- the focal loss and the unclamped probability
    loss -- and for the denominators alone: a plainer loop (every result through local
    buffers, no product paths), kept apart so that the compilers still inline all of
    _block's math into it."""
    cdef uint8_t mbuf[CHUNK]
    cdef double accw[LANES]
    cdef double acc[LANES]
    cdef floating xbuf[CHUNK]
    cdef floating tbuf[CHUNK]
    cdef floating wbuf[CHUNK]
    cdef floating lbuf[CHUNK]
    cdef floating gbuf[CHUNK]
    cdef floating hbuf[CHUNK]
    cdef floating gvbuf[CHUNK]
    cdef floating pwbuf[CHUNK]
    cdef Walk walk
    cdef const uint8_t* mk = NULL
    cdef const floating* x
    cdef const floating* t
    cdef const floating* w = NULL
    cdef const floating* pw = NULL
    cdef const floating* gv = NULL
    cdef floating* out
    cdef Py_ssize_t c0, m, mv, j, k, nchunks = (hi - lo + CHUNK - 1) // CHUNK, ci
    cdef uint32_t bad = 0
    tb.chunks[PATH_OTHER] = nchunks
    if jb.den_only:
        tb.flags = 0
        _den_block(jb, lo, hi, tb, xs)
        return 0.0
    for k in range(LANES):
        acc[k] = 0.0
        accw[k] = 0.0
    tb.count = 0
    _walk_from(&walk, jb, lo)
    for ci in range(nchunks):
        c0 = lo + ci * CHUNK
        m = hi - c0
        if m > CHUNK:
            m = CHUNK
        mv = (m + LANES - 1) // LANES * LANES
        x = xs + c0
        t = <const floating*>jb.t + c0
        bad |= _chunk_setup(jb, m, mv, &walk, &x, &t, &w, &pw, &mk, xbuf, tbuf, wbuf, pwbuf,
                            mbuf, accw, &tb.count)
        if jb.gvec != NULL:
            gv = _upstream(jb, &walk.g, c0, m, gvbuf)
        if jb.focal:
            bad |= _focal_loop(x, t, lbuf, gbuf, hbuf, mv, <floating>jb.alpha,
                               <floating>jb.gamma)
        else:
            bad |= _prob_exact(x, t, lbuf, gbuf, mv)
        if w != NULL:
            for j in range(m):
                lbuf[j] = lbuf[j] * w[j]
        if jb.loss != NULL:
            memcpy(<floating*>jb.loss + c0, lbuf, m * sizeof(floating))
        if jb.want_sum:
            for j in range(m, mv):
                lbuf[j] = 0
            _sum16(acc, lbuf, mv)
        if jb.grad != NULL:
            _store_grad(<floating*>jb.grad + c0, gbuf, w, gv, jb.g, m)
        if jb.hess != NULL:
            out = <floating*>jb.hess + c0
            if w != NULL:
                for j in range(m):
                    out[j] = hbuf[j] * w[j]
            else:
                memcpy(out, hbuf, m * sizeof(floating))
        if jb.mask != NULL:
            if jb.grad != NULL:
                _zero_skipped(<floating*>jb.grad + c0, mbuf, m)
            if jb.hess != NULL:
                _zero_skipped(<floating*>jb.hess + c0, mbuf, m)
    tb.flags = bad
    tb.wsum = _fold16(accw)
    return _fold16(acc)


cdef inline double _any_block(const Job* jb, const floating* xs, Py_ssize_t lo, Py_ssize_t hi,
                              Totals* tb) noexcept nogil:
    cdef int k
    for k in range(NPATHS):
        tb.chunks[k] = 0
    if jb.focal or not jb.clamp or jb.den_only:
        return _block_other(jb, xs, lo, hi, tb)
    return _block(jb, xs, lo, hi, tb)


cdef int _run(const Job* jb, const floating* xs, int nthreads, Totals* tot) noexcept nogil:
    """All blocks, in parallel when worth it, into tot: the loss sum, the denominators
    jb.den asks for and the chunks per path, each added in block order (the same bits for
    every thread count), and the range flags. Returns 0, or -1 when the blocks' partial
    results find no memory."""
    cdef Py_ssize_t n = jb.n
    cdef Py_ssize_t nblocks = (n + BLOCK - 1) // BLOCK
    cdef Py_ssize_t b
    cdef int k
    cdef Totals* part
    memset(tot, 0, sizeof(Totals))
    if nblocks == 0:
        return 0
    if n < PARALLEL_MIN or nthreads < 1:
        nthreads = 1
    if nthreads > nblocks:
        nthreads = <int>nblocks
    if nblocks == 1:
        # (one call site: GCC's inlining of the math into _block depends on how many there
        # are; tools/check_isa.py checks it)
        tot.sum = _any_block(jb, xs, 0, n, tot)
        return 0
    part = <Totals*>malloc(nblocks * sizeof(Totals))
    if part == NULL:
        return -1
    if nthreads > 1:
        for b in prange(nblocks, schedule="static", num_threads=nthreads):
            part[b].sum = _any_block(jb, xs, b * BLOCK, min(n, (b + 1) * BLOCK), &part[b])
    else:
        for b in range(nblocks):
            part[b].sum = _any_block(jb, xs, b * BLOCK, min(n, (b + 1) * BLOCK), &part[b])
    for b in range(nblocks):
        tot.sum += part[b].sum
        tot.flags |= part[b].flags
        tot.wsum += part[b].wsum
        tot.count += part[b].count
        for k in range(NPATHS):
            tot.chunks[k] += part[b].chunks[k]
    free(part)
    return 0
