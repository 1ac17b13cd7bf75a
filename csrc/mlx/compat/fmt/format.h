// MLX's CUDA headers include <fmt/format.h> for one error message in a template (LRUCache::emplace,
// used inside MLX only), and MLX's wheels do not ship fmt. Where no fmt is installed, the build of
// _ext_cuda puts this directory on the include path: the declaration lets those headers parse; the
// glue never instantiates the template, so nothing calls it.
#pragma once
#include <string>

namespace fmt {
template <typename... Args>
std::string format(Args&&... args);
}  // namespace fmt
