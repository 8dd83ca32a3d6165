// The HTML report of a training id: `samplernn report LOGDIR/ID` and, after every
// checkpoint, the trainer write <LOGDIR>/<ID>/report.html. It is one static page that opens
// from disk with no server and no network: curves as inline SVG, the run's config and
// flags, a table of checkpoints, and for every clip an <audio> player, a spectrogram
// thumbnail (PNG beside the page, in report-files/) and its statistics.
//
//   srnn::write_report("logdir/aamgen");   // -> logdir/aamgen/report.html
#pragma once

#include <filesystem>

namespace srnn {

// Throws Error(kInput) when id_dir is not a folder; a folder without metrics gives a page
// that says so. Written atomically. Returns the page's path.
std::filesystem::path write_report(const std::filesystem::path& id_dir);

}  // namespace srnn
