// Data-parallel training on loopback: the Gloo collectives in one process (two ranks on two
// threads), and through the binary: two ranks against one process, a killed rank, a rank
// that never arrives, a port that is taken, and resuming after a failure.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sndfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <thread>

#include "cli/launch.h"
#include "core/checkpoint-info.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "tests/test-util.h"
#include "train/distributed.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;
using test::run_command;

const std::string kBin = SRNN_BIN;
std::string q(const fs::path& p) { return test::shell_quote(p); }

// Runs fn(rank, group) for two ranks on two threads of this process.
void with_two_ranks(const std::function<void(int, Collective&)>& fn) {
  const int port = free_local_port();
  std::vector<std::thread> threads;
  std::vector<std::string> errors(2);
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      try {
        DistEnv env;
        env.rank = r;
        env.world_size = 2;
        env.master_port = port;
        Collective group(env, std::chrono::seconds(20));
        fn(r, group);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

TEST(Collective, AveragesGradientsAcrossBucketsAndSumsMetrics) {
  with_two_ranks([](int rank, Collective& group) {
    group.set_bucket_floats(10);  // parameters of 6, 8 and 3 floats: three buckets
    std::vector<torch::Tensor> params = {torch::zeros({2, 3}), torch::zeros({8}), torch::zeros({3})};
    for (std::size_t i = 0; i < params.size(); ++i) {
      params[i].mutable_grad() = torch::full(params[i].sizes(), static_cast<float>(rank * 10 + i));
    }
    std::vector<double> sums = {1.5 + rank, 1.0};
    group.average_gradients(params, &sums);
    EXPECT_TRUE(torch::equal(params[0].grad(), torch::full({2, 3}, 5.0f))) << params[0].grad();
    EXPECT_TRUE(torch::equal(params[1].grad(), torch::full({8}, 6.0f))) << params[1].grad();
    EXPECT_TRUE(torch::equal(params[2].grad(), torch::full({3}, 7.0f))) << params[2].grad();
    EXPECT_DOUBLE_EQ(sums[0], 4.0);
    EXPECT_DOUBLE_EQ(sums[1], 2.0);
  });
}

TEST(Collective, AParameterWithoutAGradientKeepsNone) {
  // A learned h0 has a gradient only in a batch's first window: the optimiser must not
  // see zeros for it in the other windows (Adam would move it on its momentum).
  with_two_ranks([](int rank, Collective& group) {
    std::vector<torch::Tensor> params = {torch::zeros({4}), torch::zeros({2}), torch::zeros({3})};
    params[0].mutable_grad() = torch::full({4}, static_cast<float>(rank + 1));
    params[2].mutable_grad() = torch::full({3}, static_cast<float>(2 * rank));
    std::vector<double> sums = {1.0};
    group.average_gradients(params, &sums);
    EXPECT_TRUE(torch::equal(params[0].grad(), torch::full({4}, 1.5f)));
    EXPECT_FALSE(params[1].grad().defined());
    EXPECT_TRUE(torch::equal(params[2].grad(), torch::full({3}, 1.0f)));
    EXPECT_DOUBLE_EQ(sums[0], 2.0);
  });
}

TEST(Collective, GathersEveryRanksRowsInRankOrder) {
  with_two_ranks([](int rank, Collective& group) {
    const torch::Tensor mine = torch::full({1, 2, 3}, static_cast<float>(rank + 1));  // (1, B/2, dim)
    const torch::Tensor all = group.gather_rows(mine, 1);
    ASSERT_EQ(all.sizes(), (std::vector<int64_t>{1, 4, 3}));
    EXPECT_TRUE(torch::equal(all.narrow(1, 0, 2), torch::full({1, 2, 3}, 1.0f)));
    EXPECT_TRUE(torch::equal(all.narrow(1, 2, 2), torch::full({1, 2, 3}, 2.0f)));
  });
}

TEST(Collective, BroadcastsTensorsAndStringsFromRankZero) {
  with_two_ranks([](int rank, Collective& group) {
    torch::Tensor t = torch::full({4, 2}, static_cast<float>(rank + 1));
    group.broadcast({t});
    EXPECT_TRUE(torch::equal(t, torch::full({4, 2}, 1.0f)));
    EXPECT_EQ(group.broadcast_string("path", rank == 0 ? "from-zero" : "mine"), "from-zero");
    EXPECT_EQ(group.sum({1.0, static_cast<double>(rank)}), (std::vector<double>{2.0, 1.0}));
    group.check_agreement("a value", "same");
    try {
      group.check_agreement("the data", rank == 0 ? "a" : "b");
      ADD_FAILURE() << "disagreement not detected";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kPeer);
      EXPECT_NE(e.message().find("see the data differently"), std::string::npos) << e.message();
    }
  });
}

TEST(Launcher, StripsItsOwnFlags) {
  const std::vector<std::string> args = {"samplernn", "train", "--nproc", "2", "--master_port=5", "--id", "x",
                                         "--master-addr", "h", "--batch_size", "4"};
  EXPECT_EQ(strip_launcher_flags(args),
            (std::vector<std::string>{"samplernn", "train", "--id", "x", "--batch_size", "4"}));
}

// Eight 2-second chunks of tones and noise at 16 kHz, and a tiny model.
class DistributedTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "chunks");
    for (int i = 0; i < 8; ++i) {
      const std::size_t n = 32000;
      std::vector<float> a = test::sine(180.0 + 40 * i, 0.3, 16000, n);
      const std::vector<float> z = test::noise(0.05, n, static_cast<std::uint32_t>(i + 1));
      for (std::size_t j = 0; j < n; ++j) a[j] += z[j];
      test::write_sndfile(dir_ / "chunks" / ("c" + std::to_string(i) + ".wav"), a, 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
    }
    std::ofstream(dir_ / "tiny.config.json")
        << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 32, "rnn_type": "gru", "num_rnn_layers": 2,
               "q_type": "mu-law", "q_levels": 256, "emb_size": 16, "skip_conn": false})";
    std::ofstream(dir_ / "lstm.config.json")
        << R"({"seq_len": 256, "frame_sizes": [4, 16], "dim": 32, "rnn_type": "lstm", "num_rnn_layers": 2,
               "q_type": "mu-law", "q_levels": 256, "emb_size": 16, "skip_conn": true, "learn_h0": true})";
  }
  std::string train_cmd(const std::string& id, const std::string& extra) const {
    return "cd " + q(dir_.path()) + " && " + kBin + " train --id " + id +
           " --data_dir chunks --config_file tiny.config.json --batch_size 4 --val_frac 0 --monitor loss"
           " --generate False --rng_seed 5 --num_threads 1 --precision fp32 " + extra;  // tolerances measured in fp32
  }
  fs::path checkpoint_in(const std::string& output) const {
    static const std::regex saved(R"(Saved checkpoint (\S+))");
    std::string last;
    for (auto it = std::sregex_iterator(output.begin(), output.end(), saved);
         it != std::sregex_iterator(); ++it) {
      last = (*it)[1].str();
    }
    return last.empty() ? fs::path() : (last.front() == '/' ? fs::path(last) : dir_ / last);
  }
  test::TempDir dir_;
};

bool is_moment(const std::string& name) { return name.rfind("optim.", 0) == 0; }
bool is_compared(const std::string& name) {
  const bool step_count = name.size() > 5 && name.compare(name.size() - 5, 5, ".step") == 0;
  return name.rfind("train.", 0) != 0 && !step_count;
}

// Every element of every Adam moment within rtol of its own value, plus a floor of
// rtol * 1e-2 of the tensor's largest value for elements near zero; the worst element is
// named. The weights must be the same bytes.
void expect_same_weights_close_moments(const TensorFile& a, const TensorFile& b, double rtol) {
  int compared = 0;
  for (const auto& [name, ta] : a.tensors) {
    if (!is_compared(name)) continue;
    ASSERT_TRUE(b.has(name)) << name;
    if (!is_moment(name)) {
      EXPECT_TRUE(ta.bytes == b.at(name).bytes) << name << " moved";
      continue;
    }
    const std::vector<float> x = ta.to_f32(), y = b.at(name).to_f32();
    ASSERT_EQ(x.size(), y.size()) << name;
    double scale = 0;
    for (float v : x) scale = std::max(scale, std::fabs(double(v)));
    ASSERT_GT(scale, 0.0) << name << " is all zeros";
    double worst = 0;  // in units of the element's tolerance
    std::size_t at = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double ratio = std::fabs(double(x[i]) - y[i]) / (rtol * (std::fabs(double(x[i])) + 1e-2 * scale));
      if (ratio > worst) worst = ratio, at = i;
    }
    EXPECT_LE(worst, 1.0) << name << ": element " << at << " is " << x[at] << " vs " << y[at] << ", "
                          << worst << " times the tolerance";
    ++compared;
  }
  EXPECT_GT(compared, 20);
}

// Every weight and every Adam moment within a relative distance |a - b| / |a| of the whole
// tensor; the worst tensor of each kind is named.
void expect_close_norms(const TensorFile& a, const TensorFile& b, double weights_tol, double moments_tol) {
  double worst[2] = {0, 0};
  std::string worst_name[2];
  for (const auto& [name, ta] : a.tensors) {
    if (!is_compared(name)) continue;
    ASSERT_TRUE(b.has(name)) << name;
    const std::vector<float> x = ta.to_f32(), y = b.at(name).to_f32();
    ASSERT_EQ(x.size(), y.size()) << name;
    double diff = 0, norm = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      diff += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
      norm += double(x[i]) * x[i];
    }
    ASSERT_GT(norm, 0.0) << name << " is all zeros";
    const int kind = is_moment(name) ? 1 : 0;
    if (std::sqrt(diff / norm) > worst[kind]) worst[kind] = std::sqrt(diff / norm), worst_name[kind] = name;
  }
  EXPECT_LE(worst[0], weights_tol) << worst_name[0];
  EXPECT_LE(worst[1], moments_tol) << worst_name[1];
}

// Two ranks with half the batch each against one process, for GRU and for LSTM with skip
// connections and a learned h0; and the two ranks stopped inside a batch and resumed, which
// must change nothing at all.
//
// The two sides sum the batch's gradients in different orders, so they differ by rounding.
// That is all at a learning rate of 0: the weights stay the same bytes, and the moments
// after 12 windows, averages of the gradients of the same function, agree to 5e-6 (1e-4 is
// asked). Trained, a ReLU whose input lands within rounding of zero on one side only
// switches one position's gradient, and the moments keep the difference: with these
// data the tiny GRU's moments differ by 0.4% of their norm after 12 steps, the weights by
// 0.08% (the LSTM's by 3e-7). Ranks that step on their own gradients are 25% off in the
// weights and 95% in the moments, so the trained runs are held to 1% and 3%.
TEST_F(DistributedTrain, TwoRanksWithHalfTheBatchMatchOneProcess) {
  for (const std::string& config : {std::string("tiny.config.json"), std::string("lstm.config.json")}) {
    SCOPED_TRACE(config);
    const std::string tag = config.substr(0, config.find('.'));
    const std::string flags = "--num_epochs 2 --config_file " + config + " ";
    const auto still_one = run_command(train_cmd("still-one-" + tag, flags + "--max_steps 12 --learning_rate 0"));
    ASSERT_EQ(still_one.exit_code, 0) << still_one.output;
    const auto still_two = run_command(train_cmd("still-two-" + tag, flags + "--max_steps 12 --learning_rate 0 --nproc 2"));
    ASSERT_EQ(still_two.exit_code, 0) << still_two.output;
    expect_same_weights_close_moments(load_safetensors(checkpoint_in(still_one.output)),
                                      load_safetensors(checkpoint_in(still_two.output)), 1e-4);

    const auto one = run_command(train_cmd("one-" + tag, flags + "--max_steps 12"));
    ASSERT_EQ(one.exit_code, 0) << one.output;
    const auto two = run_command(train_cmd("two-" + tag, flags + "--max_steps 12 --nproc 2"));
    ASSERT_EQ(two.exit_code, 0) << two.output;
    EXPECT_NE(two.output.find("Started 2 worker processes"), std::string::npos) << two.output;
    EXPECT_NE(two.output.find("2 processes"), std::string::npos) << two.output;
    // Rank 0 alone prints the step lines.
    const auto count = [](const std::string& s, const std::string& what) {
      std::size_t n = 0;
      for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
      return n;
    };
    EXPECT_EQ(count(two.output, "Step: 3/"), 1u) << two.output;
    const TensorFile a = load_safetensors(checkpoint_in(one.output)), b = load_safetensors(checkpoint_in(two.output));
    EXPECT_EQ(a.metadata.at("step"), "12");
    EXPECT_EQ(b.metadata.at("step"), "12");
    expect_close_norms(a, b, 1e-2, 3e-2);

    // Stopped after 7 windows of the first batch, the ranks' RNN states are gathered into
    // the checkpoint; resumed, the run ends exactly where the uninterrupted one did.
    const auto part = run_command(train_cmd("part-" + tag, flags + "--max_steps 7 --nproc 2"));
    ASSERT_EQ(part.exit_code, 0) << part.output;
    const TensorFile p = load_safetensors(checkpoint_in(part.output));
    ASSERT_TRUE(p.has("train.rnn.0.h0")) << part.output;
    EXPECT_EQ(p.at("train.rnn.0.h0").shape, (std::vector<std::int64_t>{1, 4, 32}));  // the whole batch
    const auto rest = run_command(train_cmd("part-" + tag, flags + "--max_steps 12 --nproc 2"));
    ASSERT_EQ(rest.exit_code, 0) << rest.output;
    const TensorFile c = load_safetensors(checkpoint_in(rest.output));
    for (const auto& [name, t] : b.tensors) {
      ASSERT_TRUE(c.has(name)) << name;
      EXPECT_TRUE(t.bytes == c.at(name).bytes) << name << " differs after the resume";
    }
  }
}

TEST_F(DistributedTrain, AKilledRankStopsTheLauncherAndTheSameCommandResumes) {
  const std::string cmd = train_cmd("kill", "--num_epochs 1000 --nproc 2 --dist_timeout 30");
  const fs::path log = dir_ / "train.log";
  run_command("(" + cmd + " > " + q(log) + " 2>&1; echo \"exit=$?\" >> " + q(log) + ") > /dev/null 2>&1 &");
  std::smatch m;
  std::string text;
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = test::read_file(log);
    if (text.find("Step: 20/") != std::string::npos) break;
  }
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(rank 1 pid (\d+))"))) << text;
  const std::string pid = m[1].str();  // m points into text, which is read again below
  ASSERT_NE(text.find("Step: 20/"), std::string::npos) << text;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(std::stoi(pid), SIGKILL), 0);
  for (int i = 0; i < 900 && text.find("exit=") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = test::read_file(log);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_NE(text.find("exit="), std::string::npos) << "the launcher did not stop within 90 s:\n" << text;
  EXPECT_LT(seconds, 60.0);
  // A rank that dies by a signal has no exit status of its own: the launcher reports a peer failure.
  std::smatch exit_match;
  ASSERT_TRUE(std::regex_search(text, exit_match, std::regex(R"(exit=(\d+))"))) << text;
  EXPECT_EQ(std::stoi(exit_match[1].str()), exit_code(ErrorKind::kPeer)) << text;
  EXPECT_NE(text.find("rank 1 (pid " + pid + ") was killed by signal 9"), std::string::npos) << text;

  // Rank 0 kept the steps done before the failure; the same command resumes from them.
  const fs::path kept = checkpoint_in(text);
  ASSERT_FALSE(kept.empty()) << text;
  const TrainState info = read_checkpoint_info(kept).train;
  EXPECT_GE(info.step, 20);
  EXPECT_FALSE(info.epoch_complete);
  EXPECT_EQ(info.window, 0);  // the lost rank's RNN state is gone: its batch starts again
  const auto r = run_command(train_cmd("kill", "--num_epochs 1000 --nproc 2 --max_steps " + std::to_string(info.step + 5)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Resuming from " + kept.lexically_relative(dir_.path()).string()), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("step " + std::to_string(info.step) + ")"), std::string::npos) << r.output;
  const TrainState after = read_checkpoint_info(checkpoint_in(r.output)).train;
  EXPECT_EQ(after.step, info.step + 5);
  EXPECT_EQ(after.epoch, info.epoch);
}

TEST_F(DistributedTrain, ARankThatNeverArrivesGivesAnErrorAfterTheTimeout) {
  const int port = free_local_port();
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_command("cd " + q(dir_.path()) + " && WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                             std::to_string(port) + " " + kBin +
                             " train --id lonely --data_dir chunks --config_file tiny.config.json --batch_size 4"
                             " --dist_timeout 2");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kPeer)) << r.output;
  EXPECT_NE(r.output.find("only 1 of 2 ranks arrived at 127.0.0.1:" + std::to_string(port) + " within 2 s"),
            std::string::npos)
      << r.output;
  EXPECT_LT(seconds, 30.0);
  EXPECT_FALSE(fs::exists(dir_ / "logdir" / "lonely"));  // nothing written
}

TEST_F(DistributedTrain, ATakenPortGivesAClearError) {
  // Hold a listening socket on a port, then ask the launcher to serve the rendezvous there.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  const auto r = run_command(train_cmd("taken", "--nproc 2 --dist_timeout 5 --master_port " + std::to_string(port)));
  close(fd);
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kPeer)) << r.output;
  EXPECT_NE(r.output.find("rank 0 cannot serve the rendezvous on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("the port may be taken"), std::string::npos) << r.output;
}

TEST_F(DistributedTrain, TheBatchMustSplitEvenly) {
  const auto r = run_command(train_cmd("odd", "--nproc 3"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  EXPECT_NE(r.output.find("--batch_size 4 does not split evenly over --nproc 3"), std::string::npos) << r.output;
}

TEST_F(DistributedTrain, NoGpuGivesAClearMessage) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this machine has a GPU";
  auto r = run_command(train_cmd("gpu", "--device cuda --max_steps 1"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  EXPECT_NE(r.output.find("no CUDA GPU is available"), std::string::npos) << r.output;
  r = run_command(train_cmd("gpu", "--device cpu --precision fp16 --max_steps 1"));
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  EXPECT_NE(r.output.find("fp16 needs a CUDA device"), std::string::npos) << r.output;
  r = run_command(train_cmd("gpu", "--device auto --precision bf16 --max_steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cpu, bf16"), std::string::npos) << r.output;
  const std::string gen = kBin + " generate --checkpoint_path " + q(checkpoint_in(r.output)) + " --output_path " +
                          q(dir_ / "out.wav") + " --dur 0.1 --device ";
  r = run_command(gen + "cuda:1");
  EXPECT_EQ(r.exit_code, exit_code(ErrorKind::kUsage)) << r.output;
  EXPECT_NE(r.output.find("no CUDA GPU is available"), std::string::npos) << r.output;
  r = run_command(gen + "auto");  // no GPU: the CPU engine
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"((scalar|avx2|avx512) kernels)"))) << r.output;
}

}  // namespace
}  // namespace srnn
