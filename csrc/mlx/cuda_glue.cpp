// MLX glue for MLX's CUDA backend (the module _ext_cuda, built only against an MLX with CUDA, and
// imported only where MLX's GPU is available): the native launch of our precompiled kernels (CudaKernelNode)
// and the GPU direct solver (csrc/cuda/direct.c, cuDSS).
//
// A kernel node (CudaKernelNode) launches one kernel of our cubin modules into MLX's CUDA graph, as
// mx.fast.precompiled_cuda_kernel does, minus its per-launch costs: the module is loaded once per kernel
// (MLX's public route copies the module's bytes into every node and hashes them at every evaluation) and
// the node's operands are fixed when it is built (GpuKernel holds the function; Python binds the sizes).
// Nodes whose outputs start from zeros stay on the public route (MLX's fill is not exported).
//
// A factorization (GpuFactor) is staged: its inputs are evaluated arrays (Python evaluates them), and
// the analysis and factorization run on the GPU stream's CUDA stream, which is then synchronized to
// read cuDSS's error indicator. A solve is a graph node (CudssSolve): its eval_gpu flushes MLX's queued
// work to the stream (commit) and queues cuDSS's solve behind it, so solves join the lazy graph and
// synchronize nothing.
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <nanobind/nanobind.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <cuda.h>

#include "mlx/backend/cuda/device.h"
#include "mlx/backend/cuda/utils.h"
#include "mlx/mlx.h"
#include "mlx/primitives.h"
#include "mlx_sparse/gpu_direct.h"
#include "mlx_sparse/msp.h"

namespace nb = nanobind;
namespace mx = mlx::core;

namespace mlx_sparse {

// A cuDSS factorization and the device arrays it points into (cuDSS keeps the pointers).
struct GpuFactor {
  msp_gpu_direct* h = nullptr;
  std::vector<mx::array> keep;  // row pointers, column indices, values
  mx::Stream stream;
  int kind = 0, vtype = 0;
  int64_t n = 0;
  int64_t version = 0;  // bumped by every refactorization: solves built before it refuse to run
  std::mutex mu;        // one cuDSS call at a time on this handle
  explicit GpuFactor(mx::Stream s) : stream(s) {}
  ~GpuFactor() { msp_gpu_direct_free(h); }
};

static void* stream_of(const mx::Stream& s) {
  auto& enc = mx::cu::get_command_encoder(s);
  return static_cast<void*>(static_cast<cudaStream_t>(enc.stream()));
}

static void check_gpu_array(const mx::array& a, const char* what) {
  if (!a.is_available() || !a.flags().row_contiguous)
    throw std::invalid_argument(std::string("gpu_direct: ") + what + " must be an evaluated contiguous array");
}

// x = A^-1 b for a column-major (n, k) block b (row-major (k, n): each right-hand side contiguous).
class CudssSolve : public mx::Primitive {
 public:
  CudssSolve(mx::Stream s, std::shared_ptr<GpuFactor> f, std::string op)
      : mx::Primitive(s), f_(std::move(f)), version_(f_->version), op_(std::move(op)) {}

  void eval_cpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error(op_ + ": the cuDSS solve runs on the GPU stream only");
  }

  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    const mx::array& b = inputs[0];
    mx::array& x = outputs[0];
    {  // cuDSS refactors in place: a solve built before a refactor would solve with the new matrix
      std::lock_guard<std::mutex> lock(f_->mu);
      if (f_->version != version_)
        throw std::runtime_error(op_ + ": the factorization was refactored after this solve was built; evaluate "
                                 "solves (mx.eval) before refactor");
    }
    auto& enc = mx::cu::get_command_encoder(stream());
    x.set_data(mx::allocator::malloc(x.nbytes()));
    // MLX's queued work (b's producer among it) goes to the stream first; the solve follows it there,
    // outside MLX's CUDA graph, and MLX's later work follows the solve on the same stream
    enc.commit();
    int64_t k = b.ndim() == 2 ? b.shape(0) : 1;
    char msg[256] = {0};
    int st;
    {
      std::lock_guard<std::mutex> lock(f_->mu);
      st = msp_gpu_direct_solve(f_->h, k, mx::gpu_ptr<void>(b), mx::gpu_ptr<void>(x),
                                static_cast<void*>(static_cast<cudaStream_t>(enc.stream())), msg, sizeof msg);
    }
    if (st != MSP_OK) throw std::runtime_error(op_ + ": " + msg);
    // b and the factorization stay alive until the stream has run the solve
    enc.add_temporary(b);
    enc.add_completed_handler([f = f_]() {});
  }

  const char* name() const override { return "CudssSolve"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    auto& o = static_cast<const CudssSolve&>(other);
    return f_ == o.f_ && version_ == o.version_;
  }

 private:
  std::shared_ptr<GpuFactor> f_;
  int64_t version_;
  std::string op_;
};

// One kernel of a cubin module, loaded on first launch (in MLX's evaluation, where the device's context is
// current) and kept for the process.
struct GpuKernel {
  std::string name;
  std::string blob;  // the cubin, until loaded
  CUmodule module = nullptr;
  CUfunction fn = nullptr;
  std::mutex mu;
  CUfunction get(const std::string& op) {
    std::lock_guard<std::mutex> lock(mu);
    if (!fn) {
      CUresult r = cuModuleLoadData(&module, blob.data());
      if (r == CUDA_SUCCESS) r = cuModuleGetFunction(&fn, module, name.c_str());
      if (r != CUDA_SUCCESS) {
        const char* s = nullptr;
        cuGetErrorString(r, &s);
        fn = nullptr;
        throw std::runtime_error(op + ": loading GPU kernel " + name + " failed: " + (s ? s : "unknown error"));
      }
      std::string().swap(blob);
    }
    return fn;
  }
};

// A graph node whose outputs the kernel k_ computes from its inputs (row-contiguous device arrays), with
// the kernel's scalar parameters (int32 or bool, in order) after the input and output pointers. Kernels
// whose outputs start from zeros (the table's init=0) stay on MLX's public route, which fills them.
class CudaKernelNode : public mx::Primitive {
 public:
  CudaKernelNode(mx::Stream s, std::shared_ptr<GpuKernel> k, std::string op, std::vector<int32_t> ints,
                 std::vector<uint8_t> is_bool, uint32_t grid, uint32_t block)
      : mx::Primitive(s), k_(std::move(k)), op_(std::move(op)), ints_(std::move(ints)), is_bool_(std::move(is_bool)),
        grid_(grid), block_(block) {}

  void eval_cpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error(op_ + ": " + k_->name + " runs on the GPU stream only");
  }

  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    auto& enc = mx::cu::get_command_encoder(stream());
    CUfunction fn = k_->get(op_);
    const size_t np = inputs.size() + outputs.size() + ints_.size();
    std::vector<CUdeviceptr> ptrs;
    ptrs.reserve(inputs.size() + outputs.size());
    std::vector<int32_t> ivals(ints_);
    std::vector<uint8_t> bvals(ints_.size());
    std::vector<void*> args;
    args.reserve(np);
    for (const auto& in : inputs) {
      if (!in.flags().row_contiguous)  // the node's builder makes every operand contiguous
        throw std::runtime_error(op_ + ": " + k_->name + " got an operand that is not row-contiguous");
      ptrs.push_back(reinterpret_cast<CUdeviceptr>(mx::gpu_ptr<void>(in)));
      enc.set_input_array(in);
    }
    for (auto& out : outputs) {
      out.set_data(mx::allocator::malloc(out.nbytes()));
      ptrs.push_back(reinterpret_cast<CUdeviceptr>(mx::gpu_ptr<void>(out)));
      enc.set_output_array(out);
    }
    for (auto& p : ptrs) args.push_back(&p);
    for (size_t i = 0; i < ivals.size(); ++i) {
      bvals[i] = ivals[i] != 0;
      args.push_back(is_bool_[i] ? static_cast<void*>(&bvals[i]) : static_cast<void*>(&ivals[i]));
    }
    if (grid_ == 0) return;  // nothing to compute (empty outputs)
    dim3 block(std::min(block_, grid_), 1, 1), grid((grid_ + block_ - 1) / block_, 1, 1);
    enc.add_kernel_node_raw(fn, grid, block, dim3(), 0, args.data());
  }

  const char* name() const override { return "CudaKernelNode"; }
  bool is_equivalent(const mx::Primitive& other) const override {
    auto& o = static_cast<const CudaKernelNode&>(other);
    return k_ == o.k_ && ints_ == o.ints_ && is_bool_ == o.is_bool_ && grid_ == o.grid_ && block_ == o.block_;
  }

 private:
  std::shared_ptr<GpuKernel> k_;
  std::string op_;
  std::vector<int32_t> ints_;
  std::vector<uint8_t> is_bool_;
  uint32_t grid_, block_;
};

// an operand as the node needs it: evaluated row-contiguous arrays and our own nodes' outputs as they are,
// anything else (a view, MLX's lazy results) through mx::contiguous (which copies only when needed)
static mx::array operand(const mx::array& a, const mx::Stream& s) {
  if (a.is_available() ? a.flags().row_contiguous
                       : (a.has_primitive() && (typeid(a.primitive()) == typeid(CudaKernelNode) ||
                                                typeid(a.primitive()) == typeid(CudssSolve))))
    return a;
  return mx::contiguous(a, false, s);
}

}  // namespace mlx_sparse

using mlx_sparse::GpuFactor;
using mlx_sparse::GpuKernel;

NB_MODULE(_ext_cuda, m) {
  m.doc() = "mlx_sparse glue for MLX's CUDA backend (the cuDSS direct solver)";
  nb::class_<GpuFactor>(m, "GpuFactor")
      .def_ro("n", &GpuFactor::n)
      .def_ro("kind", &GpuFactor::kind)
      .def("fill", [](GpuFactor& f) {
        std::lock_guard<std::mutex> lock(f.mu);
        return msp_gpu_direct_fill(f.h);
      })
      .def("npivots", [](GpuFactor& f) {
        std::lock_guard<std::mutex> lock(f.mu);
        return msp_gpu_direct_npivots(f.h);
      })
      // iterative refinement steps for later solves: (status, message)
      .def("set_refinement",
           [](GpuFactor& f, int steps) {
             char msg[256] = {0};
             std::lock_guard<std::mutex> lock(f.mu);
             int st = msp_gpu_direct_set_refinement(f.h, steps, msg, sizeof msg);
             return std::make_tuple(st, std::string(msg));
           })
      // new values on the analyzed pattern (an evaluated contiguous array): (status, info, message)
      .def("factor",
           [](GpuFactor& f, const mx::array& values) {
             mlx_sparse::check_gpu_array(values, "values");
             char msg[256] = {0};
             int64_t info = 0;
             int st;
             if (values.size() != f.keep[2].size() || values.dtype() != f.keep[2].dtype())
               throw std::invalid_argument("gpu_direct: new values must match the factored ones in size and dtype");
             f.keep[2] = values;  // cuDSS points at these values from now on
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(f.mu);
               ++f.version;
               st = msp_gpu_direct_factor(f.h, mx::gpu_ptr<void>(values), mlx_sparse::stream_of(f.stream), &info,
                                          msg, sizeof msg);
             }
             return std::make_tuple(st, info, std::string(msg));
           })
      // the factorization's diagonal (n values, evaluated)
      .def("diag",
           [](GpuFactor& f, mx::Dtype dtype) {
             // a fresh evaluated array of n values (its own buffer) that cuDSS then overwrites
             mx::array d = mx::astype(mx::arange(0.0, static_cast<double>(f.n), 1.0, mx::float32, f.stream), dtype,
                                      f.stream);
             mx::eval(d);
             mlx_sparse::check_gpu_array(d, "the diagonal");
             char msg[256] = {0};
             int st;
             {
               nb::gil_scoped_release release;
               std::lock_guard<std::mutex> lock(f.mu);
               void* s = mlx_sparse::stream_of(f.stream);
               st = msp_gpu_direct_diag(f.h, mx::gpu_ptr<void>(d), s, msg, sizeof msg);
               if (st == MSP_OK && cudaStreamSynchronize(static_cast<cudaStream_t>(s)) != cudaSuccess) st = MSP_EINVAL;
             }
             if (st != MSP_OK)
               throw std::runtime_error(std::string("gpu_direct: ") + (msg[0] ? msg : "the diagonal's copy failed"));
             return d;
           })
      // x = A^-1 b as a graph node: b is (k, n) (each right-hand side a contiguous row) or (n,)
      .def("solve",
           [](std::shared_ptr<GpuFactor> f, const mx::array& b, const std::string& op) {
             if (b.ndim() < 1 || b.ndim() > 2 || b.shape(-1) != f->n)
               throw std::invalid_argument(op + ": right-hand side of the wrong shape for the GPU solve");
             auto prim = std::make_shared<mlx_sparse::CudssSolve>(f->stream, f, op);
             return mx::array(b.shape(), b.dtype(), std::move(prim), {mx::contiguous(b, false, f->stream)});
           },
           nb::arg("b"), nb::arg("op"));

  nb::class_<GpuKernel>(m, "GpuKernel").def_ro("name", &GpuKernel::name);
  // a kernel of a cubin module (loaded on its first launch)
  m.def("kernel", [](const std::string& name, nb::bytes blob) {
    auto k = std::make_shared<GpuKernel>();
    k->name = name;
    k->blob.assign(static_cast<const char*>(blob.data()), blob.size());
    return k;
  });
  // the kernel's node: outputs of the given shapes and dtypes, `grid` threads in blocks of `block`
  m.def(
      "launch",
      [](std::shared_ptr<GpuKernel> k, const std::string& op, const std::vector<mx::array>& inputs,
         const std::vector<std::vector<int>>& shapes, const std::vector<mx::Dtype>& dtypes,
         const std::vector<int32_t>& ints, const std::vector<uint8_t>& is_bool, uint32_t grid, uint32_t block,
         mx::Stream s) {
        if (ints.size() != is_bool.size() || shapes.size() != dtypes.size() || block == 0)
          throw std::invalid_argument(op + ": bad arguments to the GPU kernel node");
        std::vector<mx::Shape> sh;
        for (auto& v : shapes) sh.emplace_back(v.begin(), v.end());
        std::vector<mx::array> ins;
        ins.reserve(inputs.size());
        for (auto& a : inputs) ins.push_back(mlx_sparse::operand(a, s));
        auto prim = std::make_shared<mlx_sparse::CudaKernelNode>(s, std::move(k), op, ints, is_bool, grid, block);
        return mx::array::make_arrays(std::move(sh), dtypes, std::move(prim), std::move(ins));
      },
      nb::arg("kernel"), nb::arg("op"), nb::arg("inputs"), nb::arg("shapes"), nb::arg("dtypes"), nb::arg("ints"),
      nb::arg("is_bool"), nb::arg("grid"), nb::arg("block"), nb::arg("stream"));

  m.def("cudss_load", [](const std::string& path) {
    char msg[512] = {0};
    int st = msp_cudss_load(path.c_str(), msg, sizeof msg);
    return std::make_tuple(st, std::string(msg));
  });
  m.def("cudss_version", &msp_cudss_version);
  // analysis and first factorization of an n x n CSR (evaluated contiguous arrays on the GPU):
  // (status, factor or None, info, message)
  m.def(
      "analyze",
      [](int kind, int64_t n, const mx::array& indptr, const mx::array& indices, const mx::array& values,
         mx::Stream s) {
        for (auto* a : {&indptr, &indices, &values}) mlx_sparse::check_gpu_array(*a, "the CSR arrays");
        const bool i64 = indptr.dtype() == mx::int64;
        if (indices.dtype() != indptr.dtype() || (!i64 && indptr.dtype() != mx::int32))
          throw std::invalid_argument("gpu_direct: the CSR index arrays must both be int32 or int64");
        int vtype;
        if (values.dtype() == mx::float32)
          vtype = MSP_GPU_F32;
        else if (values.dtype() == mx::complex64)
          vtype = MSP_GPU_C64;
        else
          throw std::invalid_argument("gpu_direct: values must be float32 or complex64");
        auto f = std::make_shared<GpuFactor>(s);
        f->kind = kind, f->vtype = vtype, f->n = n;
        f->keep = {indptr, indices, values};
        char msg[256] = {0};
        int64_t info = 0;
        int st;
        {
          nb::gil_scoped_release release;
          st = msp_gpu_direct_analyze(kind, vtype, i64, n, static_cast<int64_t>(values.size()),
                                      mx::gpu_ptr<void>(indptr), mx::gpu_ptr<void>(indices),
                                      mx::gpu_ptr<void>(values), mlx_sparse::stream_of(s), &f->h, &info, msg,
                                      sizeof msg);
        }
        return std::make_tuple(st, st == MSP_OK ? nb::cast(f) : nb::none(), info, std::string(msg));
      },
      nb::arg("kind"), nb::arg("n"), nb::arg("indptr"), nb::arg("indices"), nb::arg("values"), nb::arg("stream"));
}
