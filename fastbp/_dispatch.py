"""How fastbp's kernels are compiled and linked: each heavy body once per dtype, never again.

Numba's own way multiplies compile time in three places, which together made the digits
network's first fit take 57 s (now about 10):

1. **Constants.** A constant argument (``block_product(W, False, ...)``) is typed as a literal,
   and the callee is compiled once per combination of literal values: the products were compiled
   four times each. :class:`RuntimeArgumentsDispatcher` types every argument by its type alone.
2. **Linking.** A caller gets a copy of each callee's LLVM module, which LLVM optimises and turns
   into machine code again, and so on up the call tree: the plain-loop products were compiled
   once for each of the eight levels above them. :class:`SeparateDispatcher` compiles a kernel
   into a library of its own and callers call it by its symbol in the JIT, as C calls a function
   of another object file.
3. **Inlining.** ``inline="always"`` copies a function's Numba IR into every call site and types
   it again there: 3.7 of the 4.7 s the plain-loop products took. :class:`InlineDispatcher`
   compiles a small helper once and marks it ``alwaysinline``, so LLVM inlines the already
   optimised body.

A separately compiled kernel's callers hold a reference to its symbol (:func:`stable_symbol`),
not its code, so a caller read from the disk cache must find the callee loaded first: each call
site registers a :class:`LoadKernel` hook in the caller's library, which Numba runs before it
links a cached library (the mechanism it uses to start the thread pool for cached parallel code).
"""
import hashlib
import importlib

import llvmlite.binding as llvm
from numba.core import cgutils, types
from numba.core.imputils import fix_returning_optional
from numba.core.registry import CPUDispatcher

#: Separately compiled kernels by (module, qualified name), for :class:`LoadKernel`.
_SEPARATE = {}

#: Every dispatcher made by ``_config.kernel`` and ``parallel_kernel`` (to count what compiled).
DISPATCHERS = []


class RuntimeArgumentsDispatcher(CPUDispatcher):
    """Compiles one version per argument *types*, never per constant value: flags and sizes
    passed as constants are runtime values (LLVM still folds them where a kernel is inlined)."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {key: types.unliteral(value) for key, value in kws.items()}
        return super().get_call_template(args, kws)


class LoadKernel:
    """A picklable reload hook: load one separately compiled kernel's version for ``args``
    (from the disk cache, or compiling it) into the process's JIT."""

    def __init__(self, name, args):
        self.name = name
        self.args = tuple(args)

    def __call__(self):
        importlib.import_module(self.name[0])
        _SEPARATE[self.name].compile(self.args)

    def _key(self):
        return self.name, tuple(str(a) for a in self.args)

    def __eq__(self, other):
        return isinstance(other, LoadKernel) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


def stable_symbol(name, args):
    """The symbol a separately compiled kernel's version is called by.

    Numba's own symbol names carry a counter of the process that compiled them (``...B2v5...``),
    so a caller cached by one process could not find a callee cached by another (two ``fastbp
    warmup`` processes, or one entry recompiled later): callers use this name, a hash of the
    kernel's module, name and argument types, which every process registers for the code it
    compiled or loaded.
    """
    text = "\0".join([*name, *(str(a) for a in args)])
    return "fastbp_kernel_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _call_by_symbol(fndesc, symbol, hook):
    """Numba's lowering of a call to a compiled function (``imputils.user_function`` and
    ``BaseContext.declare_function``), to ``symbol`` and without linking the callee's library
    into the caller."""

    def call(context, builder, sig, args):
        context.active_code_library._reload_init.add(hook)
        function_type = context.call_conv.get_function_type(fndesc.restype, fndesc.argtypes)
        function = cgutils.get_or_insert_function(builder.module, function_type, symbol)
        context.apply_target_attributes(function, fndesc.argtypes, fndesc.restype)
        context.call_conv.decorate_function(function, fndesc.args, fndesc.argtypes,
                                            noalias=fndesc.noalias)
        status, result = context.call_conv.call_function(builder, function, fndesc.restype,
                                                         fndesc.argtypes, args)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return fix_returning_optional(context, builder, sig, status, result)

    call.signature = fndesc.argtypes
    call.libs = ()
    return call


class SeparateDispatcher(RuntimeArgumentsDispatcher):
    """A kernel compiled into a library of its own, called by symbol from other kernels."""

    def __init__(self, py_func, **kwargs):
        super().__init__(py_func, **kwargs)
        self._separate_name = (py_func.__module__, py_func.__qualname__)
        _SEPARATE[self._separate_name] = self

    def add_overload(self, cres):
        super().add_overload(cres)
        if not cres.objectmode:
            args = cres.signature.args
            symbol = stable_symbol(self._separate_name, args)
            llvm.add_symbol(symbol, cres.library.get_pointer_to_function(
                cres.fndesc.llvm_func_name))
            # replace the call Numba registered (which links the library in) by a call by symbol
            selector = self.targetctx._defns[cres.entry_point]
            call = _call_by_symbol(cres.fndesc, symbol, LoadKernel(self._separate_name, args))
            selector.versions = [(sig, call) for sig, _ in selector.versions]
            selector._cache.clear()


def _mark_always_inline(cres):
    if not cres.objectmode:
        module = cres.library._get_module_for_linking()
        module.get_function(cres.fndesc.llvm_func_name).add_function_attribute("alwaysinline")


class InlineDispatcher(RuntimeArgumentsDispatcher):
    """A small helper compiled once per argument types, inlined by LLVM into every caller."""

    def add_overload(self, cres):
        super().add_overload(cres)
        _mark_always_inline(cres)


class SpecializedInlineDispatcher(CPUDispatcher):
    """Like :class:`InlineDispatcher`, but compiled once per constant value of its arguments
    (Numba's default), for a helper whose constants must fold away before LLVM sees it."""

    def add_overload(self, cres):
        super().add_overload(cres)
        _mark_always_inline(cres)
