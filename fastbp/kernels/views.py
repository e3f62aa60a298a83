"""Array views built directly, for kernels that run without Numba's runtime.

``flat[offset:offset + rows * cols].reshape((rows, cols))`` and ``array.reshape(-1)`` are how a
kernel would carve a layer's W out of the flat parameters or flatten a block for SIMD loads, but
Numba's reshape calls a general helper that costs about 9 ns per view: a forward and backward pass
of a small network makes dozens, a tenth of its whole time. These intrinsics fill in the array
structure (data pointer, shape, strides) in a few instructions instead.
"""
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array



def _view(context, builder, source_type, source, result_type, offset, shape):
    """A C-contiguous view of ``shape`` into ``source``, starting ``offset`` elements in."""
    source = context.make_array(source_type)(context, builder, source)
    result = context.make_array(result_type)(context, builder)
    itemsize = context.get_constant(types.intp,
                                    context.get_abi_sizeof(context.get_data_type(
                                        source_type.dtype)))
    strides = []
    stride = itemsize
    for extent in reversed(shape):
        strides.insert(0, stride)
        stride = builder.mul(stride, extent)
    populate_array(result, data=builder.gep(source.data, [offset]), shape=shape,
                   strides=strides, itemsize=itemsize, meminfo=source.meminfo,
                   parent=source.parent)
    return impl_ret_borrowed(context, builder, result_type, result._getvalue())


def _check_view(context, builder, flat_type, flat, offset, rows, cols):
    """Raise IndexError unless the (rows, cols) view from ``offset`` lies inside ``flat``."""
    size = context.make_array(flat_type)(context, builder, flat).nitems
    zero = context.get_constant(types.intp, 0)
    end = builder.add(offset, builder.mul(rows, cols))
    outside = builder.or_(builder.or_(builder.icmp_signed("<", offset, zero),
                                      builder.icmp_signed("<", rows, zero)),
                          builder.or_(builder.icmp_signed("<", cols, zero),
                                      builder.icmp_signed(">", end, size)))
    with cgutils.if_unlikely(builder, outside):
        context.call_conv.return_user_exc(builder, IndexError,
                                          ("matrix view outside its flat array",))


@intrinsic
def matrix(typingctx, flat, offset, rows, cols):
    """The (rows, cols) C-contiguous view of the 1-D ``flat`` starting at element ``offset``.

    Raises IndexError if the view would not lie inside ``flat``.
    """
    if not (isinstance(flat, types.Array) and flat.ndim == 1 and flat.layout == "C"):
        return None
    result_type = flat.copy(ndim=2, layout="C")

    def codegen(context, builder, signature, args):
        offset_, rows_, cols_ = (context.cast(builder, value, kind, types.intp)
                                 for value, kind in zip(args[1:], signature.args[1:]))
        _check_view(context, builder, signature.args[0], args[0], offset_, rows_, cols_)
        return _view(context, builder, signature.args[0], args[0], result_type, offset_,
                     [rows_, cols_])

    return result_type(flat, offset, rows, cols), codegen


@intrinsic
def as_flat(typingctx, array):
    """The 1-D view of every element of the C-contiguous ``array``, as ``array.reshape(-1)``."""
    if not (isinstance(array, types.Array) and array.layout == "C"):
        return None
    result_type = array.copy(ndim=1, layout="C")

    def codegen(context, builder, signature, args):
        source = context.make_array(signature.args[0])(context, builder, args[0])
        size = source.nitems
        return _view(context, builder, signature.args[0], args[0], result_type,
                     context.get_constant(types.intp, 0), [size])

    return result_type(array), codegen
