// Minimal thread-safe logging to stderr.
//
// Lines from several threads never interleave. A progress line (progress()) is redrawn in
// place with '\r' when stderr is a terminal and printed as ordinary lines otherwise; a later
// info/warn line first finishes the pending progress line.
//
//   srnn::log_warn("skipping 'notes.txt': not an audio file");
#pragma once

#include <string>

namespace srnn {

void log_info(const std::string& line);
void log_warn(const std::string& line);   // prefixed "warning: "
void log_error(const std::string& line);  // prefixed "error: "

// Puts `prefix` before every line from now on ("[rank 1] " in distributed workers).
void set_log_prefix(const std::string& prefix);
// Quiet: only error lines are printed (ranks other than 0 in distributed training).
void set_log_quiet(bool quiet);

// Redraws the progress line; `final` ends it with a newline.
void log_progress(const std::string& line, bool final = false);

// True when stderr is a terminal (progress is redrawn in place).
bool stderr_is_tty();

// v with `digits` digits after the point, for printed figures: fixed(3.14159, 2) == "3.14".
std::string fixed(double v, int digits);

}  // namespace srnn
