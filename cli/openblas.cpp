#include "cli/openblas.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <set>
#include <string>

namespace srnn {

void select_openblas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr || std::getenv("SRNN_KEEP_BLAS") != nullptr) return;
  using CoreName = char* (*)();
  const auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  if (corename == nullptr) return;  // not OpenBLAS
  std::string core = corename();
  for (char& c : core) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Generic fallbacks OpenBLAS uses for CPUs it does not recognise.
  static const std::set<std::string> kGeneric = {"prescott", "core2", "penryn", "dunnington", "nehalem",
                                                 "atom", "unknown", "katmai", "northwood", "banias"};
  if (kGeneric.count(core) == 0) return;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const char* target = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd")) {
    target = "SkylakeX";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    target = "Haswell";
  }
  if (target == nullptr) return;
  setenv("OPENBLAS_CORETYPE", target, 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on with the slow kernels
#endif
}

}  // namespace srnn
