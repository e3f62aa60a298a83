"""Register-blocked matrix products: the shape every dense sum of fastbp is computed in.

``C[r, c] = sum_k opA[r, k] * opB[k, c]`` over an output block, where

* ``opA[r, k]`` is ``A[r, k]`` (A of shape (M, K)), read in place: the kernel only broadcasts
  single elements, six short runs along k; or, with ``a_trans``, ``A[k, r]`` (A of shape (K, M)),
  packed MC rows at a time so that consecutive k are not a row of A apart;
* ``opB[k, c]`` is ``B[k, c]`` (B of shape (K, N)) or, with ``b_trans``, ``B[c, k]`` (B of shape
  (N, K)); it is copied ("packed") a panel of NR columns at a time into a small per-thread
  buffer, contiguous along the panel's rows, except that whole panels of an untransposed B are
  read in place by blocks of few rows (``DIRECT_B_MAX_ROWS``).

The micro-kernel keeps a tile of ``MR`` x ``NR`` outputs (NR two vectors: 6 x 32 float32 and
6 x 16 float64 with 512-bit vectors, 6 x 16 and 6 x 8 with 256-bit ones) in twelve vector
registers; each step over k loads two vectors of opB's row, broadcasts six elements of opA's
column and issues twelve fused multiply-adds. The sum over k runs in chunks of ``KC`` so the opB
panel being reused stays in L1; each output is summed in the same order whatever the tiling into
parallel tasks, so the result never depends on the thread count. Short sums and small blocks
skip all this for :func:`direct_product`'s plain vector loops.
"""
from .._config import kernel
from .simd import (vadd, vector_lanes, vfma, vload, vload_part, vsplat_at, vstore,
                   vstore_part, vtranspose, vzeros)
from .views import as_flat

#: Rows of the register tile.
MR = 6
#: Length of a chunk of the summed dimension (k).
KC = 256
#: Rows of opA swept at once (their MC x KC elements stay in L2 while the column panels pass).
MC = 96
#: A block of at most this many rows reads whole panels of an untransposed opB in place instead of
#: packing them: few row tiles reuse each panel, so copying it costs more than it saves (the course
#: network's 20 x 12288 first layer ran at a third of the FMA peak, bound by packing X).
DIRECT_B_MAX_ROWS = 4 * MR
#: Sums over at most this many terms, or blocks of at most this many multiply-adds, are computed
#: by :func:`direct_product`'s plain loops: a register tile pays a fixed cost per call (packing,
#: spilling the tile, merging it) that a short sum does not repay.
DIRECT_MAX_DEPTH = 16
DIRECT_MAX_MACS = 32768
#: A plain-loop block of at most this many rows with a transposed opB takes one dot product per
#: output (two contiguous rows, which LLVM vectorizes) instead of transposing opB first: the
#: transpose costs more than a row or two of outputs save (a 1-neuron layer's dW over 64
#: examples: 0.24 us transposed, 0.10 us as dot products; 10 rows: 0.72 against 1.26).
DOT_MAX_ROWS = 2


def scratch_size(block_cols, lanes, depth=KC, rows=MC):
    """Elements of packing buffer one thread needs.

    For blocks of up to ``block_cols`` columns, sums over up to ``depth`` terms and up to ``rows``
    rows of a transposed opA: see :func:`_scratch_layout`.
    """
    NR = 2 * lanes
    depth, rows = min(depth, KC), min(rows, MC)
    # the end of _scratch_layout's tile buffer, computed in Python (no kernel call)
    up = round_up.py_func
    return (up(block_cols, NR) + up(rows, MR)) * depth + NR + MR * NR


@kernel(inline=True)
def takes_plain_loops(rows, cols, depth):
    """Whether a block of rows x cols outputs, each a sum of ``depth`` terms, is computed by
    :func:`direct_product` rather than register tiles."""
    return depth <= DIRECT_MAX_DEPTH or rows * cols * depth <= DIRECT_MAX_MACS


@kernel(inline=True)
def transposes_opb(rows, depth):
    """Whether :func:`direct_product` copies a transposed opB into scratch
    (:func:`transposed_opb_elements` of it) for a block of ``rows`` rows, each a sum of ``depth``
    terms, rather than taking one dot product per output."""
    return depth <= KC and rows > DOT_MAX_ROWS


@kernel(inline=True)
def transposed_opb_elements(cols, depth, lanes):
    """Scratch elements of that copy: depth x cols, plus a vector of slack (see
    :func:`transpose_into`)."""
    return depth * cols + lanes


@kernel(inline=True)
def round_up(value, step):
    """The smallest multiple of ``step`` not below ``value`` (both non-negative integers)."""
    return (value + step - 1) // step * step


@kernel(inline="ir")
def _scratch_layout(scratch, block_cols, NR, depth, rows):
    """The packed opB block (depth x block columns), the packed transposed-opA rows
    (depth x rows, plus NR elements of slack) and the tile buffer (MR x NR) in ``scratch``."""
    b_end = round_up(block_cols, NR) * depth
    a_end = b_end + round_up(rows, MR) * depth + NR
    return scratch[:b_end], scratch[b_end:a_end], scratch[a_end:a_end + MR * NR]


@kernel
def tile(A, a_base, a_row_step, a_k_step, rows, Bp, b_base, b_k_step, depth, narrow, out):
    """One MR x NR tile of products: ``out = opA[tile rows, :depth] · packed opB panel``.

    Parameters
    ----------
    A : ndarray, 1-D (flat view of opA's array, read in place)
        Element (i, k) of the tile at ``a_base + i * a_row_step + k * a_k_step``; rows from
        ``rows`` on repeat the last valid one (their results are never stored).
    Bp : ndarray, 1-D
        opB's panel: element (k, j) at ``b_base + k * b_k_step + j``, NR contiguous elements per
        k: packed (``b_k_step = NR``, see :func:`pack_b`) or read in place from a row-major B
        (``b_k_step`` its row length).
    depth : int
        Number of k steps.
    narrow : bool
        Only the first L columns of the panel are wanted: the other half of the tile is left 0.
    out : ndarray, 1-D, at least MR * NR elements
        Receives the tile, row-major. Writing whole vectors to a small buffer keeps this kernel
        free of edge cases; the caller copies the valid part out (MR * NR elements per
        ``depth`` steps of 12 vector FMAs).

    Notes
    -----
    opA is only ever broadcast one element at a time, so it is read where it lies: six short
    runs along k (A not transposed) or six neighbouring elements of one row (transposed).
    """
    L = vector_lanes(out)
    NR = 2 * L
    a0 = a_base
    a1 = a_base + min(1, rows - 1) * a_row_step
    a2 = a_base + min(2, rows - 1) * a_row_step
    a3 = a_base + min(3, rows - 1) * a_row_step
    a4 = a_base + min(4, rows - 1) * a_row_step
    a5 = a_base + min(5, rows - 1) * a_row_step
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = vzeros(out)
    if narrow:
        # the panel's valid columns fit one vector (the course network's dW has 20 = 16 + 4
        # columns in float64): half the multiply-adds, the second vector of each row stays zero
        for k in range(depth):
            b0 = vload(Bp, b_base + k * b_k_step)
            step = k * a_k_step
            c00 = vfma(vsplat_at(A, a0 + step), b0, c00)
            c10 = vfma(vsplat_at(A, a1 + step), b0, c10)
            c20 = vfma(vsplat_at(A, a2 + step), b0, c20)
            c30 = vfma(vsplat_at(A, a3 + step), b0, c30)
            c40 = vfma(vsplat_at(A, a4 + step), b0, c40)
            c50 = vfma(vsplat_at(A, a5 + step), b0, c50)
        depth = 0
    for k in range(depth):
        b = b_base + k * b_k_step
        b0 = vload(Bp, b)
        b1 = vload(Bp, b + L)
        step = k * a_k_step
        broadcast = vsplat_at(A, a0 + step)
        c00 = vfma(broadcast, b0, c00)
        c01 = vfma(broadcast, b1, c01)
        broadcast = vsplat_at(A, a1 + step)
        c10 = vfma(broadcast, b0, c10)
        c11 = vfma(broadcast, b1, c11)
        broadcast = vsplat_at(A, a2 + step)
        c20 = vfma(broadcast, b0, c20)
        c21 = vfma(broadcast, b1, c21)
        broadcast = vsplat_at(A, a3 + step)
        c30 = vfma(broadcast, b0, c30)
        c31 = vfma(broadcast, b1, c31)
        broadcast = vsplat_at(A, a4 + step)
        c40 = vfma(broadcast, b0, c40)
        c41 = vfma(broadcast, b1, c41)
        broadcast = vsplat_at(A, a5 + step)
        c50 = vfma(broadcast, b0, c50)
        c51 = vfma(broadcast, b1, c51)
    vstore(out, 0, c00)
    vstore(out, L, c01)
    vstore(out, NR, c10)
    vstore(out, NR + L, c11)
    vstore(out, 2 * NR, c20)
    vstore(out, 2 * NR + L, c21)
    vstore(out, 3 * NR, c30)
    vstore(out, 3 * NR + L, c31)
    vstore(out, 4 * NR, c40)
    vstore(out, 4 * NR + L, c41)
    vstore(out, 5 * NR, c50)
    vstore(out, 5 * NR + L, c51)


@kernel(inline=True)
def _merge_tile(out, C, c_base, ldc, rows, cols, accumulate, L):
    """Copy (or add, for a later chunk of k) the valid rows x cols of a tile into flat C."""
    first = min(cols, L)
    second = max(cols - L, 0)
    for i in range(rows):
        target = c_base + i * ldc
        low = vload(out, i * 2 * L)
        high = vload(out, i * 2 * L + L)
        if cols == 2 * L:
            # a whole row: plain stores (AMD executes masked stores as slow microcode)
            if accumulate:
                low = vadd(low, vload(C, target))
                high = vadd(high, vload(C, target + L))
            vstore(C, target, low)
            vstore(C, target + L, high)
        else:
            if accumulate:
                low = vadd(low, vload_part(C, target, first))
                high = vadd(high, vload_part(C, target + L, second))
            vstore_part(C, target, low, first)
            vstore_part(C, target + L, high, second)


@kernel(inline=True)
def _merge_tile_transposed(out, C, c_base, ldc, rows, cols, accumulate, NR):
    """Like :func:`_merge_tile`, into the transpose: tile element (i, j) to ``C[j, i]``."""
    for j in range(cols):
        target = c_base + j * ldc
        if accumulate:
            for i in range(rows):
                C[target + i] += out[i * NR + j]
        else:
            for i in range(rows):
                C[target + i] = out[i * NR + j]


@kernel
def pack_transposed_a(A, m0, m1, k0, k1, packed):
    """Copy opA[m0:m1, k0:k1] = A[k0:k1, m0:m1]ᵀ into ``packed`` as MR-row panels, k-major.

    Panel p holds rows ``m0 + p*MR ...``; its element (i, k) sits at
    ``p*MR*(k1-k0) + (k-k0)*MR + i``; rows past ``m1`` are zero. Read in place, a transposed opA
    would put every k of a tile on another page of memory (a row of A apart). ``packed`` needs
    ``2 * L`` elements of slack past the last panel.
    """
    L = vector_lanes(packed)
    width = k1 - k0
    M = A.shape[1]
    flat = as_flat(A)
    for r0 in range(m0, m1, MR):
        base = (r0 - m0) * width
        rows = min(MR, m1 - r0)
        low = min(rows, L)
        high = max(rows - L, 0)
        for k in range(k0, k1):
            # whole vectors: each step writes up to L elements past its MR, which the next step
            # (or, after the last one, the slack at the end of ``packed``) absorbs
            at = base + (k - k0) * MR
            vstore(packed, at, vload_part(flat, k * M + r0, low))
            if MR > L:
                vstore(packed, at + L, vload_part(flat, k * M + r0 + L, high))


@kernel
def transpose_into(B, c0, cols, k0, k1, target, ld):
    """``target[(k - k0) * ld + j] = B[c0 + j, k]`` for j < cols and k0 <= k < k1.

    B's rows hold consecutive k: L x L blocks are transposed in registers (``vtranspose``), the
    last k (fewer than L) element by element. Each block writes whole vectors of L columns, so
    columns from ``cols`` up to the next multiple of L receive copies of the last column; with
    ``ld`` less than that multiple they run into the start of the next row instead, which the
    blocks of lower columns, written after them (column blocks go right to left), overwrite. The
    last row's may run up to L elements past ``(k1 - k0) * ld``.
    """
    L = vector_lanes(target)
    flat = as_flat(B)
    K = B.shape[1]
    vector_end = k0 + (k1 - k0) // L * L
    for j in range((cols - 1) // L * L, -1, -L):
        for k in range(k0, vector_end, L):
            vtranspose(flat, (c0 + j) * K + k, K, min(L, cols - j), target, (k - k0) * ld + j,
                       ld)
        for jj in range(j, min(j + L, cols)):
            for k in range(vector_end, k1):
                target[(k - k0) * ld + jj] = B[c0 + jj, k]


@kernel
def pack_b(B, b_trans, c0, cols, k0, k1, packed, NR):
    """Copy opB[k0:k1, c0:c0+NR] into ``packed``, k-major (NR contiguous columns per k).

    Columns past ``cols`` hold no data the caller may use (zeros, copies of the last column,
    or whatever the buffer held): their products are never stored. Packing makes the panel
    contiguous: read in place, a row stride that is a multiple of 1 KiB would map every row of
    the panel to the same few L1 sets.
    """
    if b_trans:
        transpose_into(B, c0, cols, k0, k1, packed, NR)
    else:
        # whole vectors: a row of the panel is two loads and two stores
        L = NR // 2
        flat = as_flat(B)
        N = B.shape[1]
        first = min(cols, L)
        second = max(cols - L, 0)
        for k in range(k0, k1):
            row = (k - k0) * NR
            vstore(packed, row, vload_part(flat, k * N + c0, first))
            vstore(packed, row + L, vload_part(flat, k * N + c0 + L, second))


@kernel(inline=True)
def _store_row(flat_C, at, L, v0, v1, v2, v3, n0, n1, n2, n3):
    """Store up to four vectors of one output row (n0..n3 lanes of each)."""
    vstore_part(flat_C, at, v0, n0)
    vstore_part(flat_C, at + L, v1, n1)
    vstore_part(flat_C, at + 2 * L, v2, n2)
    vstore_part(flat_C, at + 3 * L, v3, n3)


@kernel(inline=True)
def _four_rows(a0, a1, a2, a3, b, c0, c1, c2, c3, rows):
    """One vector ``b`` of a row of B' into the accumulators of the first ``rows`` of four output
    rows (``rows`` is a constant at every call site, so LLVM folds the tests away)."""
    c0 = vfma(a0, b, c0)
    if rows > 1:
        c1 = vfma(a1, b, c1)
    if rows > 2:
        c2 = vfma(a2, b, c2)
    if rows > 3:
        c3 = vfma(a3, b, c3)
    return c0, c1, c2, c3


@kernel(inline=True)
def _sweep(flat_A, a0, a1, a2, a3, a_k_step, flat_B, at, ldb, K, rows, vectors, n0, n1, n2, n3,
           zero):
    """Sixteen accumulators (row-major, four rows of four vectors) of :func:`_row_group`: the sum
    over k of four rows of opA (element k of row i at ``ai + k * a_k_step`` of ``flat_A``) times
    ``vectors`` vectors of B' from ``at`` on.

    ``rows`` and ``vectors`` are constants at every call site, so LLVM folds the loop's tests
    away, and opA's layout is a step rather than a branch: tested inside the loop, which LLVM did
    not unswitch, they cost the 20-10-1 network's products a test and a mask per vector per k."""
    L = vector_lanes(flat_B)
    c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = zero
    c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = zero
    for k in range(K):
        step = k * a_k_step
        v0 = vsplat_at(flat_A, a0 + step)
        v1 = vsplat_at(flat_A, a1 + step)
        v2 = vsplat_at(flat_A, a2 + step)
        v3 = vsplat_at(flat_A, a3 + step)
        row = at + k * ldb
        c00, c10, c20, c30 = _four_rows(v0, v1, v2, v3, vload_part(flat_B, row, n0),
                                        c00, c10, c20, c30, rows)
        c01, c11, c21, c31 = _four_rows(v0, v1, v2, v3, vload_part(flat_B, row + L, n1),
                                        c01, c11, c21, c31, rows)
        if vectors > 2:
            c02, c12, c22, c32 = _four_rows(v0, v1, v2, v3, vload_part(flat_B, row + 2 * L, n2),
                                            c02, c12, c22, c32, rows)
        if vectors > 3:
            c03, c13, c23, c33 = _four_rows(v0, v1, v2, v3, vload_part(flat_B, row + 3 * L, n3),
                                            c03, c13, c23, c33, rows)
    return (c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33)


@kernel(inline=True, specialize=True)
def _row_group(A, a_trans, flat_B, b_base, ldb, C, r, rows, valid, c_start, c_stop):
    """Output rows ``r`` to ``r + valid`` of :func:`_rows_times_panel`, four vectors of columns
    at a time, with the accumulators of ``rows`` rows (a constant, 2 or 4; ``valid`` <= rows)."""
    L = vector_lanes(C)
    K = A.shape[0] if a_trans else A.shape[1]
    flat_C = as_flat(C)
    ldc = C.shape[1]
    # rows past ``rows`` read row r again and are never multiplied (see _four_rows); rows past
    # ``valid`` read row r again too, and are multiplied but never stored
    r1 = r + min(1, valid - 1)
    r2 = r + min(2, valid - 1)
    r3 = r + min(3, valid - 1)
    # opA's element (i, k) in the flat array: A[k, i] or A[i, k]
    flat_A = as_flat(A)
    M = A.shape[1] if a_trans else A.shape[0]
    row_step, a_k_step = (1, M) if a_trans else (K, 1)
    a0, a1, a2, a3 = r * row_step, r1 * row_step, r2 * row_step, r3 * row_step
    zero = vzeros(C)
    for c in range(c_start, c_stop, 4 * L):
        n0 = min(max(c_stop - c, 0), L)
        n1 = min(max(c_stop - c - L, 0), L)
        n2 = min(max(c_stop - c - 2 * L, 0), L)
        n3 = min(max(c_stop - c - 3 * L, 0), L)
        at = b_base + (c - c_start)
        # the vectors that hold columns, decided once per four (no third or fourth vector in the
        # 20-10-1 network's 20-column dW: a quarter of its multiply-adds, 0.54 -> 0.49 us)
        if n3 > 0:
            acc = _sweep(flat_A, a0, a1, a2, a3, a_k_step, flat_B, at, ldb, K, rows, 4, n0, n1,
                         n2, n3, zero)
        elif n2 > 0:
            acc = _sweep(flat_A, a0, a1, a2, a3, a_k_step, flat_B, at, ldb, K, rows, 3, n0, n1,
                         n2, n3, zero)
        else:
            acc = _sweep(flat_A, a0, a1, a2, a3, a_k_step, flat_B, at, ldb, K, rows, 2, n0, n1,
                         n2, n3, zero)
        (c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33) = acc
        at = r * ldc + c
        _store_row(flat_C, at, L, c00, c01, c02, c03, n0, n1, n2, n3)
        if rows > 1 and valid > 1:
            _store_row(flat_C, at + ldc, L, c10, c11, c12, c13, n0, n1, n2, n3)
        if rows > 2 and valid > 2:
            _store_row(flat_C, at + 2 * ldc, L, c20, c21, c22, c23, n0, n1, n2, n3)
        if rows > 3 and valid > 3:
            _store_row(flat_C, at + 3 * ldc, L, c30, c31, c32, c33, n0, n1, n2, n3)


@kernel(inline=True)
def _rows_times_panel(A, a_trans, flat_B, b_base, ldb, C, r_start, r_stop, c_start, c_stop):
    """``C[r, c] = sum_k opA[r, k] * B'[k, c]`` with B'[k, c] at ``b_base + k * ldb + (c -
    c_start)`` of ``flat_B``: each output row accumulates rows of B' in registers.

    Four rows of four vectors at a time: sixteen independent multiply-add chains keep both FMA
    units busy, and each loaded vector of B' serves four rows (plain loops would not vectorize
    at all, as LLVM cannot rule out that C and B overlap). The last one to three rows take groups
    of two, rather than a group of four that throws rows away (the 20-10-1 network's 10 rows: a
    sixth of their multiply-adds); the third and fourth vectors
    are skipped where they hold no column (its 20-column dW: a quarter, 0.54 -> 0.49 us).
    """
    rest = (r_stop - r_start) % 4
    for r in range(r_start, r_stop - rest, 4):
        _row_group(A, a_trans, flat_B, b_base, ldb, C, r, 4, 4, c_start, c_stop)
    # the last rows in groups of two; an odd one takes a group of two whose second row is
    # computed and dropped (its chains run beside the first's: no slower than a group of one,
    # and one specialization fewer to compile)
    for r in range(r_stop - rest, r_stop, 2):
        _row_group(A, a_trans, flat_B, b_base, ldb, C, r, 2, min(2, r_stop - r), c_start, c_stop)


@kernel(inline=True)
def direct_product(A, a_trans, B, b_trans, C, c_trans, r_start, r_stop, c_start, c_stop,
                   scratch):
    """The block of :func:`block_product` computed by plain loops, for sums too short to pay
    for packing and register tiles.

    With an untransposed opB each output row accumulates rows of B in vector registers
    (:func:`_rows_times_panel`). A transposed opB of at most ``KC`` terms is first transposed
    into ``scratch`` (L x L blocks in registers) and then takes the same path; a longer one, a
    block of at most :data:`DOT_MAX_ROWS` rows, or a transposed C takes dot products of two
    contiguous rows, which LLVM vectorizes.

    Inlined into :func:`block_product`, its only caller: a product small enough for these loops
    is short enough for a call's cost (its arguments are some fifty words on the stack) to show.
    """
    L = vector_lanes(C)
    K = A.shape[0] if a_trans else A.shape[1]
    cols = c_stop - c_start
    # c_trans only comes with a transposed opB (the swapped weight gradient)
    if not b_trans or (not c_trans and transposes_opb(r_stop - r_start, K)
                       and transposed_opb_elements(cols, K, L) <= scratch.shape[0]):
        if b_trans:
            # opB[k, c] = B[c, k], transposed into scratch (K x cols, plus L of slack)
            transpose_into(B, c_start, cols, 0, K, scratch, cols)
            source, base, ld = scratch, 0, cols
        else:
            source, base, ld = as_flat(B), c_start, B.shape[1]
        # one call site: each inlines the loops of three row groups (two call sites took the
        # digits network's cold first fit from 87 to 123 s)
        _rows_times_panel(A, a_trans, source, base, ld, C, r_start, r_stop, c_start, c_stop)
        return
    zero = C.dtype.type(0)
    for r in range(r_start, r_stop):
        for c in range(c_start, c_stop):
            total = zero
            if a_trans:
                for k in range(K):
                    total += A[k, r] * B[c, k]
            else:
                for k in range(K):
                    total += A[r, k] * B[c, k]
            if c_trans:
                C[c, r] = total
            else:
                C[r, c] = total


@kernel
def block_product(A, a_trans, B, b_trans, C, c_trans, r_start, r_stop, c_start, c_stop,
                  scratch):
    """Rows ``r_start:r_stop`` and columns ``c_start:c_stop`` of ``P = opA · opB``, one block.

    ``P`` is written into ``C`` (``C = P``), or transposed (``C = Pᵀ``) with ``c_trans``.

    Loop order of a BLIS-style GEMM: for each chunk of k, the block's opB columns are packed once
    (``KC`` x block width, reused by every row), then each ``MC`` rows of opA (read in place, or
    packed when transposed; reused by every column panel from L2) are swept tile by tile.
    ``scratch`` is this thread's buffer of :func:`scratch_size` elements.
    """
    L = vector_lanes(C)
    NR = 2 * L
    K = A.shape[0] if a_trans else A.shape[1]
    if takes_plain_loops(r_stop - r_start, c_stop - c_start, K):
        direct_product(A, a_trans, B, b_trans, C, c_trans, r_start, r_stop, c_start, c_stop,
                       scratch)
        return
    panels = (c_stop - c_start + NR - 1) // NR
    b_block, a_block, out = _scratch_layout(scratch, c_stop - c_start, NR, min(K, KC),
                                            min(r_stop - r_start, MC) if a_trans else 0)
    ldc = C.shape[1]
    flat_C = as_flat(C)
    flat_A = as_flat(A)
    flat_B = as_flat(B)
    ldb = B.shape[1]
    # whole panels of an untransposed opB are read where they lie when few rows reuse them; a
    # partial last panel is always packed (a whole-vector read could run past the end of B)
    direct = not b_trans and r_stop - r_start <= DIRECT_B_MAX_ROWS
    for k0 in range(0, K, KC):
        k1 = min(k0 + KC, K)
        width = k1 - k0
        for p in range(panels):
            c0 = c_start + p * NR
            if not (direct and c_stop - c0 >= NR):
                pack_b(B, b_trans, c0, min(NR, c_stop - c0), k0, k1, b_block[p * NR * width:],
                       NR)
        for m0 in range(r_start, r_stop, MC):
            m1 = min(m0 + MC, r_stop)
            if a_trans:
                pack_transposed_a(A, m0, m1, k0, k1, a_block)
            for p in range(panels):
                c0 = c_start + p * NR
                cols = min(NR, c_stop - c0)
                for r0 in range(m0, m1, MR):
                    rows = min(MR, m1 - r0)
                    if direct and cols == NR:
                        source, b_base, b_k_step = flat_B, k0 * ldb + c0, ldb
                    else:
                        source, b_base, b_k_step = b_block, p * NR * width, NR
                    if a_trans:
                        tile(a_block, (r0 - m0) * width, 1, MR, MR, source, b_base, b_k_step,
                             width, cols <= L, out)
                    else:
                        tile(flat_A, r0 * K + k0, K, 1, rows, source, b_base, b_k_step, width,
                             cols <= L, out)
                    if c_trans:
                        _merge_tile_transposed(out, flat_C, c0 * ldc + r0, ldc, rows, cols,
                                               k0 > 0, NR)
                    else:
                        _merge_tile(out, flat_C, r0 * ldc + c0, ldc, rows, cols, k0 > 0, L)
