"""SIMD vectors for Numba kernels: a vector type and the handful of operations a GEMM needs.

Numba leaves LLVM's SLP vectorizer off (it miscompiled code, numba#8852), so a register-blocked
product written with scalar accumulators stays scalar, and the loop vectorizer only vectorizes the
*dot* form of a sum, which pays a horizontal reduction per output. These intrinsics let a kernel
hold a block of outputs in vector registers explicitly — the outer-product micro-kernel every fast
BLAS uses — while the loops stay ordinary Numba loops.

A vector holds ``lanes(dtype)`` elements: one register of :data:`fastbp._config.VECTOR_BITS`
bits, 16 float32 or 8 float64 with AVX-512, 8 or 4 with AVX2. Every output of a product is summed
in the same order whatever the width, so results do not depend on it. On a CPU without the
instructions, LLVM splits each operation into narrower ones; results are the same.

Operations (usable only inside kernels):

* ``vload(a, i)`` / ``vstore(a, i, v)``: lanes consecutive elements of the C-contiguous array
  ``a`` starting at flat index ``i``; ``vload_part(a, i, n)`` / ``vstore_part(a, i, v, n)`` touch
  only the first ``n`` lanes (masked, never reading or writing past them).
* ``vsplat(x)``: every lane equal to the scalar ``x``; ``vsplat_at(a, i)``: to element i of
  ``a``; ``vzeros(a)``: zeros of a's dtype.
* ``vfma(a, b, c)``: a * b + c, fused; ``vadd``, ``vsub``, ``vmul``, ``vdiv``, ``vmax``.
* ``vexp(x)``, ``vlog(x)``, ``vtanh(x)``: exp and log within 1 ulp, tanh within a few (no
  vector math library is available to Numba here).
* ``vtranspose(...)``: an L x L block moved transposed between two flat arrays;
  ``vgather_transpose(...)`` the same from L rows picked by an index array.
* ``vselect_le_zero(g, x, y)`` / ``vselect_gt_zero(g, x, y)``: lane-wise x where g <= 0 (g > 0),
  else y; a NaN in g takes y.
* ``vlane(v, j)``: lane j as a scalar; ``vsum(v)``: the sum of the lanes, in a fixed order.
* ``vector_lanes(a)``: the lane count for a's dtype, a compile-time constant.
"""
import math

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

from .._config import VECTOR_BITS


class SimdVector(types.Type):
    """Numba type of a vector of ``lanes`` elements of the float type ``dtype``."""

    def __init__(self, dtype, lanes):
        self.dtype = dtype
        self.lanes = lanes
        super().__init__(name=f"SimdVector({dtype} x {lanes})")


@register_model(SimdVector)
class _SimdVectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


def lanes(dtype):
    """Elements of ``dtype`` (a Numba float type, or a NumPy float dtype) in one vector of
    :data:`fastbp._config.VECTOR_BITS` bits."""
    name = str(dtype)
    if name == "float32":
        return VECTOR_BITS // 32
    if name == "float64":
        return VECTOR_BITS // 64
    raise TypeError(f"SIMD vectors hold float32 or float64, not {dtype}")


def _vector_of(array_or_scalar):
    dtype = getattr(array_or_scalar, "dtype", array_or_scalar)
    return SimdVector(dtype, lanes(dtype))


def _contiguous(array):
    if not isinstance(array, types.Array) or array.layout != "C":
        raise TypeError(f"SIMD loads and stores need a C-contiguous array, got {array}")


def _element_pointer(context, builder, array_type, array, index, vector_type):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]),
                           context.get_value_type(vector_type).as_pointer())


def _lane_mask(builder, count, lane_count):
    """<lanes x i1>: lane j is on when j < count."""
    index_type = ir.IntType(64)
    lane_numbers = ir.Constant(ir.VectorType(index_type, lane_count), list(range(lane_count)))
    limit = builder.insert_element(ir.Constant(ir.VectorType(index_type, lane_count),
                                               ir.Undefined),
                                   builder.sext(count, index_type) if count.type.width < 64
                                   else count, ir.Constant(ir.IntType(32), 0))
    limit = builder.shuffle_vector(limit, ir.Constant(limit.type, ir.Undefined),
                                   ir.Constant(ir.VectorType(ir.IntType(32), lane_count),
                                               [0] * lane_count))
    return builder.icmp_unsigned("<", lane_numbers, limit)


def _float_suffix(vector_type):
    bits = 32 if vector_type.dtype == types.float32 else 64
    return f"v{vector_type.lanes}f{bits}"


@intrinsic
def vload(typingctx, array, index):
    _contiguous(array)
    vector = _vector_of(array)

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1], vector)
        return builder.load(pointer, align=signature.args[0].dtype.bitwidth // 8)

    return vector(array, index), codegen


@intrinsic
def vstore(typingctx, array, index, value):
    _contiguous(array)

    def codegen(context, builder, signature, args):
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1],
                                   signature.args[2])
        builder.store(args[2], pointer, align=signature.args[0].dtype.bitwidth // 8)
        return context.get_dummy_value()

    return types.none(array, index, value), codegen


@intrinsic
def vload_part(typingctx, array, index, count):
    _contiguous(array)
    vector = _vector_of(array)

    def codegen(context, builder, signature, args):
        vector_llvm = context.get_value_type(vector)
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1], vector)
        mask = _lane_mask(builder, args[2], vector.lanes)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(vector_llvm, [pointer.type, ir.IntType(32), mask.type, vector_llvm]),
            f"llvm.masked.load.{_float_suffix(vector)}.p0{_float_suffix(vector)}")
        alignment = ir.Constant(ir.IntType(32), signature.args[0].dtype.bitwidth // 8)
        return builder.call(function, [pointer, alignment, mask, ir.Constant(vector_llvm, None)])

    return vector(array, index, count), codegen


@intrinsic
def vstore_part(typingctx, array, index, value, count):
    _contiguous(array)

    def codegen(context, builder, signature, args):
        vector = signature.args[2]
        vector_llvm = context.get_value_type(vector)
        pointer = _element_pointer(context, builder, signature.args[0], args[0], args[1], vector)
        mask = _lane_mask(builder, args[3], vector.lanes)
        function = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [vector_llvm, pointer.type, ir.IntType(32),
                                            mask.type]),
            f"llvm.masked.store.{_float_suffix(vector)}.p0{_float_suffix(vector)}")
        alignment = ir.Constant(ir.IntType(32), signature.args[0].dtype.bitwidth // 8)
        builder.call(function, [args[2], pointer, alignment, mask])
        return context.get_dummy_value()

    return types.none(array, index, value, count), codegen


@intrinsic
def vsplat(typingctx, scalar):
    vector = _vector_of(scalar)

    def codegen(context, builder, signature, args):
        vector_llvm = context.get_value_type(vector)
        first = builder.insert_element(ir.Constant(vector_llvm, ir.Undefined), args[0],
                                       ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(first, ir.Constant(vector_llvm, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), vector.lanes),
                                                  [0] * vector.lanes))

    return vector(scalar), codegen


@intrinsic
def vzeros(typingctx, array):
    vector = _vector_of(array)

    def codegen(context, builder, signature, args):
        return ir.Constant(context.get_value_type(vector), None)

    return vector(array), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    if not (isinstance(a, SimdVector) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        vector_llvm = context.get_value_type(a)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector_llvm, [vector_llvm] * 3),
            f"llvm.fma.{_float_suffix(a)}")
        return builder.call(function, args)

    return a(a, b, c), codegen


def _binary(name, build):
    """An intrinsic ``(a, b)`` on two vectors of one type, built by ``build(builder, a, b)``."""

    def typer(typingctx, a, b):
        if not (isinstance(a, SimdVector) and a == b):
            return None

        def codegen(context, builder, signature, args):
            return build(builder, args[0], args[1])

        return a(a, b), codegen

    typer.__name__ = name
    return intrinsic(typer)


#: ``vadd``, ``vsub``, ``vmul``, ``vdiv``: lane-wise arithmetic; ``vmax(a, b)``: a where a > b,
#: else b (so a NaN in a gives b, one in b gives b).
vadd = _binary("vadd", lambda builder, a, b: builder.fadd(a, b))
vmul = _binary("vmul", lambda builder, a, b: builder.fmul(a, b))
vsub = _binary("vsub", lambda builder, a, b: builder.fsub(a, b))
vdiv = _binary("vdiv", lambda builder, a, b: builder.fdiv(a, b))
vmax = _binary("vmax", lambda builder, a, b: builder.select(builder.fcmp_ordered(">", a, b), a,
                                                             b))


def _halves_sum(builder, value, width):
    """IR of the sum of ``value``'s ``width`` lanes: the upper half added to the lower half until
    one lane is left (log2(width) shuffles and adds, not width - 1 dependent adds)."""
    while width > 1:
        width //= 2
        low = builder.shuffle_vector(value, value, ir.Constant(
            ir.VectorType(ir.IntType(32), width), list(range(width))))
        high = builder.shuffle_vector(value, value, ir.Constant(
            ir.VectorType(ir.IntType(32), width), list(range(width, 2 * width))))
        value = builder.fadd(low, high)
    return builder.extract_element(value, ir.Constant(ir.IntType(32), 0))


@intrinsic
def vsum(typingctx, vector):
    """Sum of the lanes as a scalar, in a fixed order: the upper half added to the lower half
    until one lane is left."""
    if not isinstance(vector, SimdVector):
        return None

    def codegen(context, builder, signature, args):
        return _halves_sum(builder, args[0], vector.lanes)

    return vector.dtype(vector), codegen


@intrinsic
def vsum_float64(typingctx, vector):
    """Sum of the lanes in float64, in :func:`vsum`'s order (float32 lanes are widened first,
    each exactly)."""
    if not isinstance(vector, SimdVector):
        return None

    def codegen(context, builder, signature, args):
        wide = ir.VectorType(ir.DoubleType(), vector.lanes)
        value = args[0] if vector.dtype == types.float64 else builder.fpext(args[0], wide)
        return _halves_sum(builder, value, vector.lanes)

    return types.float64(vector), codegen


@intrinsic
def vlane(typingctx, vector, index):
    if not isinstance(vector, SimdVector):
        return None

    def codegen(context, builder, signature, args):
        return builder.extract_element(args[0], args[1])

    return vector.dtype(vector, index), codegen


def vector_lanes(array):
    """Lane count of ``array``'s dtype (a compile-time constant inside kernels)."""
    raise NotImplementedError("vector_lanes() is only callable inside Numba kernels")


@overload(vector_lanes)
def _vector_lanes_overload(array):
    count = lanes(array.dtype)
    return lambda array: count


@intrinsic
def vsplat_at(typingctx, array, index):
    """Every lane equal to element ``index`` of the flat C-contiguous ``array`` (no bounds check)."""
    _contiguous(array)
    vector = _vector_of(array)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        scalar = builder.load(builder.gep(data, [args[1]]))
        vector_llvm = context.get_value_type(vector)
        first = builder.insert_element(ir.Constant(vector_llvm, ir.Undefined), scalar,
                                       ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(first, ir.Constant(vector_llvm, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), vector.lanes),
                                                  [0] * vector.lanes))

    return vector(array, index), codegen


def _select_by_sign(predicate):
    """An intrinsic ``(g, x, y)``: lane-wise x where ``g <predicate> 0`` holds, else y.

    The comparison is ordered, as Python's: a NaN in g fails it and takes y.
    """

    @intrinsic
    def select(typingctx, g, x, y):
        if not (isinstance(g, SimdVector) and g == x == y):
            return None

        def codegen(context, builder, signature, args):
            zero = ir.Constant(context.get_value_type(g), None)
            return builder.select(builder.fcmp_ordered(predicate, args[0], zero), args[1],
                                  args[2])

        return g(g, x, y), codegen

    return select


#: ``vselect_le_zero(g, x, y)``: x where g <= 0, else y (a NaN in g gives y).
vselect_le_zero = _select_by_sign("<=")
#: ``vselect_gt_zero(g, x, y)``: x where g > 0, else y (a NaN in g gives y).
vselect_gt_zero = _select_by_sign(">")


@intrinsic
def vtranspose(typingctx, source, source_index, source_stride, rows, target, target_index,
               target_stride):
    """Transpose an L x L block: L vectors loaded from ``source`` (vector i at ``source_index +
    i * source_stride``) are stored as L vectors into ``target`` (vector j at ``target_index +
    j * target_stride``) so that element j of source vector i lands in element i of target
    vector j. Source vectors from ``rows`` on repeat the last one (``rows`` >= 1), so a block
    of fewer rows never reads past them. Both arrays flat and C-contiguous, of one dtype; no
    bounds checks.

    log2(L) stages of two-input shuffles, each swapping the off-diagonal halves of 2h x 2h
    sub-blocks (h = L/2, L/4, ..., 1): a quarter of an instruction per element, against a load
    and a store per element for a scalar transpose.
    """
    _contiguous(source)
    _contiguous(target)
    if source.dtype != target.dtype:
        return None
    vector = _vector_of(source)

    def codegen(context, builder, signature, args):
        src, src_index, src_stride, valid, dst, dst_index, dst_stride = args
        index_type = src_index.type
        valid = builder.sext(valid, index_type) if valid.type != index_type else valid
        last = builder.sub(valid, ir.Constant(index_type, 1))
        starts = []
        for i in range(vector.lanes):
            row = ir.Constant(index_type, i)
            row = builder.select(builder.icmp_signed("<", row, valid), row, last)
            starts.append(builder.add(src_index, builder.mul(src_stride, row)))
        _transpose_block(context, builder, signature.args[0], src, starts, signature.args[4],
                         dst, dst_index, dst_stride, vector)
        return context.get_dummy_value()

    return types.none(source, source_index, source_stride, rows, target, target_index,
                      target_stride), codegen


@intrinsic
def vgather_transpose(typingctx, source, rows, first, column, row_length, target, target_index,
                      target_stride):
    """:func:`vtranspose` of the L x L block whose source vector i starts at column ``column``
    of row ``rows[first + i]`` of ``source`` (flat, rows of ``row_length`` elements): L rows
    picked by an index array, e.g. a shuffled minibatch's examples, moved neuron-major. All L
    rows must exist; no bounds checks.
    """
    _contiguous(source)
    _contiguous(target)
    if source.dtype != target.dtype or not isinstance(rows, types.Array):
        return None
    vector = _vector_of(source)

    def codegen(context, builder, signature, args):
        src, picks, first_, column_, length, dst, dst_index, dst_stride = args
        pick_data = context.make_array(signature.args[1])(context, builder, picks).data
        index_type = column_.type
        starts = []
        for i in range(vector.lanes):
            at = builder.add(first_, ir.Constant(first_.type, i))
            row = builder.load(builder.gep(pick_data, [at]))
            row = builder.sext(row, index_type) if row.type != index_type else row
            starts.append(builder.add(builder.mul(row, length), column_))
        _transpose_block(context, builder, signature.args[0], src, starts, signature.args[5],
                         dst, dst_index, dst_stride, vector)
        return context.get_dummy_value()

    return types.none(source, rows, first, column, row_length, target, target_index,
                      target_stride), codegen


def _transpose_block(context, builder, source_type, source, starts, target_type, target,
                     target_index, target_stride, vector):
    """Load one vector at each of ``starts`` in ``source``, transpose the L x L block in
    registers and store its vectors at ``target_index + j * target_stride`` of ``target``."""
    count = vector.lanes
    rows = []
    for at in starts:
        pointer = _element_pointer(context, builder, source_type, source, at, vector)
        rows.append(builder.load(pointer, align=vector.dtype.bitwidth // 8))
    half = count // 2
    while half >= 1:
        low_mask = [j if not j & half else count + j - half for j in range(count)]
        high_mask = [j + half if not j & half else count + j for j in range(count)]
        for i in range(count):
            if i & half:
                continue
            a, b = rows[i], rows[i + half]
            rows[i] = builder.shuffle_vector(
                a, b, ir.Constant(ir.VectorType(ir.IntType(32), count), low_mask))
            rows[i + half] = builder.shuffle_vector(
                a, b, ir.Constant(ir.VectorType(ir.IntType(32), count), high_mask))
        half //= 2
    index_type = starts[0].type
    target_index = (builder.sext(target_index, index_type) if target_index.type != index_type
                    else target_index)
    stride = (builder.sext(target_stride, index_type) if target_stride.type != index_type
              else target_stride)
    for j in range(count):
        at = builder.add(target_index, builder.mul(stride, ir.Constant(index_type, j)))
        pointer = _element_pointer(context, builder, target_type, target, at, vector)
        builder.store(rows[j], pointer, align=vector.dtype.bitwidth // 8)


#: exp's constants per float width: the clamp range of x (a little beyond where exp overflows
#: and where it rounds to 0, so the clamped result still overflows or underflows by itself), the
#: mantissa bits, the exponent bias, and the degree of the Taylor polynomial of exp(r) on
#: |r| <= ln(2)/2 (its truncation error is below a twentieth of an ulp; float64's degree 12
#: left 0.75 ulp).
_EXP_CONSTANTS = {32: (89.0, -110.0, 23, 127, 7),
                  64: (710.0, -760.0, 52, 1023, 13)}


class _VectorMath:
    """Builds the IR of vector math on one vector type: constants, LLVM intrinsics, and exp
    (shared by :func:`vexp` and :func:`vtanh`)."""

    def __init__(self, context, builder, x):
        self.builder = builder
        self.x = x
        self.vector_llvm = context.get_value_type(x)
        self.bits = x.dtype.bitwidth
        self.int_vector = ir.VectorType(ir.IntType(self.bits), x.lanes)

    def splat(self, number):
        return ir.Constant(self.vector_llvm, [number] * self.x.lanes)

    def int_splat(self, number):
        return ir.Constant(self.int_vector, [number] * self.x.lanes)

    def call(self, name, *operands):
        function = cgutils.get_or_insert_function(
            self.builder.module,
            ir.FunctionType(self.vector_llvm, [self.vector_llvm] * len(operands)),
            f"llvm.{name}.{_float_suffix(self.x)}")
        return self.builder.call(function, list(operands))

    def polynomial(self, coefficients, r):
        """sum(c_k r**k) in Estrin's scheme: pairs c_2i + c_2i+1 r, then pairs of those with
        r**2, r**4, ... . The dependency chain is log2(degree) FMAs deep instead of Horner's
        degree, so vectors in flight overlap (Horner's 48-cycle float64 chain left the FMA
        units idle)."""
        terms = [self.splat(c) for c in coefficients]
        power = r
        while len(terms) > 1:
            paired = [self.call("fma", terms[i + 1], power, terms[i])
                      for i in range(0, len(terms) - 1, 2)]
            terms = paired + terms[len(terms) - len(terms) % 2:]
            if len(terms) > 1:
                power = self.builder.fmul(power, power)
        return terms[0]

    def exp(self, value):
        """exp(value): see :func:`vexp`."""
        builder, splat, int_splat, call = self.builder, self.splat, self.int_splat, self.call
        high, low, mantissa, bias, degree = _EXP_CONSTANTS[self.bits]
        # clamp into a range where 2**n below still splits into two finite halves: beyond it the
        # product overflows to inf or underflows to 0 by itself (a NaN passes the ordered
        # compares untouched and stays NaN)
        clamped = builder.select(builder.fcmp_ordered(">", value, splat(high)), splat(high), value)
        clamped = builder.select(builder.fcmp_ordered("<", clamped, splat(low)), splat(low),
                                 clamped)
        # n = rint(x / ln2) by the shifter 1.5 * 2**mantissa: adding it rounds to an integer,
        # which then sits in the low mantissa bits (cheaper than rint and a float-to-int convert)
        shifter = 1.5 * 2.0 ** mantissa
        shifted = call("fma", clamped, splat(1 / math.log(2)), splat(shifter))
        n = builder.fsub(shifted, splat(shifter))
        whole = builder.sub(builder.bitcast(shifted, self.int_vector),
                            builder.bitcast(splat(shifter), self.int_vector))
        # ln 2 in two parts (fdlibm's): n * ln2_high is exact, ln2_low carries the bits that
        # a single constant would lose
        ln2_high, ln2_low = ((6.93147180369123816490e-01, 1.90821492927058770002e-10)
                             if self.bits == 64 else (0.693145751953125,
                                                      1.42860682030941723212e-06))
        r = call("fma", n, splat(-ln2_high), clamped)
        r = call("fma", n, splat(-ln2_low), r)
        # exp(r) = 1 + (r + r**2 P(r)): the two large terms added last, so the Estrin sum of
        # the small ones costs no precision
        tail = self.polynomial([1 / math.factorial(k) for k in range(2, degree + 1)], r)
        polynomial = builder.fadd(call("fma", builder.fmul(r, r), tail, r), splat(1.0))
        first = builder.ashr(whole, int_splat(1))
        second = builder.sub(whole, first)
        scale_1 = builder.bitcast(builder.shl(builder.add(first, int_splat(bias)),
                                              int_splat(mantissa)), self.vector_llvm)
        scale_2 = builder.bitcast(builder.shl(builder.add(second, int_splat(bias)),
                                              int_splat(mantissa)), self.vector_llvm)
        return builder.fmul(builder.fmul(polynomial, scale_1), scale_2)


@intrinsic
def vexp(typingctx, x):
    """Lane-wise exp(x), within about 1 ulp of the exact result: exp(-inf) = 0, exp(inf) = inf,
    NaN stays NaN, results below the smallest normal come out subnormal, above the largest inf.

    Numba has no vector math library here (no SVML), so ``np.exp`` in a loop stays one libm call
    per element; this is the usual vector form: x = n ln2 + r with n = rint(x / ln2) and
    |r| <= ln2/2, exp(r) by a polynomial, 2**n built in the exponent bits (in two halves, so that
    subnormal, overflowing and underflowing results need no special case).
    """
    if not isinstance(x, SimdVector):
        return None

    def codegen(context, builder, signature, args):
        return _VectorMath(context, builder, x).exp(args[0])

    return x(x), codegen


#: tanh's constants per float width: the degree of the Taylor polynomial of expm1(y) used for
#: y = 2|x| <= 1 (its truncation error is below a tenth of an ulp), and the |x| from which tanh
#: rounds to 1.
_TANH_CONSTANTS = {32: (11, 9.0), 64: (18, 19.5)}


@intrinsic
def vtanh(typingctx, x):
    """Lane-wise tanh(x), within a few ulp of libm's; tanh(±inf) = ±1, tanh(-0) = -0, NaN stays
    NaN.

    tanh(|x|) = e / (e + 2) with e = expm1(2|x|), the sign put back after. expm1(y) is
    exp(y) - 1 for y > 1, and its Taylor polynomial (no constant term, so relative precision
    holds down to y = 0) for y <= 1, where exp(y) - 1 would cancel.
    """
    if not isinstance(x, SimdVector):
        return None

    def codegen(context, builder, signature, args):
        math_ = _VectorMath(context, builder, x)
        splat, call = math_.splat, math_.call
        value = args[0]
        degree, saturation = _TANH_CONSTANTS[math_.bits]
        magnitude = call("fabs", value)
        y = builder.fadd(magnitude, magnitude)
        series = splat(1 / math.factorial(degree))
        for k in range(degree - 1, 0, -1):
            series = call("fma", series, y, splat(1 / math.factorial(k)))
        small = builder.fmul(series, y)
        large = builder.fsub(math_.exp(y), splat(1.0))
        e = builder.select(builder.fcmp_ordered("<=", y, splat(1.0)), small, large)
        result = builder.fdiv(e, builder.fadd(e, splat(2.0)))
        result = builder.select(builder.fcmp_ordered(">", magnitude, splat(saturation)),
                                splat(1.0), result)
        result = call("copysign", result, value)
        return builder.select(builder.fcmp_unordered("uno", value, value), value, result)

    return x(x), codegen


#: log's constants per float width: the mantissa bits, the exponent bias, the scale that makes a
#: subnormal input normal, and the number of odd terms of 2 atanh(s) summed (|s| <= 0.1716, so
#: the first term left out is below a quarter of an ulp).
_LOG_CONSTANTS = {32: (23, 127, 25, 6), 64: (52, 1023, 54, 12)}


@intrinsic
def vlog(typingctx, x):
    """Lane-wise natural log, within about 1 ulp of libm's: log(0) = -inf, log(inf) = inf, a
    negative x or NaN gives NaN, subnormal x is exact as well.

    x = 2**k * f with f in [sqrt(1/2), sqrt(2)) read from the exponent and mantissa bits, then
    log(x) = k ln2 + log(f), and log(f) = 2 atanh(s) with s = (f - 1) / (f + 1), an odd series
    in s that converges fast because |s| <= 0.1716. f - 1 is exact, so x near 1 keeps its
    relative precision.
    """
    if not isinstance(x, SimdVector):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        math_ = _VectorMath(context, builder, x)
        splat, int_splat, call = math_.splat, math_.int_splat, math_.call
        vector_llvm, int_vector, bits = math_.vector_llvm, math_.int_vector, math_.bits
        mantissa, bias, subnormal_shift, terms = _LOG_CONSTANTS[bits]

        smallest_normal = 2.0 ** (1 - bias)
        # subnormal inputs are scaled into the normal range first, their exponent corrected below
        tiny = builder.fcmp_ordered("<", value, splat(smallest_normal))
        scaled = builder.select(tiny, builder.fmul(value, splat(2.0 ** subnormal_shift)), value)
        raw = builder.bitcast(scaled, int_vector)
        exponent = builder.sub(builder.lshr(raw, int_splat(mantissa)), int_splat(bias))
        exponent = builder.sub(exponent, builder.select(tiny, int_splat(subnormal_shift),
                                                        int_splat(0)))
        fraction_bits = builder.and_(raw, int_splat((1 << mantissa) - 1))
        f = builder.bitcast(builder.or_(fraction_bits, int_splat(bias << mantissa)), vector_llvm)
        # f in [1, 2): halve it above sqrt(2) so that |s| stays small on both sides of 1
        high = builder.fcmp_ordered(">", f, splat(math.sqrt(2.0)))
        f = builder.select(high, builder.fmul(f, splat(0.5)), f)
        exponent = builder.add(exponent, builder.select(high, int_splat(1), int_splat(0)))
        k = builder.sitofp(exponent, vector_llvm)
        # fdlibm's form: with r = f - 1 (exact) and s = r / (2 + r), log(f) = 2 atanh(s)
        # = r - r^2/2 + s (r^2/2 + R), R = s^2 (2/3 + 2/5 s^2 + ...): the large terms r and
        # r^2/2 are exact or nearly, the series only corrects them
        r = builder.fsub(f, splat(1.0))
        s = builder.fdiv(r, builder.fadd(r, splat(2.0)))
        z = builder.fmul(s, s)
        series = math_.polynomial([2.0 / (2 * term + 1) for term in range(1, terms)], z)
        R = builder.fmul(z, series)
        half_square = builder.fmul(builder.fmul(r, r), splat(0.5))
        ln2_high, ln2_low = ((6.93147180369123816490e-01, 1.90821492927058770002e-10)
                             if bits == 64 else (0.693145751953125, 1.42860682030941723212e-06))
        correction = call("fma", s, builder.fadd(half_square, R),
                          builder.fmul(k, splat(ln2_low)))
        result = call("fma", k, splat(ln2_high),
                      builder.fsub(r, builder.fsub(half_square, correction)))
        result = builder.select(builder.fcmp_ordered("==", value, splat(math.inf)),
                                splat(math.inf), result)
        result = builder.select(builder.fcmp_ordered("==", value, splat(0.0)), splat(-math.inf),
                                result)
        result = builder.select(builder.fcmp_ordered("<", value, splat(0.0)), splat(math.nan),
                                result)
        return builder.select(builder.fcmp_unordered("uno", value, value), value, result)

    return x(x), codegen
