// Errors that reach the user.
//
// Library code throws srnn::Error at the edges (flags, files, configs, checkpoints) with a
// message that names what failed, the path, what was expected against what was found, and a
// hint. `main` catches it, prints one line and returns exit_code(kind). Library code never
// calls exit() or abort().
//
//   throw srnn::Error(srnn::ErrorKind::kInput,
//                     "cannot decode '" + path + "': " + reason, "is it an audio file?");
#pragma once

#include <stdexcept>
#include <string>

namespace srnn {

enum class ErrorKind {
  kInternal,  // a bug: should never reach the user
  kUsage,     // bad flags or flag combinations
  kInput,     // a missing, corrupt or unsuitable input file
  kConfig,    // an invalid or contradictory model/training config
  kIo,        // a failed write: full disk, no permission, ...
  kDiverged,  // training produced a NaN or infinite loss
  kPeer,      // distributed training: a rank died, never arrived, or its port was taken
  kMemory,    // not enough memory for what was asked
  kDependency,  // a program or library the command needs is not installed (Optuna for tune)
  kInterrupted,
};

// Process exit code for each kind; 0 is success, 1 is reserved for unexpected exceptions.
int exit_code(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what, const std::string& hint = "");

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }

 private:
  ErrorKind kind_;
  std::string message_;
  std::string hint_;
};

// The text of errno as "No such file or directory" etc., thread-safe.
std::string errno_text(int err);

}  // namespace srnn
