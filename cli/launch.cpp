#include "cli/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "core/log.h"

namespace srnn {
namespace {

std::atomic<int> g_launcher_signal{0};
extern "C" void on_launcher_signal(int sig) { g_launcher_signal = sig; }

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = false;
  int exit_code = 0;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return std::string("was killed by signal ") + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "stopped (status " + std::to_string(status) + ")";
}

pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) throw Error(ErrorKind::kInternal, std::string("cannot start a worker process: ") + errno_text(errno));
  if (pid == 0) {
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    execv("/proc/self/exe", argv.data());
    std::fprintf(stderr, "error: cannot start a worker: %s\n", std::strerror(errno));
    _exit(127);
  }
  return pid;
}

bool takes_value(const std::string& flag) {
  for (const char* f : {"--nproc", "--master_addr", "--master-addr", "--master_port", "--master-port"}) {
    if (flag == f) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string>& stored_command_line() {
  static std::vector<std::string> args;
  return args;
}

void set_command_line(int argc, char** argv) { stored_command_line().assign(argv, argv + argc); }
const std::vector<std::string>& command_line() { return stored_command_line(); }

std::vector<std::string> strip_launcher_flags(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const std::string name = a.substr(0, a.find('='));
    if (takes_value(name)) {
      if (name == a) ++i;  // `--flag value`: skip the value too
      continue;
    }
    out.push_back(a);
  }
  return out;
}

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(ErrorKind::kPeer, std::string("cannot open a socket: ") + errno_text(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  close(fd);
  if (!ok) throw Error(ErrorKind::kPeer, std::string("cannot find a free port: ") + errno_text(err), "pass --master_port");
  return ntohs(addr.sin_port);
}

int launch_workers(const std::vector<std::string>& worker_args, const LaunchOptions& o) {
  const int port = o.master_port > 0 ? o.master_port : free_local_port();
  g_launcher_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_launcher_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  std::vector<Worker> workers(o.n_processes);
  for (int r = 0; r < o.n_processes; ++r) {
    const std::vector<std::string> env = {
        "RANK=" + std::to_string(r),          "LOCAL_RANK=" + std::to_string(r),
        "WORLD_SIZE=" + std::to_string(o.n_processes), "LOCAL_WORLD_SIZE=" + std::to_string(o.n_processes),
        "MASTER_ADDR=" + o.master_addr,       "MASTER_PORT=" + std::to_string(port),
        "SRNN_WORKER_THREADS=" + std::to_string(o.threads_per_worker)};
    workers[r].rank = r;
    try {
      workers[r].pid = spawn(worker_args, env);
    } catch (const Error&) {
      for (int k = 0; k < r; ++k) kill(workers[k].pid, SIGKILL);  // no half-started group
      for (int k = 0; k < r; ++k) waitpid(workers[k].pid, nullptr, 0);
      throw;
    }
    workers[r].running = true;
  }
  std::string pids;
  for (const Worker& w : workers) {
    pids += (w.rank ? ", rank " : "rank ") + std::to_string(w.rank) + " pid " + std::to_string(w.pid);
  }
  log_info("Started " + std::to_string(o.n_processes) + " worker processes: " + pids + "; rendezvous " + o.master_addr +
           ":" + std::to_string(port) + ", " + std::to_string(o.threads_per_worker) + " thread(s) each");

  int result = 0, forwarded = 0;
  bool stopping = false;
  std::chrono::steady_clock::time_point kill_at;
  for (int n_running = o.n_processes; n_running > 0;) {
    const int sig = g_launcher_signal.load();
    if (sig != 0 && sig != forwarded) {
      for (const Worker& w : workers) {
        if (w.running) kill(w.pid, sig);
      }
      forwarded = sig;
    }
    if (stopping && std::chrono::steady_clock::now() > kill_at) {
      for (Worker& w : workers) {
        if (w.running) {
          log_error("rank " + std::to_string(w.rank) + " did not stop within " + std::to_string(kGraceSeconds) +
                    " s; killing it");
          kill(w.pid, SIGKILL);
        }
      }
      kill_at = std::chrono::steady_clock::now() + std::chrono::hours(1);
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    for (Worker& w : workers) {
      if (w.pid != pid || !w.running) continue;
      w.running = false;
      --n_running;
      const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      if (!failed) break;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : exit_code(ErrorKind::kPeer);
      if (!stopping) {
        // The first failure decides the exit code; an interrupt is not a failure of a rank.
        result = code;
        if (code != exit_code(ErrorKind::kInterrupted) || g_launcher_signal == 0) {
          log_error("rank " + std::to_string(w.rank) + " (pid " + std::to_string(pid) + ") " + describe_status(status) +
                    (n_running > 0 ? "; stopping the other ranks" : ""));
        }
        for (const Worker& other : workers) {
          if (other.running) kill(other.pid, SIGTERM);
        }
        stopping = true;
        kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(kGraceSeconds);
      }
      break;
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

}  // namespace srnn
