// Python glue of the direct solvers (csrc/cpu/direct.c): the factorization handle as an integer, buffers
// as the addresses of NumPy arrays the caller keeps alive (mlx_sparse/linalg/_direct.py checks their
// sizes and dtypes). The GIL is released while SuiteSparse works.
#include <cstdint>
#include <string>
#include <tuple>

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>

#include "mlx_sparse/direct.h"

namespace nb = nanobind;

void register_direct(nb::module_& m) {
  m.def("direct_available", []() { return msp_direct_available() != 0; });
  m.def(
      "direct_analyze",
      [](int kind, int cplx, int64_t n, uintptr_t colptr, uintptr_t rowind) {
        char msg[256] = {0};
        msp_direct* h = nullptr;
        int st;
        {
          nb::gil_scoped_release release;
          st = msp_direct_analyze(kind, cplx, n, reinterpret_cast<const int64_t*>(colptr),
                                  reinterpret_cast<const int64_t*>(rowind), &h, msg, sizeof msg);
        }
        return std::make_tuple(st, reinterpret_cast<uintptr_t>(h), std::string(msg));
      },
      nb::arg("kind"), nb::arg("cplx"), nb::arg("n"), nb::arg("colptr"), nb::arg("rowind"));
  m.def("direct_factor", [](uintptr_t h, uintptr_t values) {
    char msg[256] = {0};
    int st;
    {
      nb::gil_scoped_release release;
      st = msp_direct_factor(reinterpret_cast<msp_direct*>(h), reinterpret_cast<const double*>(values), msg, sizeof msg);
    }
    return std::make_tuple(st, std::string(msg));
  });
  m.def("direct_solve", [](uintptr_t h, int trans, int64_t k, uintptr_t b, uintptr_t x) {
    char msg[256] = {0};
    int st;
    {
      nb::gil_scoped_release release;
      st = msp_direct_solve(reinterpret_cast<msp_direct*>(h), trans, k, reinterpret_cast<const double*>(b),
                            reinterpret_cast<double*>(x), msg, sizeof msg);
    }
    return std::make_tuple(st, std::string(msg));
  });
  m.def("direct_logdet", [](uintptr_t h) {
    double la = 0, sr = 0, si = 0;
    int st = msp_direct_logdet(reinterpret_cast<msp_direct*>(h), &la, &sr, &si);
    return std::make_tuple(st, la, sr, si);
  });
  m.def("direct_fill", [](uintptr_t h) { return msp_direct_fill(reinterpret_cast<msp_direct*>(h)); });
  m.def("direct_factors", [](uintptr_t h) {
    char msg[256] = {0};
    int64_t lnz = 0, unz = 0;
    int st;
    {
      nb::gil_scoped_release release;
      st = msp_direct_factors(reinterpret_cast<msp_direct*>(h), &lnz, &unz, msg, sizeof msg);
    }
    return std::make_tuple(st, lnz, unz, std::string(msg));
  });
  m.def("direct_factors_copy", [](uintptr_t h, uintptr_t Lp, uintptr_t Li, uintptr_t Lx, uintptr_t Up, uintptr_t Ui,
                                  uintptr_t Ux, uintptr_t perm_r, uintptr_t perm_c) {
    nb::gil_scoped_release release;
    return msp_direct_factors_copy(reinterpret_cast<msp_direct*>(h), reinterpret_cast<int64_t*>(Lp),
                                   reinterpret_cast<int64_t*>(Li), reinterpret_cast<double*>(Lx),
                                   reinterpret_cast<int64_t*>(Up), reinterpret_cast<int64_t*>(Ui),
                                   reinterpret_cast<double*>(Ux), reinterpret_cast<int64_t*>(perm_r),
                                   reinterpret_cast<int64_t*>(perm_c));
  });
  m.def("direct_free", [](uintptr_t h) { msp_direct_free(reinterpret_cast<msp_direct*>(h)); });
}
