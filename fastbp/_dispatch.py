"""How fastbp's kernels are compiled and linked: each heavy body once per dtype, never again.

Numba's own way multiplies compile time in five places, which together made the digits
network's first fit take 57 s (now about 9):

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
   compiles a small helper once and marks it ``alwaysinline``, so LLVM inlines the body.
4. **Wrappers.** Every version gets a CPython and a C wrapper, compiled with it and again in each
   caller that links it. :class:`KernelDispatcher` leaves them out of kernels that only other
   kernels call (1.7-2 s of the first fit).
5. **Machine code of inlined helpers.** An inlined helper is lowered to IR only
   (:class:`_LinkOnlyLibrary`): never optimised or compiled to machine code on its own.

A separately compiled kernel's callers hold a reference to its symbol (:func:`stable_symbol`),
not its code, so a caller read from the disk cache must find the callee loaded first: each call
site registers a :class:`LoadKernel` hook in the caller's library, which Numba runs before it
links a cached library (the mechanism it uses to start the thread pool for cached parallel code).
"""
import ctypes
import hashlib
import importlib
import types as python_types

import llvmlite.binding as llvm
from llvmlite import ir
from numba.core import cgutils, compiler, sigutils, types, typing
from numba.core.codegen import JITCodeLibrary
from numba.core.imputils import fix_returning_optional
from numba.core.registry import CPUDispatcher

#: Separately compiled kernels by (module, qualified name), for :class:`LoadKernel`.
_SEPARATE = {}

#: Every dispatcher made by ``_config.kernel`` and ``parallel_kernel`` (to count what compiled).
DISPATCHERS = []


def _keep_reload_hooks(cres):
    """Give a version read from the disk cache its library's reload hooks back.

    Numba runs a cached version's hooks when it loads it, but the library it rebuilds starts with
    none: a kernel compiled later that links it (an inlined helper) would inherit none, and its
    own cache entry would miss the :class:`LoadKernel` of the kernels the helper calls ("Symbol
    not found" in the next process).
    """
    if cres.reload_init:
        cres.library._reload_init.update(cres.reload_init)


#: The target options that leave out Numba's wrappers (see :class:`KernelDispatcher`).
NO_WRAPPERS = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


class KernelDispatcher(CPUDispatcher):
    """A dispatcher whose kernels may be compiled without Numba's wrappers.

    Numba gives every compiled version a CPython wrapper (unboxing each argument from a Python
    object, boxing the result) and a C wrapper, and LLVM optimises and compiles both, in the
    kernel's library and again in every caller that links it: a fifth of the digits network's
    first fit, for functions that only other kernels call. A kernel compiled with
    :data:`NO_WRAPPERS` has neither; called from Python all the same (a test, or a face that
    calls it directly), it runs a twin compiled with wrappers on first use, so a missing wrapper
    costs a compile, never a wrong call.
    """

    _python_twin = None

    def add_overload(self, cres):
        _keep_reload_hooks(cres)
        if self.targetoptions.get("no_cpython_wrapper"):
            # no entry point for Python to call: keep it out of the call table, so a call from
            # Python goes through _compile_for_args to the twin
            self.overloads[tuple(cres.signature.args)] = cres
        else:
            super().add_overload(cres)

    def _compile_for_args(self, *args, **kws):
        if not self.targetoptions.get("no_cpython_wrapper"):
            return super()._compile_for_args(*args, **kws)
        return self._twin()._compile_for_args(*args, **kws)

    def _twin(self):
        """The same kernel with Numba's wrappers, as a dispatcher of its own (cached under the
        name ``<qualified name>_from_python``)."""
        if self._python_twin is None:
            from ._config import _with_cache

            function = self.py_func
            twin_function = python_types.FunctionType(
                function.__code__, function.__globals__, function.__name__,
                function.__defaults__, function.__closure__)
            twin_function.__qualname__ = function.__qualname__ + "_from_python"
            twin_function.__module__ = function.__module__
            twin_function.__doc__ = function.__doc__
            options = {key: value for key, value in self.targetoptions.items()
                       if key not in NO_WRAPPERS}
            self._python_twin = _with_cache(RuntimeArgumentsDispatcher(
                py_func=twin_function, locals=dict(self.locals), targetoptions=options))
        return self._python_twin


class RuntimeArgumentsDispatcher(KernelDispatcher):
    """Compiles one version per argument *types*, never per constant value: flags and sizes
    passed as constants are runtime values (LLVM still folds them where a kernel is inlined)."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {key: types.unliteral(value) for key, value in kws.items()}
        return super().get_call_template(args, kws)


class _ReloadHook:
    """A picklable reload hook naming one kernel's version (its module and qualified name, and
    its argument types); equal hooks are one in a library's set of hooks."""

    def __init__(self, name, args):
        self.name = name
        self.args = tuple(args)

    def __call__(self):
        importlib.import_module(self.name[0])
        self._load(_SEPARATE[self.name])

    def _key(self):
        return type(self).__name__, self.name, tuple(str(a) for a in self.args)

    def __eq__(self, other):
        return isinstance(other, _ReloadHook) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


class LoadKernel(_ReloadHook):
    """Load a separately compiled kernel's version for ``args`` (from the disk cache, or
    compiling it) into the process's JIT."""

    def _load(self, dispatcher):
        dispatcher.compile(self.args)


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


class _LinkOnlyLibrary(JITCodeLibrary):
    """The library of a helper that is only ever inlined: its IR, never its machine code.

    Numba optimises every library fully and emits its machine code when it is finalized. An
    inlined helper's code never runs as such (each caller links its IR in, inlines it and
    optimises the whole), so both were wasted: 1.0 of the 5 s LLVM spent on the digits network's
    first fit. Its cache entry holds the IR (Numba's bitcode form), all that a caller compiled in
    a later process needs.
    """

    def _optimize_final_module(self):
        pass  # optimised by each caller, inlined

    def _finalize_final_module(self):
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    def serialize_using_object_code(self):
        return self.serialize_using_bitcode()


class _LinkOnlyCompiler(compiler.Compiler):
    """Numba's pipeline, lowering into a :class:`_LinkOnlyLibrary` and stopping there
    (``no_compile``: no entry point, no machine code)."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        if library is None:
            library = _LinkOnlyLibrary(targetctx.codegen(), "inlined helper")
            library.enable_object_caching()
        flags.no_compile = True
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)


class _InlineKey:
    """The implementation key of an inlined helper's version (it has no entry point)."""


class _Inlined:
    """What :class:`InlineDispatcher` and :class:`SpecializedInlineDispatcher` share: each
    version is marked ``alwaysinline``; one only other kernels call (no wrappers) is compiled to
    IR alone (:class:`_LinkOnlyLibrary`) and registered for its callers by hand, as Numba does
    for a version it compiled to machine code."""

    def __init__(self, py_func, **kwargs):
        if kwargs["targetoptions"].get("no_cpython_wrapper"):
            kwargs["pipeline_class"] = _LinkOnlyCompiler
        super().__init__(py_func, **kwargs)
        self._inline_keys = {}

    def add_overload(self, cres):
        if cres.entry_point is None:
            # Numba hands a library's reload hooks (its own, and those of the libraries it links,
            # taken when it is finalized) to the compile result only when it compiles it to
            # machine code: without them, a caller compiled later against this version read
            # from the cache would miss the LoadKernel hooks of the kernels it calls
            cres.library._ensure_finalized()
            cres.reload_init.extend(hook for hook in cres.library._reload_init
                                    if hook not in cres.reload_init)
            key = self._inline_keys[tuple(cres.signature.args)] = _InlineKey()
            self.targetctx.insert_user_function(key, cres.fndesc, [cres.library])
        super().add_overload(cres)
        _mark_always_inline(cres)

    def get_overload(self, sig):
        args = tuple(sigutils.normalize_signature(sig)[0])
        return self._inline_keys.get(args) or super().get_overload(sig)


class InlineDispatcher(_Inlined, RuntimeArgumentsDispatcher):
    """A small helper compiled once per argument types, inlined by LLVM into every caller."""


class SpecializedInlineDispatcher(_Inlined, KernelDispatcher):
    """Like :class:`InlineDispatcher`, but compiled once per constant value of its arguments
    (Numba's default), for a helper whose constants must fold away before LLVM sees it."""


class DeclareSlot(_ReloadHook):
    """Make sure the slot of a :class:`SlotDispatcher` kernel's version for ``args`` exists (as
    a symbol the cached caller can be linked against), without compiling the kernel."""

    def _load(self, dispatcher):
        dispatcher.slot(self.args)


class _SlotKey:
    """The implementation key of a call through a slot (one per kernel and argument types)."""

    def __init__(self, dispatcher, args):
        self.dispatcher = dispatcher
        self.args = args


class SlotDispatcher(RuntimeArgumentsDispatcher):
    """A kernel that other kernels reach through a function pointer (a *slot*) filled at run time
    by :meth:`prepare`: it is compiled only in a process that needs it.

    fastbp's parallel regions are such kernels: a network whose products are all small never
    enters one, and compiling them (with Numba's parfor machinery) was a tenth of its first fit.
    Callers must call :meth:`prepare` before a kernel may take that path (fastbp does it when it
    builds a workspace with a scratch row per thread); a call through an empty slot raises
    RuntimeError, never jumps to null. The kernel must return nothing.
    """

    def __init__(self, py_func, **kwargs):
        super().__init__(py_func, **kwargs)
        self._name = (py_func.__module__, py_func.__qualname__)
        _SEPARATE[self._name] = self
        self._slots = {}
        self._slot_keys = {}

    def slot(self, args):
        """The slot (a pointer-sized cell registered as a JIT symbol) for ``args``."""
        args = tuple(args)
        cell = self._slots.get(args)
        if cell is None:
            cell = self._slots[args] = ctypes.c_void_p(0)
            llvm.add_symbol(self._slot_symbol(args), ctypes.addressof(cell))
        return cell

    def _slot_symbol(self, args):
        return stable_symbol(self._name, args).replace("fastbp_kernel_", "fastbp_slot_")

    def prepare(self, *example_args):
        """Compile (or load) the version for the types of ``example_args`` and fill its slot."""
        from numba import typeof

        args = tuple(typeof(a) for a in example_args)
        self.compile(args)
        cres = self.overloads[args]
        assert cres.signature.return_type == types.none, "a slot kernel returns nothing"
        self.slot(args).value = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)

    def get_call_template(self, args, kws):
        # typed without compiling: the call goes through the slot, whatever is in it then
        pysig, args = self._compiler.fold_argument_types(
            tuple(types.unliteral(a) for a in args),
            {key: types.unliteral(value) for key, value in kws.items()})
        template = typing.make_concrete_template(f"CallTemplate({self.py_func.__name__})",
                                                 key=self.py_func.__name__,
                                                 signatures=[types.none(*args)])
        return template, pysig, args, {}

    def get_overload(self, sig):
        # the implementation key of a call from another kernel: always the slot's, compiled or not
        args = tuple(sig)
        key = self._slot_keys.get(args)
        if key is None:
            key = self._slot_keys[args] = _SlotKey(self, args)
            self.targetctx._defns[key].append(self._call_through_slot(args), args)
        return key

    def _call_through_slot(self, args):
        symbol = self._slot_symbol(args)
        hook = DeclareSlot(self._name, args)
        self.slot(args)

        def call(context, builder, sig, values):
            context.active_code_library._reload_init.add(hook)
            function_type = context.call_conv.get_function_type(types.none, args)
            cell = _declare_global(builder.module, symbol)
            pointer = builder.load(cell)
            with cgutils.if_unlikely(builder, cgutils.is_null(builder, pointer)):
                context.call_conv.return_user_exc(
                    builder, RuntimeError, (f"{self.py_func.__qualname__} was not prepared "
                                            "(fastbp._dispatch.SlotDispatcher.prepare)",))
            function = builder.bitcast(pointer, function_type.as_pointer())
            status, _ = context.call_conv.call_function(builder, function, types.none, args,
                                                        values)
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            return context.get_dummy_value()

        call.signature = args
        call.libs = ()
        return call


def _declare_global(module, name):
    """An external pointer-sized global ``name`` of ``module`` (declared once)."""
    try:
        return module.get_global(name)
    except KeyError:
        variable = ir.GlobalVariable(module, ir.IntType(8).as_pointer(), name)
        variable.linkage = "external"
        return variable
