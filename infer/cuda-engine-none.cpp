// The CUDA engine's entry points in a build without the CUDA toolkit (SRNN_CUDA off or not
// found): each says so.
#include "core/error.h"
#include "infer/cuda-engine.h"

namespace srnn {
namespace {

[[noreturn]] void not_built() {
  throw Error(ErrorKind::kUsage, "this build of samplernn has no CUDA engine",
              "use --device cpu, or rebuild where CMake finds the CUDA toolkit (nvcc)");
}

}  // namespace

struct CudaEngine::Impl {};

bool cuda_engine_built() { return false; }

bool cuda_engine_available(std::string* why) {
  if (why != nullptr) *why = "this build has no CUDA engine";
  return false;
}

CudaEngine::CudaEngine(const EngineWeights&, int, std::int64_t, int) { not_built(); }
CudaEngine::~CudaEngine() = default;
void CudaEngine::set_levels(const std::int32_t* const*, std::int64_t) { not_built(); }
void CudaEngine::step_frames(std::int64_t) { not_built(); }
void CudaEngine::sample_logits(std::int64_t, float*) { not_built(); }

std::vector<std::vector<std::int32_t>> generate_cuda(const EngineWeights&, const GenerateRequest&, int) { not_built(); }

}  // namespace srnn
