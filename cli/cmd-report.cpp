// samplernn report: the static HTML page of a training id (viz/report.h).
#include <cstdio>

#include "cli/commands.h"
#include "viz/report.h"

namespace srnn {

CommandRunner add_report_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("report", "Write LOGDIR/ID/report.html: curves, config, checkpoints, clips.");
  cmd->add_option("id_dir", *dir, "The training folder, <logdir_root>/<id>")->required();
  return [dir]() {
    const auto page = write_report(*dir);
    std::printf("Wrote %s\n", page.c_str());
    return 0;
  };
}

}  // namespace srnn
