// MLX glue for MLX's CUDA backend (the module _ext_cuda, built only against an MLX with CUDA, and
// imported only where MLX's GPU is available): the GPU direct solver (csrc/cuda/direct.c, cuDSS).
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

}  // namespace mlx_sparse

using mlx_sparse::GpuFactor;

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
