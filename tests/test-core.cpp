// core/: atomic files, directory helpers, parallel_for, errors.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/fs.h"
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

}  // namespace
}  // namespace srnn
