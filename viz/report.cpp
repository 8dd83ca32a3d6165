#include "viz/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "audio/decode.h"
#include "audio/stats.h"
#include "core/checkpoint-info.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/run-layout.h"
#include "viz/axes.h"
#include "viz/plot.h"

namespace srnn {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

struct Series {
  std::string name, colour;
  std::vector<std::pair<double, double>> points;
};

// A line chart as inline SVG.
std::string svg_chart(const std::string& title, const std::vector<Series>& series, const std::string& x_label) {
  const double W = 560, H = 300, L = 60, R = 16, T = 28, B = 44;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series) {
    for (auto [x, y] : s.points) {
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  }
  std::ostringstream o;
  o << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' class='chart'>";
  o << "<text x='" << W / 2 << "' y='18' text-anchor='middle' class='title'>" << esc(title) << "</text>";
  if (x0 > x1) {
    o << "<text x='" << W / 2 << "' y='" << H / 2 << "' text-anchor='middle'>no data yet</text></svg>";
    return o.str();
  }
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  const double pad = (y1 - y0) * 0.05;
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return L + (W - L - R) * (x - x0) / (x1 - x0); };
  auto py = [&](double y) { return T + (H - T - B) * (1 - (y - y0) / (y1 - y0)); };
  o << "<rect x='" << L << "' y='" << T << "' width='" << W - L - R << "' height='" << H - T - B
    << "' fill='none' stroke='#888'/>";
  const double xs = nice_step(x1 - x0, 6), ys = nice_step(y1 - y0, 5);
  for (double x = std::ceil(x0 / xs) * xs; x <= x1 + 1e-9; x += xs) {
    o << "<text x='" << px(x) << "' y='" << H - B + 16 << "' text-anchor='middle'>" << tick_label(x, xs) << "</text>";
  }
  for (double y = std::ceil(y0 / ys) * ys; y <= y1 + 1e-9; y += ys) {
    o << "<line x1='" << L << "' x2='" << W - R << "' y1='" << py(y) << "' y2='" << py(y) << "' stroke='#eee'/>";
    o << "<text x='" << L - 6 << "' y='" << py(y) + 4 << "' text-anchor='end'>" << tick_label(y, ys) << "</text>";
  }
  o << "<text x='" << (L + W - R) / 2 << "' y='" << H - 6 << "' text-anchor='middle'>" << esc(x_label) << "</text>";
  double legend_x = L + 8;
  for (const auto& s : series) {
    if (s.points.empty()) continue;
    o << "<polyline fill='none' stroke='" << s.colour << "' stroke-width='1.5' points='";
    for (auto [x, y] : s.points) o << px(x) << "," << py(y) << " ";
    o << "'/>";
    if (s.points.size() == 1) o << "<circle cx='" << px(s.points[0].first) << "' cy='" << py(s.points[0].second) << "' r='3' fill='" << s.colour << "'/>";
    o << "<text x='" << legend_x << "' y='" << T + 14 << "' fill='" << s.colour << "'>" << esc(s.name) << "</text>";
    legend_x += 9.0 * s.name.size() + 20;
  }
  o << "</svg>";
  return o.str();
}

// The epoch a clip belongs to, from "<id>_e=<epoch>..." (-1 when the name is not a clip's).
int clip_epoch(const std::string& name, const std::string& id) {
  const std::string prefix = id + "_e=";
  if (name.rfind(prefix, 0) != 0) return -1;
  try {
    return std::stoi(name.substr(prefix.size()));
  } catch (const std::exception&) {
    return -1;
  }
}

// What a training folder's run folders logged: metrics rows, held-out scores, the newest run.json.
struct RunHistory {
  std::vector<json> epochs, steps;
  std::vector<std::pair<std::string, json>> evals;  // (run folder, row of its evals.jsonl)
  json last_run = json::object();
};

RunHistory read_history(const std::vector<fs::path>& runs) {
  RunHistory r;
  for (const fs::path& run : runs) {
    std::ifstream eval_in(run / "evals.jsonl");
    for (std::string line; std::getline(eval_in, line);) {
      try {
        r.evals.emplace_back(run.filename().string(), json::parse(line));
      } catch (const json::exception&) {
      }
    }
    std::ifstream meta(run / "run.json");
    if (meta) {
      try {
        r.last_run = json::parse(meta);
      } catch (const json::exception&) {
      }
    }
    std::ifstream in(run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      try {
        const json row = json::parse(line);
        (row.value("kind", "") == "epoch" ? r.epochs : r.steps).push_back(row);
      } catch (const json::exception&) {
        // a line cut short by a crash: the rest is still shown
      }
    }
  }
  return r;
}

// The loss and accuracy curves, by epoch and by step.
void render_curves(std::ostringstream& h, const RunHistory& r) {
  const std::vector<json>& epochs = r.epochs;
  const std::vector<json>& steps = r.steps;
  if (epochs.empty() && steps.empty()) {
    h << "<p><b>No metrics yet.</b> The page fills in once training has logged its first step.</p>";
  } else {
    auto series = [](const std::vector<json>& rows, const char* x, const char* y, const char* name, const char* colour) {
      Series s{name, colour, {}};
      const std::size_t stride = std::max<std::size_t>(1, rows.size() / 2000);  // keep the page light
      for (std::size_t i = 0; i < rows.size(); i += stride) {
        if (rows[i].contains(x) && rows[i].contains(y) && rows[i][y].is_number()) {
          s.points.emplace_back(rows[i][x].get<double>(), rows[i][y].get<double>());
        }
      }
      return s;
    };
    h << "<h2>Curves</h2>";
    if (epochs.empty()) {
      h << "<p>No epoch has finished yet: the epoch curves (loss, val_loss, accuracy) appear after the first one."
        << (r.evals.empty() ? "" : " The held-out NLL below scores the model as it is.") << "</p>";
    } else {
      h << svg_chart("loss (nats)", {series(epochs, "epoch", "loss", "loss", "#1f5fa6"),
                                     series(epochs, "epoch", "val_loss", "val_loss", "#d0641c")}, "epoch");
      h << svg_chart("accuracy (%)", {series(epochs, "epoch", "accuracy", "accuracy", "#1f5fa6"),
                                      series(epochs, "epoch", "val_accuracy", "val_accuracy", "#d0641c")}, "epoch");
    }
    h << svg_chart("loss per step (nats)", {series(steps, "step", "loss", "loss", "#1f5fa6")}, "step");
    h << svg_chart("accuracy per step (%)", {series(steps, "step", "accuracy", "accuracy", "#1f5fa6")}, "step");
  }

}

// The table of held-out scores (evals.jsonl), and their curve by step once there are two.
void render_evals(std::ostringstream& h, const std::vector<std::pair<std::string, json>>& evals, const fs::path& id_dir) {
  h << "<h2>Held-out NLL</h2>";
  if (evals.empty()) {
    h << "<p>None recorded: <code>samplernn eval --record --checkpoint_path " << esc(id_dir.string())
      << " held-out-audio/</code> scores the latest checkpoint on audio it was not trained on and adds it here.</p>";
  } else {
    h << "<table><tr><th>run</th><th>checkpoint</th><th>epoch</th><th>step</th><th>weights</th><th>files</th>"
      << "<th>hours</th><th>NLL (bits/sample)</th><th>level-histogram entropy (bits)</th><th>scored</th></tr>";
    std::map<std::string, Series> nll;  // weights format -> its NLL by step
    const std::map<std::string, std::string> colours = {{"fp32", "#1f5fa6"}, {"bf16", "#2e8b57"}, {"int8", "#d0641c"}};
    std::set<double> scored_steps;
    for (const auto& item : evals) {
      const std::string& run = item.first;
      const json& e = item.second;  // a plain reference: lambdas cannot capture structured bindings in C++17
      auto num = [&](const char* k, int digits) {
        return e.contains(k) && e[k].is_number() ? fixed(e[k].get<double>(), digits) : "";
      };
      auto str = [&](const char* k) { return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : ""; };
      const bool part = e.contains("epoch_complete") && e["epoch_complete"].is_boolean() && !e["epoch_complete"].get<bool>();
      h << "<tr><td>" << esc(run) << "</td><td>" << esc(str("checkpoint")) << "</td><td>" << num("epoch", 0)
        << (part ? " (part)" : "") << "</td><td>" << num("step", 0) << "</td><td>" << esc(str("weights"))
        << "</td><td>" << num("files", 0) << "</td><td>"
        << (e.contains("seconds") && e["seconds"].is_number() ? fixed(e["seconds"].get<double>() / 3600, 2) : "")
        << "</td><td><b>" << num("nll_bits_per_sample", 3) << "</b></td><td>" << num("histogram_entropy_bits", 3)
        << "</td><td>" << esc(str("time")) << "</td></tr>";
      if (e.contains("step") && e["step"].is_number() && e.contains("nll_bits_per_sample") &&
          e["nll_bits_per_sample"].is_number()) {
        const std::string w = str("weights").empty() ? "fp32" : str("weights");
        Series& s = nll[w];
        s.name = "NLL, " + w + " weights";
        s.colour = colours.count(w) ? colours.at(w) : "#555";
        s.points.emplace_back(e["step"].get<double>(), e["nll_bits_per_sample"].get<double>());
        scored_steps.insert(e["step"].get<double>());
      }
    }
    h << "</table>";
    if (scored_steps.size() > 1) {  // a curve needs two steps
      std::vector<Series> curves;
      for (auto& [w, s] : nll) {
        std::sort(s.points.begin(), s.points.end());
        curves.push_back(s);
      }
      h << svg_chart("held-out NLL (bits/sample)", curves, "step");
    }
  }

}

// The table of checkpoints; returns the newest one's statistics of its training data.
json render_checkpoints(std::ostringstream& h, const std::vector<fs::path>& runs) {
  std::error_code ec;
  h << "<h2>Checkpoints</h2><table><tr><th>run</th><th>checkpoint</th><th>epoch</th><th>step</th><th>loss</th>"
    << "<th>val_loss</th><th>bits/sample</th><th>size</th></tr>";
  json corpus;  // the newest checkpoint's statistics of its training data
  for (const fs::path& run : runs) {
    for (const auto& [epoch, path] : checkpoints_in(run)) {
      h << "<tr><td>" << esc(run.filename().string()) << "</td><td>" << esc(path.filename().string()) << "</td>";
      try {
        const CheckpointInfo info = read_checkpoint_info(path);
        const TrainState& s = info.train;
        if (info.corpus_stats.is_object()) corpus = info.corpus_stats;
        // A finished epoch shows its metrics; a part of one, the running mean so far.
        nlohmann::json m = s.metrics;
        if (!s.epoch_complete) {
          m = nlohmann::json::object();
          if (s.epoch_steps > 0) {
            m["loss"] = s.loss_sum / static_cast<double>(s.epoch_steps);
            m["bits_per_sample"] = m["loss"].get<double>() / std::log(2.0);
          }
        }
        auto metric = [&](const char* k) {
          return m.contains(k) && m[k].is_number() ? fixed(m[k].get<double>(), 4) : "";
        };
        h << "<td>" << s.epoch << (s.epoch_complete ? "" : " (part)") << "</td><td>" << s.step << "</td><td>"
          << metric("loss") << "</td><td>" << metric("val_loss") << "</td><td>" << metric("bits_per_sample") << "</td>";
      } catch (const Error& e) {
        h << "<td colspan='5'>unreadable: " << esc(e.message()) << "</td>";
      }
      h << "<td>" << fixed(fs::file_size(path, ec) / 1e6, 1) << " MB</td></tr>";
    }
  }
  h << "</table>";
  return corpus;
}

// The clips of the newest run's output folder, newest epoch first, each with its player,
// spectrogram and statistics, beside the training data's.
void render_clips(std::ostringstream& h, const fs::path& id_dir, const std::string& id, const json& last_run,
                  const json& corpus) {
  std::error_code ec;
  const fs::path clip_dir = fs::path(last_run.contains("flags") ? last_run["flags"].value("output_dir", "") : "") / id;
  std::vector<std::pair<int, fs::path>> clips;
  if (!clip_dir.empty() && fs::is_directory(clip_dir, ec)) {
    for (const auto& e : fs::directory_iterator(clip_dir, ec)) {
      const int epoch = clip_epoch(e.path().filename().string(), id);
      if (epoch >= 0 && lower_extension(e.path()) == "wav") clips.emplace_back(epoch, e.path());
    }
  }
  std::sort(clips.begin(), clips.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  h << "<h2>Clips</h2>";
  if (corpus.is_object()) {
    try {
      h << "<p>Beside the training data: " << esc(distribution_line(distribution_from_json(corpus))) << "</p>";
    } catch (const Error&) {
      // a damaged record leaves the clips without it
    }
  }
  if (clips.empty()) h << "<p>No clips yet: they are written after each checkpoint (--generate True).</p>";
  const fs::path files = id_dir / "report-files";
  if (!clips.empty()) ensure_directory(files);
  int shown_epoch = -1;
  for (const auto& [epoch, clip] : clips) {
    if (epoch != shown_epoch) {
      h << "<h3>Epoch " << epoch << "</h3>";
      shown_epoch = epoch;
    }
    h << "<div class='clip'><b>" << esc(clip.filename().string()) << "</b><br>";
    try {
      const DecodedAudio audio = load_mono(clip, 0);
      const fs::path thumb = files / (clip.stem().string() + ".png");
      PlotOptions po;
      po.width = 480;
      po.height = 260;
      if (!fs::exists(thumb, ec) || fs::last_write_time(thumb, ec) < fs::last_write_time(clip, ec)) {
        plot_audio({{clip.filename().string(), audio.samples, audio.rate_hz}}, thumb, po);
      }
      const AudioStats st = compute_stats(audio.samples, audio.rate_hz);
      const fs::path abs_clip = fs::absolute(clip), abs_dir = fs::absolute(id_dir);
      h << "<audio controls preload='metadata' src='" << esc(fs::relative(abs_clip, abs_dir).generic_string())
        << "'></audio><br><img width='480' height='260' alt='spectrogram' src='report-files/"
        << esc(thumb.filename().string()) << "'><br>" << esc(summary_line(st));
      for (const auto& w : stats_warnings(st)) h << "<br><b>" << esc(w) << "</b>";
    } catch (const Error& e) {
      h << "unreadable: " << esc(e.message());
    }
    h << "</div>";
  }

}

}  // namespace

fs::path write_report(const fs::path& id_dir) {
  std::error_code ec;
  if (!fs::is_directory(id_dir, ec)) {
    throw Error(ErrorKind::kInput, "'" + id_dir.string() + "' is not a training folder",
                "pass <logdir_root>/<id>, e.g. logdir/aamgen");
  }
  fs::path normal = fs::absolute(id_dir).lexically_normal();
  if (normal.filename().empty()) normal = normal.parent_path();  // "logdir/aamgen/"
  const std::string id = normal.filename().string();
  const std::vector<fs::path> runs = run_folders(id_dir);
  const RunHistory history = read_history(runs);
  const json& last_run = history.last_run;

  std::ostringstream h;
  h << "<!DOCTYPE html><html><head><meta charset='utf-8'><title>samplernn: " << esc(id) << "</title><style>"
    << "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}"
    << "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
    << ".chart text{font-size:11px;font-family:sans-serif}.chart .title{font-size:13px}"
    << ".clip{display:inline-block;margin:6px;vertical-align:top;font-size:12px;width:490px}"
    << "pre{background:#f6f6f6;padding:8px;font-size:12px}</style></head><body>";
  h << "<h1>" << esc(id) << "</h1><p>" << runs.size() << " run folder(s); page written " << esc(run_folder_name_now())
    << ".</p>";

  render_curves(h, history);
  render_evals(h, history.evals, id_dir);
  const json corpus = render_checkpoints(h, runs);
  render_clips(h, id_dir, id, last_run, corpus);
  h << "<h2>Config and flags</h2><pre>" << esc(last_run.dump(2)) << "</pre></body></html>\n";
  const fs::path page = id_dir / "report.html";
  AtomicFile out(page);
  {
    std::ofstream f(out.temp_path());
    f << h.str();
    if (!f.flush()) throw Error(ErrorKind::kIo, "cannot write '" + page.string() + "'");
  }
  out.commit();
  return page;
}

}  // namespace srnn
