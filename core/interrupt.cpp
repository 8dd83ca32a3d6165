#include "core/interrupt.h"

#include <csignal>

namespace srnn {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted = true; }

}  // namespace

InterruptScope::InterruptScope() {
  g_interrupted = false;
  old_int_ = std::signal(SIGINT, on_interrupt);
  old_term_ = std::signal(SIGTERM, on_interrupt);
}

InterruptScope::~InterruptScope() {
  std::signal(SIGINT, old_int_);
  std::signal(SIGTERM, old_term_);
}

bool interrupted() { return g_interrupted; }
const std::atomic<bool>& interrupt_flag() { return g_interrupted; }

}  // namespace srnn
