"""The kernel table: generated code up to date, registry and table agree, the dispatcher checks calls by name."""

import os
import subprocess
import sys

import mlx.core as mx
import numpy as np
import pytest

import mlx_sparse as ms
from mlx_sparse import _ext
from mlx_sparse import _kernels as K

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_generated_files_are_up_to_date():
    """tools/gen_ops.py output (C unpacking, CUDA parameters, CMake modules, instantiation) matches ops.def."""
    gen = os.path.join(ROOT, "tools", "gen_ops.py")
    if not os.path.exists(gen):
        pytest.skip("source tree not available")
    r = subprocess.run([sys.executable, gen, "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_cpu_op_has_a_kernel_per_type_pair():
    names = set(_ext.kernel_names())
    cpu_ops = [s for s in K.OPS.values() if s.devices != "GPU"]
    assert cpu_ops and all(s.devices in ("CPU", "GPU", "BOTH") for s in K.OPS.values())
    for sig in cpu_ops:
        for v in K.VALUE_TYPES.values():
            for i in K.INDEX_TYPES.values():
                assert f"{sig.name}_{v}_{i}" in names
    assert len(names) == len(cpu_ops) * len(K.VALUE_TYPES) * len(K.INDEX_TYPES)
    assert not any(n.startswith("spmv_csr_mp_") for n in names)  # GPU-only ops have no C kernel


def test_constants_come_from_the_c_abi():
    from mlx_sparse import _spmv

    assert K.GPU_BLOCK == 256 and _spmv.MERGE_T == K.MERGE_ITEMS == 2048


def _node(**sizes):
    return K.prepare("myop", "spmv_csr", mx.float32, mx.int32, mx.default_stream(mx.cpu), sizes)


def test_dispatcher_checks_sizes_and_operands_by_name():
    with pytest.raises(TypeError, match="myop: spmv_csr takes sizes"):
        _node(m=2, n=2)  # nnz missing
    node = _node(m=2, n=3, nnz=2)
    ptr, ind, data = mx.array([0, 1, 2], dtype=mx.int32), mx.array([0, 2], dtype=mx.int32), mx.ones(2)
    (y,) = node(indptr=ptr, indices=ind, data=data, x=mx.array([1.0, 2.0, 3.0]))
    assert np.array_equal(np.array(y), [1.0, 3.0])
    with pytest.raises(ValueError, match="myop: spmv_csr operand x must be 3"):
        node(indptr=ptr, indices=ind, data=data, x=mx.ones(4))
    with pytest.raises(ValueError, match="operand indices must be 2 x mlx.core.int32"):
        node(indptr=ptr, indices=ind.astype(mx.int64), data=data, x=mx.ones(3))
    with pytest.raises(TypeError, match="missing operand 'x'"):
        node(indptr=ptr, indices=ind, data=data)
    with pytest.raises(ValueError, match="output y of shape"):
        K.prepare("myop", "spmv_csr", mx.float32, mx.int32, mx.default_stream(mx.cpu), dict(m=2, n=3, nnz=2),
                  shapes=dict(y=(3,)))


def test_gpu_only_op_on_the_cpu_says_so():
    with pytest.raises(RuntimeError, match="myop: spmv_csr_mp has no CPU kernel"):
        K.prepare("myop", "spmv_csr_mp", mx.float32, mx.int32, mx.default_stream(mx.cpu), dict(m=1, n=1, nnz=1, nb=1))


def test_kernel_errors_name_the_users_operation():
    bad = ms.csr_array((np.ones(2, np.float32), np.array([0, 9]), np.array([0, 1, 2])), shape=(2, 3), validate=False)
    with pytest.raises(RuntimeError, match=r"^todense: index out of range"):
        mx.eval(bad.todense())


def test_package_modules_import_no_cycle():
    """The layers of the package: families import no container, containers import families, and no
    module reaches one that imports it back (imports inside functions included)."""
    import ast
    import glob

    pkg = os.path.dirname(ms.__file__)
    deps = {}
    for path in glob.glob(os.path.join(pkg, "_*.py")):
        mod = os.path.basename(path)[:-3]
        names = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names |= {node.module} if node.module else {a.name for a in node.names}
        deps[mod] = {n for n in names if n.startswith("_")}

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for d in deps.get(todo.pop(), ()):
                if d not in seen:
                    seen.add(d)
                    todo.append(d)
        return seen

    for mod in deps:
        assert mod not in reach(mod), f"import cycle through {mod}"
    for fam in ("_spmv", "_spmm", "_convert", "_canonical", "_select", "_index", "_spgemm", "_ewise", "_products", "_ops"):
        assert not reach(fam) & {"_base", "_csr", "_csc", "_coo"}, f"{fam} imports a container"


def test_gathered_operands_are_table_operands():
    """Each product kernel's gathered operand (collapsed into huge pages when large) is one of its inputs."""
    from mlx_sparse import _kernels as K

    for kernel, name in K.GATHERED.items():
        assert name in [i.name for i in K.OPS[kernel].inputs], (kernel, name)
