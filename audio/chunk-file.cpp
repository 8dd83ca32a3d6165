#include "audio/chunk-file.h"

#include <map>
#include <set>
#include <mutex>
#include <system_error>

#include "audio/decode.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/threads.h"

namespace srnn {
namespace fs = std::filesystem;

void protect_inputs(const std::vector<fs::path>& inputs, const std::vector<std::string>& stems, const ChunkJob& job) {
  std::error_code ec;
  if (!fs::is_directory(job.output_dir, ec)) return;  // no inputs can be in a folder that does not exist yet
  const std::string ext = "." + job.format.extension();
  std::set<std::string> stem_set(stems.begin(), stems.end());
  for (const fs::path& input : inputs) {
    if (!fs::equivalent(input.parent_path().empty() ? "." : input.parent_path(), job.output_dir, ec)) continue;
    // Does the name read <stem>_chunk_<digits><ext> for one of the stems?
    const std::string name = input.filename().string();
    if (name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0) continue;
    const std::string base = name.substr(0, name.size() - ext.size());
    const std::size_t at = base.rfind("_chunk_");
    if (at == std::string::npos || at + 7 == base.size()) continue;
    if (base.find_first_not_of("0123456789", at + 7) != std::string::npos) continue;
    if (stem_set.count(base.substr(0, at)) > 0) {
      throw Error(ErrorKind::kUsage, "refusing to overwrite the input file '" + input.string() +
                                         "', which has the name of a chunk this run would write",
                  "choose an --output_dir other than the input's folder");
    }
  }
}

ChunkFileResult chunk_file(const fs::path& input, const std::string& stem, const ChunkJob& job) {
  validate(job.chunk);
  DecodedAudio audio = load_mono(input, job.rate_hz);
  ChunkFileResult result;
  result.input = input;
  result.audio_seconds = static_cast<double>(audio.samples.size()) / audio.rate_hz;
  if (audio.truncated()) {
    log_warn("'" + input.string() + "' ends after " + fixed(static_cast<double>(audio.source_frames) / audio.source_rate_hz, 2) +
             " s, before the " + fixed(static_cast<double>(audio.header_frames) / audio.source_rate_hz, 2) +
             " s its header announces (a cut-off copy?); chunking what it has");
  }
  if (result.audio_seconds * 1000 < job.chunk.chunk_length_ms) {
    log_warn("'" + input.string() + "' (" + fixed(result.audio_seconds, 2) + " s) is shorter than one chunk (" +
             fixed(job.chunk.chunk_length_ms / 1000.0, 2) + " s): no chunk comes from it");
  }

  const SilenceDetector silence(audio.samples, audio.rate_hz);
  const std::string ext = job.format.extension();
  for (const ChunkSpan& c : plan_chunks(audio.samples.size(), audio.rate_hz, job.chunk)) {
    if (interrupted()) throw Error(ErrorKind::kInterrupted, "interrupted while chunking '" + input.string() + "'");
    ++result.n_chunks;
    if (silence.has_silent_window(c, job.chunk)) {
      ++result.n_silent;
      if (job.verbose) log_info("Chunk " + std::to_string(c.number) + " of " + input.string() + " is silent, omitting it.");
      continue;
    }
    const fs::path out = job.output_dir / (stem + "_chunk_" + std::to_string(c.number) + "." + ext);
    write_audio(out, Span<const float>(audio.samples.data() + c.begin, c.end - c.begin), audio.rate_hz, job.format);
    ++result.n_saved;
    if (job.verbose) {
      log_info("Processing chunk " + std::to_string(c.number) + ". Start = " + std::to_string(c.begin_ms) +
               " end = " + std::to_string(c.begin_ms + job.chunk.chunk_length_ms));
    }
  }
  result.ok = true;
  return result;
}

void refuse_colliding_stems(const std::vector<fs::path>& inputs, const std::vector<std::string>& stems,
                            const ChunkJob& job) {
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto [it, fresh] = first.emplace(stems[i], i);
    if (!fresh) {
      throw Error(ErrorKind::kUsage,
                  "'" + inputs[it->second].string() + "' and '" + inputs[i].string() + "' would both write " +
                      stems[i] + "_chunk_<n>." + job.format.extension() + "; nothing was written",
                  "rename or move one of them");
    }
  }
}

std::vector<std::string> output_stems(const std::vector<fs::path>& inputs, const fs::path& root) {
  std::map<std::string, int> count;
  for (const fs::path& p : inputs) ++count[p.stem().string()];
  std::vector<std::string> stems;
  stems.reserve(inputs.size());
  for (const fs::path& p : inputs) {
    std::string stem = p.stem().string();
    if (count[stem] > 1) {
      fs::path rel = p.lexically_relative(root);
      if (rel.empty() || *rel.begin() == "..") rel = p.relative_path();
      stem = rel.replace_extension().generic_string();
      for (char& ch : stem) {
        if (ch == '/') ch = '_';
      }
    }
    stems.push_back(stem);
  }
  return stems;
}

std::vector<ChunkFileResult> chunk_files(const std::vector<fs::path>& inputs, const std::vector<std::string>& stems,
                                         const ChunkJob& job, int n_threads,
                                         const std::function<void(const ChunkFileResult&, std::size_t)>& on_done) {
  validate(job.chunk);
  refuse_colliding_stems(inputs, stems, job);
  protect_inputs(inputs, stems, job);
  ensure_directory(job.output_dir);
  remove_stale_temp_files(job.output_dir);
  std::vector<ChunkFileResult> results(inputs.size());
  std::mutex mutex;
  std::size_t n_done = 0;
  parallel_for(inputs.size(), n_threads, [&](std::size_t i) {
    ChunkFileResult r;
    try {
      r = chunk_file(inputs[i], stems[i], job);
    } catch (const Error& e) {
      r.input = inputs[i];
      r.error = e.what();
      r.error_code = exit_code(e.kind());
    } catch (const std::exception& e) {
      r.input = inputs[i];
      r.error = "'" + inputs[i].string() + "': " + e.what();
      r.error_code = exit_code(ErrorKind::kInternal);
    }
    std::lock_guard<std::mutex> lock(mutex);
    results[i] = r;
    ++n_done;
    if (on_done) on_done(results[i], n_done);
  });
  return results;
}

}  // namespace srnn
