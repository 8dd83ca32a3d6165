// The local launcher of data-parallel training: `samplernn train --nproc N ...` starts N
// worker processes of this binary with torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and watches them.
//
// - Ctrl-C or SIGTERM is passed on to every worker; they stop at the same step and rank 0
//   writes the checkpoint.
// - When a worker fails or dies, the launcher names its rank, sends the others SIGTERM, and
//   kills any still running after kGraceSeconds. It returns the failed worker's exit code,
//   or the code of ErrorKind::kPeer when the worker was killed by a signal.
#pragma once

#include <string>
#include <vector>

namespace srnn {

struct LaunchOptions {
  int n_processes = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;         // 0: a free port of this machine
  int threads_per_worker = 1;  // SRNN_WORKER_THREADS, the --num_threads default of a worker
};

constexpr int kGraceSeconds = 15;

// worker_args: the command line of a worker (argv without the launcher's own flags).
// Returns the launcher's exit code.
int launch_workers(const std::vector<std::string>& worker_args, const LaunchOptions& options);

// The command line with --nproc, --master_addr and --master_port removed (in both
// spellings, with their values, as `--flag value` or `--flag=value`).
std::vector<std::string> strip_launcher_flags(const std::vector<std::string>& args);

// main() keeps its argv here for the launcher.
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

// A TCP port on 127.0.0.1 that was free a moment ago. Error(kPeer) if none can be had.
int free_local_port();

}  // namespace srnn
