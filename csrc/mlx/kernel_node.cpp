// MLX glue: one generic Primitive that runs a registered C kernel on the CPU stream, and the nanobind module.
#include <chrono>
#include <cstring>
#include <thread>
#include <map>
#include <mutex>
#include <typeinfo>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/vector.h>

#include "mlx/backend/cpu/encoder.h"
#include "mlx/mlx.h"
#include "mlx/primitives.h"
#include "mlx_sparse/msp.h"

namespace nb = nanobind;
namespace mx = mlx::core;

namespace mlx_sparse {

// Large outputs: ask Linux for transparent huge pages before the kernel first touches them. Where THP
// is "madvise" (a common default), first touching 64 MB took 56 ms in 4 KB pages and 22 ms in 2 MB
// pages on a 2-core VM, more than the SpMM that wrote them. No effect where THP is "always" or "never".
static void advise_huge_pages(void* p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (n < (size_t{8} << 20)) return;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(page - 1);
  if (e > a) madvise(reinterpret_cast<void*>(a), e - a, MADV_HUGEPAGE);  // advice only: errors ignored
#else
  (void)p, (void)n;
#endif
}

// A large operand the kernel gathers at random (x in A x, X in A X): its pages collapsed into transparent
// huge pages (Linux's MADV_COLLAPSE) before the kernel reads it. MLX's CPU allocator hands out 4 KB pages,
// and random rows of an operand far larger than the TLB's reach walk the page tables at nearly every
// entry: A X on a 2M x 16 uniform matrix with k = 64 (X 512 MB) took 1877 ms as it was, 1087 ms after a
// 230 ms collapse (a 2-core VM). Buffers collapsed recently are remembered and not collapsed again. Advice
// only: errors (an older kernel, THP "never") are ignored.
static void collapse_huge_pages(const void* p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr size_t kMin = size_t{32} << 20, kHuge = size_t{2} << 20;
  constexpr int kCollapse = 25;  // MADV_COLLAPSE (Linux 6.1), absent from older headers
  if (n < kMin) return;
  const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) & ~(kHuge - 1);
  if (e <= a) return;
  static std::mutex mu;
  static std::pair<uintptr_t, uintptr_t> recent[8];
  static int next = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& r : recent)
      if (r.first == a && r.second == e) return;
    recent[next] = {a, e};
    next = (next + 1) % 8;
  }
  madvise(reinterpret_cast<void*>(a), e - a, MADV_HUGEPAGE);
  madvise(reinterpret_cast<void*>(a), e - a, kCollapse);
#else
  (void)p, (void)n;
#endif
}

// Row-major copy of a strided array into dst (inputs that arrive as views: slices, transposes).
// Runs along the last axis are copied whole when that axis is contiguous.
static void strided_copy(const mx::array& in, char* dst) {
  const size_t isz = in.itemsize(), n = in.size();
  if (n == 0) return;
  const char* src = in.data<char>();
  const int nd = static_cast<int>(in.ndim());
  const int64_t inner = nd > 0 ? in.shape()[nd - 1] : 1;
  const bool run = nd > 0 && in.strides()[nd - 1] == 1;
  const size_t step = run ? static_cast<size_t>(inner) : 1;
  std::vector<int64_t> idx(nd, 0);
  for (size_t k = 0; k < n; k += step) {
    int64_t off = 0;
    for (int d = 0; d < nd; ++d) off += idx[d] * static_cast<int64_t>(in.strides()[d]);
    std::memcpy(dst + k * isz, src + off * static_cast<int64_t>(isz), step * isz);
    for (int d = (run ? nd - 2 : nd - 1); d >= 0; --d) {
      if (++idx[d] < in.shape()[d]) break;
      idx[d] = 0;
    }
  }
}

// A graph node whose outputs are computed by the C kernel `name_` from its inputs; a bad status
// raises an error naming the user's operation `op_` (and the kernel).
class KernelNode : public mx::Primitive {
 public:
  KernelNode(mx::Stream stream, std::string name, std::string op, msp_kernel_fn fn, std::vector<int64_t> iargs,
             std::vector<double> dargs, int gathered = -1)
      : mx::Primitive(stream), name_(std::move(name)), op_(std::move(op)), fn_(fn), iargs_(std::move(iargs)),
        dargs_(std::move(dargs)), gathered_(gathered) {}

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    // An error an earlier task left on this stream is raised here, on the evaluating thread, before
    // anything is queued (MLX 0.32's encoder leaks its count of active tasks when a queueing call
    // throws; after about ten such leaks every evaluation waits forever).
    mx::scheduler::check_error(stream());
    msp_call call{};
    call.n_in = static_cast<int>(inputs.size());
    call.n_out = static_cast<int>(outputs.size());
    auto& enc = mx::cpu::get_command_encoder(stream());
    std::vector<size_t> out_bytes(outputs.size());
    std::vector<std::pair<mx::array, mx::array>> copies;  // (strided input, contiguous copy)
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& in = inputs[i];
      if (in.flags().row_contiguous) {
        call.in[i] = in.data<void>();
      } else {
        mx::array tmp(in.shape(), in.dtype(), nullptr, {});
        tmp.set_data(mx::allocator::malloc(in.nbytes()));
        call.in[i] = tmp.data<void>();
        copies.emplace_back(in, tmp);
        enc.add_temporary(tmp);
      }
      call.in_len[i] = static_cast<int64_t>(in.size());
      enc.set_input_array(in);
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto& out = outputs[i];
      out.set_data(mx::allocator::malloc(out.nbytes()));
      advise_huge_pages(out.data<void>(), out.nbytes());
      call.out[i] = out.data<void>();
      call.out_len[i] = static_cast<int64_t>(out.size());
      out_bytes[i] = out.nbytes();
      enc.set_output_array(out);
    }
    for (size_t i = 0; i < iargs_.size(); ++i) call.iarg[i] = iargs_[i];
    for (size_t i = 0; i < dargs_.size(); ++i) call.darg[i] = dargs_[i];
    call.nthreads = 0;
    // Queued directly, not through the encoder's dispatch: that path counts every tenth task as active
    // and queues its completion separately, and the count leaks when the second queueing throws an
    // error this task stored (see above).
    const size_t gathered_bytes =
        gathered_ >= 0 && gathered_ < static_cast<int>(inputs.size()) ? inputs[gathered_].nbytes() : 0;
    mx::scheduler::enqueue(stream(), [call, fn = fn_, name = name_, op = op_, copies = std::move(copies),
                                      out_bytes = std::move(out_bytes), g = gathered_, gathered_bytes]() {
      for (const auto& [src, dst] : copies) strided_copy(src, const_cast<mx::array&>(dst).data<char>());
      if (gathered_bytes) collapse_huge_pages(call.in[g], gathered_bytes);
      int st = fn(&call);
      if (st != MSP_OK) {
        // MLX marks the outputs evaluated even so: poison them (indices -1, values NaN) so a later
        // read of a failed result is rejected by the kernels' bounds checks instead of reading garbage
        for (size_t i = 0; i < out_bytes.size(); ++i) std::memset(call.out[i], 0xFF, out_bytes[i]);
        // Let the evaluating thread finish queueing this evaluation's remaining work first: MLX's own
        // queueing after this node (its buffer holders, the next operations) is not exception-safe
        // and would leak its active-task count on the error stored below (an error path only).
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        throw std::runtime_error(op + ": " + msp_status_string(st) + " (kernel " + name + ")");
      }
    });
  }

  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error(name_ + ": the C kernel node runs on the CPU stream only");
  }

  const char* name() const override { return name_.c_str(); }

  bool is_equivalent(const mx::Primitive& other) const override {
    auto& o = static_cast<const KernelNode&>(other);
    return name_ == o.name_ && iargs_ == o.iargs_ && dargs_ == o.dargs_ && gathered_ == o.gathered_;
  }

 private:
  std::string name_, op_;
  msp_kernel_fn fn_;
  std::vector<int64_t> iargs_;
  std::vector<double> dargs_;
  int gathered_;  // the input the kernel gathers at random (-1: none)
};

// Python rule objects whose last reference was dropped on a thread without the GIL; released at the
// next call into this module (which holds it).
static std::mutex graveyard_mu;
static std::vector<PyObject*> graveyard;

static void drain_graveyard() {
  std::vector<PyObject*> dead;
  {
    std::lock_guard<std::mutex> lock(graveyard_mu);
    dead.swap(graveyard);
  }
  for (PyObject* p : dead) Py_DECREF(p);
}

// A node that evaluates like an inner node (our KernelNode on the CPU, MLX's precompiled CUDA kernel
// on the GPU) and takes its transforms from a Python rules object: vjp(primals, cotangents, argnums,
// outputs), jvp(primals, tangents, argnums), vmap(inputs, axes). The transforms see which arguments
// are requested, so a derivative asked of an index array raises, and mx.vmap never walks into the
// inner kernel (which has no batching rule).
class RuledNode : public mx::Primitive {
 public:
  RuledNode(std::shared_ptr<mx::Primitive> inner, nb::object rules, std::string name)
      : mx::Primitive(inner->stream()), inner_(std::move(inner)), rules_(std::move(rules)),
        name_(std::move(name)) {}

  ~RuledNode() override {
    if (!rules_.is_valid()) return;
    if (Py_IsInitialized() && PyGILState_Check()) {
      rules_.reset();
    } else {
      std::lock_guard<std::mutex> lock(graveyard_mu);
      graveyard.push_back(rules_.release().ptr());
    }
  }

  void eval_cpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    inner_->eval_cpu(inputs, outputs);
  }
  void eval_gpu(const std::vector<mx::array>& inputs, std::vector<mx::array>& outputs) override {
    inner_->eval_gpu(inputs, outputs);
  }

  std::vector<mx::array> jvp(const std::vector<mx::array>& primals, const std::vector<mx::array>& tangents,
                             const std::vector<int>& argnums) override {
    nb::gil_scoped_acquire gil;
    return nb::cast<std::vector<mx::array>>(rules_.attr("jvp")(primals, tangents, argnums));
  }
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals, const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<mx::array>& outputs) override {
    nb::gil_scoped_acquire gil;
    return nb::cast<std::vector<mx::array>>(rules_.attr("vjp")(primals, cotangents, argnums, outputs));
  }
  std::pair<std::vector<mx::array>, std::vector<int>> vmap(const std::vector<mx::array>& inputs,
                                                           const std::vector<int>& axes) override {
    nb::gil_scoped_acquire gil;
    return nb::cast<std::pair<std::vector<mx::array>, std::vector<int>>>(rules_.attr("vmap")(inputs, axes));
  }

  const char* name() const override { return name_.c_str(); }

  bool is_equivalent(const mx::Primitive& other) const override {
    auto& o = static_cast<const RuledNode&>(other);
    const mx::Primitive &a = *inner_, &b = *o.inner_;
    return typeid(a) == typeid(b) && a.is_equivalent(b) && rules_.is(o.rules_);
  }

 private:
  std::shared_ptr<mx::Primitive> inner_;
  nb::object rules_;
  std::string name_;
};

// The outputs of a freshly made (unevaluated) node, re-made as a RuledNode over the same inputs.
std::vector<mx::array> with_rules(const std::vector<mx::array>& outs, nb::object rules, const std::string& name) {
  drain_graveyard();
  if (outs.empty() || !outs[0].has_primitive())
    throw std::invalid_argument(name + ": with_rules needs the outputs of an unevaluated node");
  std::vector<mx::Shape> shapes;
  std::vector<mx::Dtype> dtypes;
  for (const auto& o : outs) {
    shapes.push_back(o.shape());
    dtypes.push_back(o.dtype());
  }
  return mx::array::make_arrays(std::move(shapes), dtypes,
                                std::make_shared<RuledNode>(outs[0].primitive_ptr(), std::move(rules), name),
                                outs[0].inputs());
}

// Add a node computing kernel `name` on `inputs` for the user's operation `op`; outputs have the given
// shapes and dtypes; `gathered`: the input the kernel reads at random rows (-1: none).
std::vector<mx::array> cpu_call(const std::string& name, const std::string& op, const std::vector<mx::array>& inputs,
                                const std::vector<std::vector<int>>& shapes,
                                const std::vector<mx::Dtype>& dtypes,
                                const std::vector<int64_t>& iargs, const std::vector<double>& dargs,
                                mx::StreamOrDevice s, int gathered) {
  msp_kernel_fn fn = msp_find_kernel(name.c_str());
  if (fn == nullptr) throw std::invalid_argument("mlx_sparse: no CPU kernel named " + name);
  if (inputs.size() > MSP_MAX_IO || shapes.size() > MSP_MAX_IO || shapes.size() != dtypes.size() ||
      iargs.size() > MSP_MAX_SCALARS || dargs.size() > MSP_MAX_SCALARS)
    throw std::invalid_argument(name + ": too many arguments for the kernel contract");
  auto stream = mx::to_stream(s);
  if (stream.device != mx::Device::cpu)
    throw std::invalid_argument(name + ": cpu_call needs a CPU stream");
  std::vector<mx::Shape> out_shapes;
  for (const auto& sh : shapes) out_shapes.emplace_back(sh.begin(), sh.end());
  return mx::array::make_arrays(
      std::move(out_shapes), dtypes, std::make_shared<KernelNode>(stream, name, op, fn, iargs, dargs, gathered), inputs);
}

}  // namespace mlx_sparse

void register_direct(nb::module_& m);  // direct_glue.cpp

NB_MODULE(_ext, m) {
  m.doc() = "mlx_sparse native kernels (C kernel nodes for MLX's CPU stream)";
  register_direct(m);
  m.def("cpu_call", &mlx_sparse::cpu_call, nb::arg("name"), nb::arg("op"), nb::arg("inputs"),
        nb::arg("shapes"), nb::arg("dtypes"), nb::arg("iargs"), nb::arg("dargs"),
        nb::arg("stream"), nb::arg("gathered") = -1);
  m.def("with_rules", &mlx_sparse::with_rules, nb::arg("outputs"), nb::arg("rules"), nb::arg("name"));
  m.def("kernel_names", []() {
    std::vector<std::string> names;
    for (const msp_kernel_entry* e = msp_kernel_table(); e->name != nullptr; ++e)
      names.emplace_back(e->name);
    return names;
  });
  m.def("op_table", []() {  // the kernel table (ops.def): one dict of strings per op
    std::vector<std::map<std::string, std::string>> ops;
    for (const msp_op_info* o = msp_op_table(); o->family != nullptr; ++o)
      ops.push_back({{"family", o->family}, {"op", o->op}, {"devices", o->devices}, {"inputs", o->inputs},
                     {"outputs", o->outputs}, {"sizes", o->sizes}, {"flags", o->flags}, {"gpu", o->gpu}});
    return ops;
  });
  m.def("type_pairs", []() {  // MSP_TYPE_PAIRS: (value, index, devices)
    std::vector<std::vector<std::string>> pairs;
#define MSP_PY_PAIR(v, i, d, a) pairs.push_back({#v, #i, #d});
    MSP_TYPE_PAIRS(MSP_PY_PAIR, 0)
#undef MSP_PY_PAIR
    return pairs;
  });
  m.def("constants", []() {
    return std::map<std::string, int64_t>{
        {"gpu_block", MSP_GPU_BLOCK}, {"merge_items", MSP_MERGE_ITEMS}, {"par_threshold", MSP_PAR_THRESHOLD}};
  });
  // whether an array's data exists (evaluated, or a constant): reading it then starts no evaluation
  m.def("is_available", [](const mx::array& a) { return a.is_available(); });
  m.def("set_num_threads", &msp_set_num_threads, nb::arg("n"));
  m.def("get_num_threads", &msp_get_num_threads);
}
