// core/: atomic files, directory helpers, parallel_for, errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fs.h"
#include "core/model-spec.h"
#include "core/clip-scores.h"
#include "core/run-layout.h"
#include "core/sparsity.h"
#include "core/threads.h"
#include "tests/test-util.h"

namespace srnn {
namespace {

namespace fs = std::filesystem;

TEST(AtomicFile, CommitReplacesTheFinalFile) {
  test::TempDir dir;
  const fs::path target = dir / "model.ckpt";
  std::ofstream(target) << "old";
  {
    AtomicFile f(target);
    EXPECT_EQ(f.temp_path().parent_path(), target.parent_path());
    std::ofstream(f.temp_path()) << "new";
    EXPECT_EQ(test::read_file(target), "old");  // untouched until commit
    f.commit(/*durable=*/true);
  }
  EXPECT_EQ(test::read_file(target), "new");
  EXPECT_EQ(test::list_names(dir.path()), std::vector<std::string>{"model.ckpt"});
}

TEST(AtomicFile, AbandonedWritesLeaveTheOldFileAndNoTemporary) {
  test::TempDir dir;
  const fs::path target = dir / "model.ckpt";
  std::ofstream(target) << "old";
  {
    AtomicFile f(target);
    std::ofstream(f.temp_path()) << "half";
  }
  EXPECT_EQ(test::read_file(target), "old");
  EXPECT_EQ(test::list_names(dir.path()), std::vector<std::string>{"model.ckpt"});
}

TEST(AtomicFile, CommitFailureIsAnIoError) {
  test::TempDir dir;
  AtomicFile f(dir / "x");  // nothing written to the temporary path
  try {
    f.commit();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
  }
}

TEST(Fs, EnsureDirectory) {
  test::TempDir dir;
  ensure_directory(dir / "a" / "b");
  EXPECT_TRUE(fs::is_directory(dir / "a" / "b"));
  ensure_directory(dir / "a" / "b");  // again: fine
  std::ofstream(dir / "file") << "x";
  EXPECT_THROW(ensure_directory(dir / "file"), Error);
}

TEST(Fs, ListFilesRecursiveIsSortedAndFiltered) {
  test::TempDir dir;
  fs::create_directories(dir / "z" / "y");
  for (const char* name : {"b.wav", "a.txt", "z/c.wav", "z/y/a.wav"}) std::ofstream(dir / name) << "x";
  const auto files = list_files_recursive(dir.path(), [](const fs::path& p) { return lower_extension(p) == "wav"; });
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], dir / "b.wav");
  EXPECT_EQ(files[1], dir / "z" / "c.wav");
  EXPECT_EQ(files[2], dir / "z" / "y" / "a.wav");
  EXPECT_THROW(list_files_recursive(dir / "missing", [](const fs::path&) { return true; }), Error);
  EXPECT_THROW(list_files_recursive(dir / "b.wav", [](const fs::path&) { return true; }), Error);
}

TEST(Fs, LowerExtension) {
  EXPECT_EQ(lower_extension("a/B.FLAC"), "flac");
  EXPECT_EQ(lower_extension("noext"), "");
}

TEST(Threads, ParallelForVisitsEveryIndexOnce) {
  for (int threads : {1, 2, 3, 8}) {
    for (std::size_t n : {0u, 1u, 2u, 17u, 1000u}) {
      std::vector<std::atomic<int>> seen(n);
      parallel_for(n, threads, [&](std::size_t i) { seen[i]++; });
      for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << "threads " << threads << " n " << n;
    }
  }
  EXPECT_GE(hardware_threads(), 1);
}

TEST(Errors, ExitCodesAreDistinctAndNonZero) {
  std::set<int> codes;
  for (ErrorKind k : {ErrorKind::kInternal, ErrorKind::kUsage, ErrorKind::kInput, ErrorKind::kConfig, ErrorKind::kIo,
                      ErrorKind::kDiverged, ErrorKind::kPeer, ErrorKind::kMemory, ErrorKind::kInterrupted}) {
    EXPECT_NE(exit_code(k), 0);
    codes.insert(exit_code(k));
  }
  EXPECT_EQ(codes.size(), 9u);
  const Error e(ErrorKind::kInput, "cannot read 'x'", "check the path");
  EXPECT_STREQ(e.what(), "cannot read 'x' (hint: check the path)");
  EXPECT_EQ(e.message(), "cannot read 'x'");
}

TEST(RunLayout, ACheckpointPathMayBeARunOrAnIdFolder) {
  test::TempDir dir;
  const fs::path id = dir / "wesnoth";
  for (const char* f : {"01.02.2026_10.00.00/model.ckpt-3", "01.02.2026_10.00.00/model.ckpt-12",
                        "03.02.2026_09.00.00/model.ckpt-2", "03.02.2026_09.00.00/model.ckpt-14"}) {
    fs::create_directories((id / f).parent_path());
    std::ofstream(id / f) << "x";
  }
  fs::create_directories(id / "05.02.2026_09.00.00");  // a newer run that wrote nothing yet
  EXPECT_EQ(resolve_checkpoint_path(id), id / "03.02.2026_09.00.00" / "model.ckpt-14");
  EXPECT_EQ(resolve_checkpoint_path(id / "01.02.2026_10.00.00"), id / "01.02.2026_10.00.00" / "model.ckpt-12");
  EXPECT_EQ(resolve_checkpoint_path(id / "x" / "model.ckpt-1"), id / "x" / "model.ckpt-1");  // a file path as given
  try {
    resolve_checkpoint_path(id / "05.02.2026_09.00.00");
    ADD_FAILURE() << "no error for a folder without checkpoints";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(e.message().find("without checkpoints"), std::string::npos);
  }
}

TEST(RunLayout, AFolderGivesItsBestScoredCheckpointAndResumingItsLatest) {
  test::TempDir dir;
  const fs::path id = dir / "album", a = id / "01.02.2026_10.00.00", b = id / "03.02.2026_09.00.00";
  for (const fs::path& f : {a / "model.ckpt-1", a / "model.ckpt-2", b / "model.ckpt-3", b / "model.ckpt-4"}) {
    fs::create_directories(f.parent_path());
    std::ofstream(f) << "x";
  }
  // No scores: the latest, as before.
  EXPECT_EQ(resolve_checkpoint_path(id), b / "model.ckpt-4");
  record_clip_score(a, "model.ckpt-2", {{"score", 0.9}, {"step", 200}});
  record_clip_score(b, "model.ckpt-3", {{"score", 0.5}, {"step", 300}});
  record_clip_score(b, "model.ckpt-4", {{"score", 0.2}, {"step", 400}});
  EXPECT_EQ(resolve_checkpoint_path(id), a / "model.ckpt-2");  // the best across the id's runs
  EXPECT_EQ(resolve_checkpoint_path(b), b / "model.ckpt-3");   // the best of one run
  EXPECT_EQ(latest_checkpoint_path(id), b / "model.ckpt-4");   // what a resumed run continues
  EXPECT_EQ(latest_checkpoint_path(b), b / "model.ckpt-4");
  const auto ranked = scored_checkpoints(id);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[1].path, b / "model.ckpt-3");
  // A scored checkpoint that was deleted is passed over.
  fs::remove(a / "model.ckpt-2");
  EXPECT_EQ(resolve_checkpoint_path(id), b / "model.ckpt-3");
  // An entry is replaced, not added.
  record_clip_score(b, "model.ckpt-4", {{"score", 0.7}, {"step", 400}});
  EXPECT_EQ(resolve_checkpoint_path(id), b / "model.ckpt-4");
  EXPECT_EQ(read_clip_scores(b).size(), 2u);
  // A damaged scores file is named, with the way out.
  std::ofstream(b / kClipScoresFile) << "{\"model.ckpt-4\": {\"step\": 1}}";
  try {
    resolve_checkpoint_path(id);
    ADD_FAILURE() << "no error for a damaged scores file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInput);
    EXPECT_NE(e.message().find(kClipScoresFile), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("samplernn rank"), std::string::npos) << e.what();
  }
  // So is a file that is not JSON at all (a write cut short by another program).
  std::ofstream(b / kClipScoresFile) << "{\"model.ckpt-4\": {\"sco";
  EXPECT_THROW(read_clip_scores(b), Error);
  // A file path is as given, whatever the scores say.
  EXPECT_EQ(resolve_checkpoint_path(b / "model.ckpt-3"), b / "model.ckpt-3");
}

TEST(RunLayout, AnEpochNumberTooLongForAnIntIsNotACheckpointName) {
  test::TempDir dir;
  fs::create_directories(dir / "run");
  std::ofstream(dir / "run" / "model.ckpt-99999999999") << "x";
  std::ofstream(dir / "run" / "model.ckpt-7") << "x";
  const auto found = checkpoints_in(dir / "run");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].first, 7);
}

TEST(Fs, StaleTemporaryFilesOfDeadProcessesAreRemoved) {
  test::TempDir dir;
  // pid 999999999 cannot exist (Linux pids stay below 2^22); this process's own are kept.
  const std::string mine = "b.wav.tmp-" + std::to_string(getpid()) + "-0";
  for (const std::string& name : {std::string("a.wav.tmp-999999999-3"), mine, std::string("c.wav"),
                                  std::string("d.tmp-notapid-1")}) {
    std::ofstream(dir / name) << "x";
  }
  EXPECT_EQ(remove_stale_temp_files(dir.path()), 1);
  EXPECT_EQ(test::list_names(dir.path()), (std::vector<std::string>{mine, "c.wav", "d.tmp-notapid-1"}));
  EXPECT_EQ(remove_stale_temp_files(dir / "missing"), 0);
}

TEST(Fs, ADirectoryLockIsExclusiveAndNamesItsHolder) {
  test::TempDir dir;
  {
    const DirectoryLock held(dir / "id", "training id 'x'");
    // A second lock (here from this process, through another open file) is refused.
    try {
      const DirectoryLock second(dir / "id", "training id 'x'");
      FAIL() << "a second lock was granted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      EXPECT_NE(e.message().find("training id 'x' is in use by another samplernn process (pid " +
                                 std::to_string(getpid()) + ")"),
                std::string::npos)
          << e.what();
    }
  }
  const DirectoryLock again(dir / "id", "training id 'x'");  // released with the first
}

}  // namespace
}  // namespace srnn

namespace srnn {
namespace {

TEST(Sparsity, CubicScheduleRisesFastThenFlattens) {
  EXPECT_EQ(cubic_sparsity(0.9, 0, 100, 1100), 0.0);
  EXPECT_EQ(cubic_sparsity(0.9, 99, 100, 1100), 0.0);
  EXPECT_EQ(cubic_sparsity(0.9, 100, 100, 1100), 0.0);
  EXPECT_NEAR(cubic_sparsity(0.9, 600, 100, 1100), 0.9 * (1 - 0.125), 1e-12);  // halfway: 7/8 of the way
  EXPECT_EQ(cubic_sparsity(0.9, 1100, 100, 1100), 0.9);
  EXPECT_EQ(cubic_sparsity(0.9, 5000, 100, 1100), 0.9);
  double last = 0;
  for (int step = 100; step <= 1100; step += 50) {
    const double s = cubic_sparsity(0.8, step, 100, 1100);
    EXPECT_GE(s, last);
    last = s;
  }
}

TEST(Sparsity, BlockShapesParseAndBadOnesAreUsageErrors) {
  const BlockShape b = parse_block_shape("8x4");
  EXPECT_EQ(b.out, 8);
  EXPECT_EQ(b.in, 4);
  EXPECT_EQ(block_shape_name(parse_block_shape("16x1")), "16x1");
  for (const char* bad : {"", "x", "16", "16x", "x4", "0x4", "16x0", "300x4", "-1x4", "4x4x4", "1e3x4", "16 x 4"}) {
    EXPECT_THROW(parse_block_shape(bad), Error) << bad;
  }
}

TEST(Sparsity, MaskZeroesTheWeakestBlocksAndKeepsTheDiagonal) {
  // 8 x 8 weight, 4x4 blocks: four blocks with norms in a known order.
  const int rows = 8, cols = 8;
  std::vector<float> w(rows * cols);
  const float level[2][2] = {{4, 1}, {3, 2}};
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) w[r * cols + c] = level[r / 4][c / 4];
  }
  const auto mask = block_mask(w.data(), rows, cols, {4, 4}, 0.5);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) EXPECT_EQ(mask[r * cols + c], level[r / 4][c / 4] >= 3 ? 1 : 0) << r << "," << c;
  }
  // Stored transposed, a 4 (out) x 2 (in) block covers 2 rows and 4 columns.
  const auto t = block_mask(w.data(), rows, cols, {4, 2}, 0.5, /*transposed=*/true);
  EXPECT_EQ(std::count(t.begin(), t.end(), 1), rows * cols / 2);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) EXPECT_EQ(t[r * cols + c], level[r / 4][c / 4] >= 3 ? 1 : 0);
  }
  // A recurrent weight of two gates (16 x 8): everything pruned but each gate's diagonal.
  std::vector<float> rec(16 * 8, 1.0f);
  const auto d = block_mask(rec.data(), 16, 8, {4, 4}, 1.0, false, /*keep_diagonal=*/true);
  for (int r = 0; r < 16; ++r) {
    for (int c = 0; c < 8; ++c) EXPECT_EQ(d[r * 8 + c], r % 8 == c ? 1 : 0);
  }
  // Zero sparsity keeps all; edge blocks (10 x 6 with 4x4 blocks) are counted whole.
  std::vector<float> odd(10 * 6, 0.5f);
  const auto all = block_mask(odd.data(), 10, 6, {4, 4}, 0.0);
  EXPECT_EQ(std::count(all.begin(), all.end(), 1), 60);
  const auto half = block_mask(odd.data(), 10, 6, {4, 4}, 0.5);  // 6 blocks, 3 zeroed
  EXPECT_LT(std::count(half.begin(), half.end(), 1), 60);
}

TEST(ModelSpec, FrameInputsConditioningAndPriming) {
  const FrameInputScale s = frame_input_scale(256);
  EXPECT_FLOAT_EQ(frame_input(0, s), -2.0f);
  EXPECT_FLOAT_EQ(frame_input(128, s), 0.0f);
  EXPECT_FLOAT_EQ(frame_input(255, s), 2.0f - 4.0f / 256);
  // The original scaling, (level / (q / 2) - 1) * 2, for a q that is no power of two.
  for (int level : {0, 3, 50, 99}) EXPECT_NEAR(frame_input(level, frame_input_scale(100)), (level / 50.0 - 1) * 2, 1e-6);
  // A tier of frame 4 under one of ratio 4 (frame 16): samples 16..31 step it with vectors 0..3.
  EXPECT_EQ(conditioning_index(16, 4, 4), 0);
  EXPECT_EQ(conditioning_index(28, 4, 4), 3);
  EXPECT_EQ(conditioning_index(32, 4, 4), 0);
  EXPECT_EQ(conditioning_index(21, 1, 4), 1);  // the sample tier: t mod F_1
  EXPECT_EQ(primed_length(0, 64), 64);
  EXPECT_EQ(primed_length(63, 64), 64);
  EXPECT_EQ(primed_length(64, 64), 64);
  EXPECT_EQ(primed_length(200, 64), 192);
}

TEST(ModelSpec, ConvTableIsTheEmbeddingTimesTheConvolution) {
  const int q = 5, emb = 3, F1 = 2, dim = 4;
  std::vector<float> E(q * emb), W(emb * F1 * dim);
  for (std::size_t i = 0; i < E.size(); ++i) E[i] = 0.1f * static_cast<float>(i % 7) - 0.3f;
  for (std::size_t i = 0; i < W.size(); ++i) W[i] = 0.05f * static_cast<float>(i % 5) - 0.1f;
  const std::vector<float> t = conv_table(E.data(), W.data(), q, emb, F1, dim);
  ASSERT_EQ(t.size(), static_cast<std::size_t>(q * F1 * dim));
  for (int level = 0; level < q; ++level) {
    for (int j = 0; j < F1; ++j) {
      for (int d = 0; d < dim; ++d) {
        double want = 0;
        for (int e = 0; e < emb; ++e) want += double(E[level * emb + e]) * W[(e * F1 + j) * dim + d];
        EXPECT_NEAR(t[conv_table_row(level, j, F1) * dim + d], want, 1e-6);
      }
    }
  }
}

TEST(ModelSpec, WeightNormFoldAndInt8Quantisation) {
  std::vector<float> v = {3, 4, 0, 0, 1, 0};  // (2, 3)
  const float g[2] = {10, 2};
  fold_weight_norm(v.data(), g, 2, 3);
  EXPECT_EQ(v, (std::vector<float>{6, 8, 0, 0, 2, 0}));
  // One routine, two layouts: (out, in) by rows and (in, out) by columns give the same.
  const int outs = 3, ins = 4;
  std::vector<float> w(outs * ins), wt(outs * ins);
  for (int o = 0; o < outs; ++o) {
    for (int i = 0; i < ins; ++i) w[o * ins + i] = wt[i * outs + o] = (o == 2) ? 0.0f : 0.37f * (i - 1.5f) * (o + 1);
  }
  std::vector<std::int8_t> q(w.size()), qt(w.size());
  std::vector<float> scale(outs), scale_t(outs);
  quantise_int8(w.data(), outs, ins, ins, 1, q.data(), scale.data());
  quantise_int8(wt.data(), outs, ins, 1, outs, qt.data(), scale_t.data());
  EXPECT_EQ(scale, scale_t);
  for (int o = 0; o < outs; ++o) {
    for (int i = 0; i < ins; ++i) {
      EXPECT_EQ(q[o * ins + i], qt[i * outs + o]);
      EXPECT_LE(std::fabs(q[o * ins + i] * scale[o] - w[o * ins + i]), scale[o] / 2 + 1e-7f);
    }
  }
  EXPECT_FLOAT_EQ(scale[0], 0.37f * 1.5f / 127);
  EXPECT_EQ(scale[2], 0.0f);  // an all-zero output stays zero
  EXPECT_EQ(*std::max_element(q.begin(), q.end()), 127);
}

TEST(ModelSpec, WeightMatricesRolesMasksAndFormats) {
  ModelConfig c;
  c.dim = 8;
  c.frame_sizes = {4, 16};
  c.num_rnn_layers = 2;
  c.skip_conn = true;
  c.weight_norm = true;
  const auto all = weight_matrices(c);
  // Per tier: input, 2 x (ih, hh, skip), upsample; then hidden1, hidden2, output.
  ASSERT_EQ(all.size(), 2u * 8 + 3);
  EXPECT_EQ(all[0].name, "tiers.0.input.weight_v");
  EXPECT_EQ(all[1].cols, 2 * c.dim);  // concat(x, x) into the first layer
  EXPECT_EQ(all[1].rows, 3 * c.dim);
  EXPECT_TRUE(all[2].keep_diagonal);
  EXPECT_EQ(all[7].name, "tiers.0.upsample.weight");
  EXPECT_TRUE(all[7].transposed);
  EXPECT_EQ(all[7].outputs(), 4 * c.dim);
  EXPECT_EQ(scale_shape(all[7], {8, 4, 8}), (std::vector<std::int64_t>{4, 8}));
  EXPECT_EQ(scale_shape(all[2], {24, 8}), (std::vector<std::int64_t>{24, 1}));
  EXPECT_EQ(all.back().name, "sample.output.weight_v");
  EXPECT_EQ(prunable_weights(c, false).size(), 2u * 5);
  EXPECT_EQ(prunable_weights(c, true).size(), 2u * 5 + 2);
  const auto int8 = int8_matrices(c);  // all but the two frame inputs
  ASSERT_EQ(int8.size(), all.size() - 2);
  for (const WeightMatrix& m : int8) EXPECT_NE(m.part, MatrixPart::kFrameInput) << m.name;
  for (const WeightMatrix& m : all) {
    EXPECT_EQ(weight_shapes(c).count(m.name), 1u) << m.name;
    EXPECT_EQ(masked_weight_name(mask_tensor_name(m.name)), m.name);
  }
  EXPECT_EQ(masked_weight_name("optim.tiers.0.h0.exp_avg"), "");
  EXPECT_EQ(stored_format(MatrixPart::kFrameInput, WeightFormat::kInt8), WeightFormat::kBf16);
  EXPECT_EQ(stored_format(MatrixPart::kFrameInput, WeightFormat::kF32), WeightFormat::kF32);
  EXPECT_EQ(stored_format(MatrixPart::kUpsample, WeightFormat::kInt8), WeightFormat::kInt8);
  EXPECT_EQ(parse_weight_format("int8"), WeightFormat::kInt8);
  EXPECT_THROW(parse_weight_format("int4"), Error);
}

}  // namespace
}  // namespace srnn
