// Results storage: shard writer round trips, resume, journal ordering and crash behaviour,
// damaged shards, and merging shards into results.h5.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "framework/common/error.h"
#include "framework/io/hdf5.h"
#include "framework/io/journal.h"
#include "framework/io/merge.h"
#include "framework/io/results.h"
#include "framework/io/results_reader.h"
#include "framework/io/shard_writer.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

ResultsMeta test_meta() {
  ResultsMeta meta;
  meta.provenance = {{"config", "model: toy\nexplainers: [atman]\n"},
                     {"git_commit", "abc123"},
                     {"world_size", "1"}};
  ExplainerInfo atman;
  atman.parameters_json = R"({"factor":0.1,"kappa":0.7})";
  atman.metrics["deletion_auc"] = {false, "area under the deletion curve"};
  atman.metrics["evidence_auc"] = {true, "ROC AUC of relevance against evidence"};
  ExplainerInfo flat;
  flat.parameters_json = R"({"factor":0.1})";
  flat.metrics["deletion_auc"] = {false, "area under the deletion curve"};
  meta.explainers = {{"atman", atman}, {"atman_flat", flat}};
  return meta;
}

// A deterministic record: T and all values follow from (model, id); `explainers` succeed.
SampleRecord make_record(const std::string& model, const std::string& id, int t,
                         const std::vector<std::string>& explainers = {"atman", "atman_flat"},
                         bool evidence = true) {
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>()(model + "/" + id)));
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  SampleRecord r;
  r.model = model;
  r.sample_id = id;
  r.prompt = "prompt of " + id;
  r.target = " target " + id;
  r.prompt_len = t / 2;
  for (int i = 0; i < t; ++i) {
    r.tokens.push_back(static_cast<int64_t>(rng() % 50000));
    r.token_offsets.push_back({i * 3, i * 3 + 2});
    r.explain_mask.push_back(i < t / 2 ? 1 : 0);
    if (evidence) r.evidence.push_back(i % 3 == 0 ? 1.f : 0.f);
  }
  for (const std::string& name : explainers) {
    ExplanationRecord x;
    x.n_targets = 1 + static_cast<int64_t>(rng() % 3);
    for (int i = 0; i < t; ++i) x.relevance.push_back(std::abs(u(rng)));
    for (int64_t i = 0; i < x.n_targets * t; ++i) x.per_target.push_back(u(rng));
    x.metrics["deletion_auc"] = u(rng);
    if (evidence && name == "atman") x.metrics["evidence_auc"] = u(rng);
    x.cost["seconds"] = 0.5 + u(rng);
    x.cost["forward_passes"] = t + 1;
    if (name == "atman") {  // extras as integrated_gradients and attattr return them
      ExtraArray delta{{x.n_targets}, {}};
      for (int64_t k = 0; k < x.n_targets; ++k) delta.values.push_back(1e-3f * u(rng));
      x.extras["convergence_delta"] = delta;
      if (rng() % 2 == 0) {  // only on some rows, so some shards lack it
        ExtraArray heads{{2, 3}, {}};
        for (int k = 0; k < 6; ++k) heads.values.push_back(std::abs(u(rng)));
        x.extras["head_importance"] = heads;
      }
    }
    r.explanations[name] = std::move(x);
  }
  return r;
}

std::vector<SampleRecord> sorted_by_id(std::vector<SampleRecord> v) {
  std::stable_sort(v.begin(), v.end(), [](const SampleRecord& a, const SampleRecord& b) {
    return a.sample_id < b.sample_id;
  });
  return v;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::string text = test::read_file(path), line;
  for (char c : text) {
    if (c == '\n') {
      lines.push_back(line);
      line.clear();
    } else {
      line += c;
    }
  }
  return lines;
}

std::set<SampleKey> keys_of(const std::vector<SampleRecord>& v) {
  std::set<SampleKey> keys;
  for (const SampleRecord& r : v) keys.insert({r.model, r.sample_id});
  return keys;
}

// ---- writer and reader ------------------------------------------------------------------------

TEST(Results, RoundTripOfModelsExplainersAndRaggedSamples) {
  TempDir out;
  std::vector<SampleRecord> gpt2 = {make_record("toy_gpt2", "s-003", 7),
                                    make_record("toy_gpt2", "s-001", 1),
                                    make_record("toy_gpt2", "s-002", 12, {"atman", "atman_flat"},
                                                /*evidence=*/false),
                                    make_record("toy_gpt2", "s-004", 0)};
  // atman failed on s-005: only atman_flat succeeded.
  gpt2.push_back(make_record("toy_gpt2", "s-005", 9, {"atman_flat"}));
  std::vector<SampleRecord> llama = {make_record("toy_llama", "s-001", 5, {"atman"})};
  const std::vector<Failure> failures = {
      {"toy_gpt2", "s-005", "atman", "out of memory"},
      {"toy_llama", "s-009", "", "prompt too long: 4097 > 4096"}};
  {
    ShardWriter w(out.path(), 0, test_meta());
    for (const auto& r : gpt2) w.add(r);
    w.flush();
    for (const auto& r : llama) w.add(r);
    for (const auto& f : failures) w.add_failure(f);
    w.close();
  }
  ResultsReader reader(shard_path(out.path(), 0));
  EXPECT_EQ(reader.schema_version(), kResultsSchemaVersion);
  EXPECT_EQ(reader.kind(), "shard");
  EXPECT_EQ(reader.models(), (std::vector<std::string>{"toy_gpt2", "toy_llama"}));
  EXPECT_EQ(reader.records("toy_gpt2"), gpt2);
  EXPECT_EQ(reader.records("toy_llama"), llama);
  EXPECT_EQ(reader.failures(), failures);

  // Column view: atman has no row for s-005; its evidence metric is NaN where there is no evidence.
  EXPECT_EQ(reader.sample_ids("toy_gpt2"),
            (std::vector<std::string>{"s-003", "s-001", "s-002", "s-004", "s-005"}));
  ExplainerTable atman = reader.explainer("toy_gpt2", "atman");
  EXPECT_EQ(atman.sample, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(atman.relevance.row_size(3), 0);
  EXPECT_TRUE(std::isnan(atman.metrics.at("evidence_auc")[2]));
  EXPECT_EQ(atman.metrics.at("deletion_auc")[0],
            gpt2[0].explanations["atman"].metrics["deletion_auc"]);
  EXPECT_EQ(atman.cost.at("forward_passes"), (std::vector<double>{8, 2, 13, 1}));
  ExplainerTable flat = reader.explainer("toy_gpt2", "atman_flat");
  EXPECT_EQ(flat.sample, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // Declared explainers exist for every model, even with no rows.
  EXPECT_EQ(reader.explainers("toy_llama"), (std::vector<std::string>{"atman", "atman_flat"}));
  EXPECT_EQ(reader.explainer("toy_llama", "atman_flat").rows(), 0u);
  SampleTable samples = reader.samples("toy_gpt2");
  EXPECT_EQ(samples.evidence.row_size(2), 0);
  EXPECT_EQ(samples.token_offsets.row(0)[1], 2);
  EXPECT_EQ(samples.prompts[1], "prompt of s-001");
}

TEST(Results, AttributesRoundTrip) {
  TempDir out;
  ResultsMeta meta = test_meta();
  meta.provenance["config"] = std::string(100 * 1024, 'c');  // a long config
  {
    ShardWriter w(out.path(), 3, meta);
    w.add(make_record("m", "a", 4));
    w.close();
  }
  ResultsReader reader(shard_path(out.path(), 3));
  EXPECT_EQ(reader.provenance(), meta.provenance);
  ExplainerInfo info = reader.explainer_info("m", "atman");
  EXPECT_EQ(info, meta.explainers["atman"]);
  EXPECT_EQ(reader.explainer_info("m", "atman_flat"), meta.explainers["atman_flat"]);
  h5::File f = h5::File::open(shard_path(out.path(), 3), h5::Access::kReadOnly);
  EXPECT_EQ(f.root().int_attr("schema_version"), 1);
  EXPECT_EQ(f.root().int_attr("xai_rank"), 3);
}

TEST(Results, ReservedProvenanceKeysAreRejected) {
  TempDir out;
  ResultsMeta meta = test_meta();
  meta.provenance["schema_version"] = "2";
  expect_error([&] { ShardWriter w(out.path(), 0, meta); }, {"schema_version", "reserved"});
}

TEST(Results, ReopeningAShardAppendsAndReplacesProvenance) {
  TempDir out;
  std::vector<SampleRecord> all;
  for (int i = 0; i < 5; ++i) all.push_back(make_record("m", "id" + std::to_string(i), 3 + i));
  {
    ShardWriter w(out.path(), 1, test_meta());
    for (int i = 0; i < 3; ++i) w.add(all[static_cast<size_t>(i)]);
    w.close();
  }
  ResultsMeta meta2 = test_meta();
  meta2.provenance["git_commit"] = "def456";
  meta2.provenance.erase("world_size");
  {
    ShardWriter w(out.path(), 1, meta2);
    for (int i = 3; i < 5; ++i) w.add(all[static_cast<size_t>(i)]);
    w.close();
  }
  ResultsReader reader(shard_path(out.path(), 1));
  EXPECT_EQ(reader.records("m"), all);
  EXPECT_EQ(reader.provenance(), meta2.provenance);
  EXPECT_EQ(read_lines(journal_path(out.path(), 1)).size(), 5u);
  EXPECT_EQ(read_journal(out.path()), keys_of(all));
}

TEST(Results, ResumingWithOtherExplainerParametersIsAnError) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "a", 3));
    w.close();
  }
  ResultsMeta meta = test_meta();
  meta.explainers["atman"].parameters_json = R"({"factor":0.5})";
  expect_error([&] { ShardWriter w(out.path(), 0, meta); },
               {"rank-00000.h5", "'atman'", "factor\":0.5", "HINT"});
}

TEST(Results, InvalidRecordsAreRejectedNamingTheSample) {
  TempDir out;
  ShardWriter w(out.path(), 0, test_meta());
  SampleRecord r = make_record("m", "bad", 4);
  r.explanations["atman"].relevance.pop_back();
  expect_error([&] { w.add(r); }, {"model 'm'", "sample 'bad'", "'atman'", "relevance"});
  r = make_record("m", "bad", 4);
  r.explanations["atman"].n_targets = 7;
  expect_error([&] { w.add(r); }, {"per_target", "n_targets (7)"});
  r = make_record("m", "bad", 4);
  r.evidence.resize(2);
  expect_error([&] { w.add(r); }, {"evidence", "expected 4 or none"});
  r = make_record("a/b", "bad", 4);
  expect_error([&] { w.add(r); }, {"model name 'a/b'"});
  r = make_record("m", "bad", 4);
  r.explanations["atman"].extras["convergence_delta"].shape = {5};
  expect_error([&] { w.add(r); }, {"sample 'bad'", "extra 'convergence_delta'", "5 elements"});
  r = make_record("m", "bad", 4);
  r.explanations["atman"].extras["a/b"] = {{}, {1.f}};
  expect_error([&] { w.add(r); }, {"extra name 'a/b'"});
  EXPECT_EQ(w.pending(), 0);
}

TEST(Results, CompressionIsOn) {
  TempDir out;
  int64_t raw = 0;
  {
    ShardWriter w(out.path(), 0, test_meta());
    for (int i = 0; i < 200; ++i) {
      SampleRecord r = make_record("m", "id" + std::to_string(i), 512);
      for (auto& kv : r.explanations) {  // repetitive data, as from a smooth relevance map
        std::fill(kv.second.relevance.begin(), kv.second.relevance.end(), 0.25f);
        std::fill(kv.second.per_target.begin(), kv.second.per_target.end(), -1.5f);
        raw += static_cast<int64_t>(4 * (kv.second.relevance.size() + kv.second.per_target.size()));
      }
      std::fill(r.tokens.begin(), r.tokens.end(), 42);
      raw += static_cast<int64_t>(r.tokens.size() * (8 + 16 + 1 + 4));
      w.add(std::move(r));
      if (i % 50 == 49) w.flush();
    }
    w.close();
  }
  const auto size = static_cast<int64_t>(fs::file_size(shard_path(out.path(), 0)));
  EXPECT_LT(size * 10, raw) << "shard " << size << " bytes for " << raw << " raw bytes";
  MergeSummary s = merge_shards(out.path());
  EXPECT_LT(static_cast<int64_t>(fs::file_size(s.output)) * 10, raw);
  h5::File f = h5::File::open(s.output, h5::Access::kReadOnly);
  for (const char* path :
       {"models/m/explainers/atman/relevance/values", "models/m/samples/tokens/values",
        "models/m/explainers/atman/metrics/deletion_auc",
        "models/m/explainers/atman/extras/convergence_delta/values",
        "models/m/explainers/atman/extras/convergence_delta/shape/values"}) {
    EXPECT_EQ(f.root().open_dataset(path).filters(),
              (std::vector<H5Z_filter_t>{H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE}))
        << path;
  }
}

TEST(Results, FlushPolicyFlushesByCountAndByTime) {
  using Clock = FlushPolicy::Clock;
  const Clock::time_point t0 = Clock::now();
  FlushPolicy count(3, 0);
  EXPECT_FALSE(count.due(2, t0 + std::chrono::hours(1)));
  EXPECT_TRUE(count.due(3, t0));
  FlushPolicy timed(0, 10.0);
  timed.flushed(t0);
  EXPECT_FALSE(timed.due(1, t0 + std::chrono::seconds(9)));
  EXPECT_TRUE(timed.due(1, t0 + std::chrono::seconds(10)));
  EXPECT_FALSE(timed.due(0, t0 + std::chrono::seconds(60)));

  TempDir out;
  ShardWriter w(out.path(), 0, test_meta(), FlushPolicy(2, 0));
  w.add(make_record("m", "a", 3));
  EXPECT_EQ(w.pending(), 1);
  w.add(make_record("m", "b", 3));
  EXPECT_EQ(w.pending(), 0);
  EXPECT_EQ(read_lines(w.journal()), (std::vector<std::string>{"m\ta", "m\tb"}));
}

TEST(Results, ReaderErrorsNameTheFileAndWhatIsMissing) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("toy_gpt2", "a", 3));
    w.close();
  }
  ResultsReader reader(shard_path(out.path(), 0));
  expect_error([&] { reader.records("nope"); }, {"no model 'nope'", "rank-00000.h5", "toy_gpt2"});
  expect_error([&] { reader.explainer("toy_gpt2", "ig"); }, {"no explainer 'ig'", "toy_gpt2"});
  {
    h5::File f = h5::File::create(out.file("plain.h5"));
    f.close();
  }
  expect_error([&] { ResultsReader r(out.file("plain.h5")); },
               {"plain.h5", "not an xai results file"});
}

// ---- journal, crashes, damaged shards -----------------------------------------------------------

TEST(Journal, ListsExactlyTheFlushedSamplesWhenTheWriterDiesBeforeFlushing) {
  TempDir out;
  std::vector<SampleRecord> flushed = {make_record("m", "a", 3), make_record("m", "b", 4),
                                       make_record("n", "a", 2)};
  {
    ShardWriter w(out.path(), 2, test_meta(), FlushPolicy(0, 0));
    for (const auto& r : flushed) w.add(r);
    w.flush();
    w.add(make_record("m", "c", 5));
    w.add(make_record("m", "d", 5));
    EXPECT_EQ(w.pending(), 2);
  }  // destroyed without close(): c and d are lost, as in a crash
  EXPECT_EQ(read_lines(journal_path(out.path(), 2)),
            (std::vector<std::string>{"m\ta", "m\tb", "n\ta"}));
  EXPECT_EQ(verify_shard(shard_path(out.path(), 2)), keys_of(flushed));
  EXPECT_EQ(read_journal(out.path()), keys_of(flushed));
}

TEST(Journal, AKilledProcessLeavesAReadableShardThatMatchesItsJournal) {
  TempDir out;
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // Child: flush three samples, buffer two more, die without closing anything.
    try {
      ShardWriter w(out.path(), 0, test_meta(), FlushPolicy(0, 0));
      w.add(make_record("m", "a", 30));
      w.add(make_record("m", "b", 40));
      w.flush();
      w.add(make_record("m", "c", 50));
      w.flush();
      w.add(make_record("m", "d", 60));
      w.add(make_record("m", "e", 70));
      std::_Exit(7);
    } catch (...) {
      std::_Exit(1);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 7);
  const std::set<SampleKey> done = {{"m", "a"}, {"m", "b"}, {"m", "c"}};
  EXPECT_EQ(verify_shard(shard_path(out.path(), 0), /*deep=*/true), done);
  EXPECT_EQ(read_journal(out.path()), done);
  // The shard can be resumed and merged.
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "d", 60));
    w.close();
  }
  EXPECT_EQ(merge_shards(out.path()).samples, 4);
}

TEST(Journal, AShardOpenForWritingIsBusyAndNeverQuarantined) {
  TempDir out;
  int ready[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char c = 0;
    try {
      ShardWriter w(out.path(), 0, test_meta(), FlushPolicy(0, 0));
      w.add(make_record("m", "a", 3));
      w.flush();
      if (write(ready[1], "r", 1) != 1) std::_Exit(2);
      if (read(done[0], &c, 1) != 1) std::_Exit(3);
      w.close();
    } catch (...) {
      std::_Exit(1);
    }
    std::_Exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  const std::string shard = shard_path(out.path(), 0);
  EXPECT_THROW(verify_shard(shard), ShardBusyError);
  EXPECT_THROW(scan_shards(out.path(), /*quarantine_corrupt=*/true), ShardBusyError);
  EXPECT_TRUE(fs::exists(shard));
  ASSERT_EQ(write(done[1], "d", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(read_journal(out.path()), (std::set<SampleKey>{{"m", "a"}}));
  for (int fd : {ready[0], ready[1], done[0], done[1]}) close(fd);
}

TEST(Journal, KeysTheShardLacksDoNotCountAndShardOnlySamplesAreNotFinished) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "a", 3));
    w.add(make_record("m", "b", 3));
    w.close();
  }
  // A journal line for a sample the shard does not hold (e.g. the shard lost its tail).
  test::write_file(journal_path(out.path(), 0), "m\ta\nm\tghost\n");
  // A journal with no shard at all.
  test::write_file(journal_path(out.path(), 4), "m\tz\n");
  ShardScan scan = scan_shards(out.path());
  EXPECT_EQ(scan.finished, (std::set<SampleKey>{{"m", "a"}}));  // b: in the shard, not journaled
  EXPECT_EQ(scan.journal_keys, 3);
  EXPECT_EQ(scan.ignored_keys, 2);
}

TEST(Journal, EscapesTabsNewlinesAndBackslashesInIds) {
  TempDir out;
  const std::string odd = "q\t1\nline\\2\r";
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", odd, 2));
    w.close();
  }
  EXPECT_EQ(read_lines(journal_path(out.path(), 0)),
            std::vector<std::string>{"m\tq\\t1\\nline\\\\2\\r"});
  EXPECT_EQ(read_journal(out.path()), (std::set<SampleKey>{{"m", odd}}));
  EXPECT_EQ(parse_journal(journal_path(out.path(), 0)), (std::vector<SampleKey>{{"m", odd}}));
}

TEST(Journal, AHalfWrittenLastLineIsIgnoredAndTrimmedOnResume) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "a", 3));
    w.close();
  }
  const std::string journal = journal_path(out.path(), 0);
  test::write_file(journal, test::read_file(journal) + "m\tb");  // no '\n': never completed
  EXPECT_EQ(parse_journal(journal), (std::vector<SampleKey>{{"m", "a"}}));
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "c", 3));
    w.close();
  }
  EXPECT_EQ(read_lines(journal), (std::vector<std::string>{"m\ta", "m\tc"}));
}

TEST(Journal, AMalformedLineIsAnErrorNamingTheJournal) {
  TempDir out;
  fs::create_directories(shards_dir(out.path()));
  test::write_file(journal_path(out.path(), 0), "m\ta\nno tab here\n");
  expect_error([&] { read_journal(out.path()); }, {"rank-00000.journal", "line 2"});
}

// A damaged journal line used to set the whole shard aside on resume, throwing away every good
// sample in it. Now only that line is dropped (the journal is written again without it).
TEST(Journal, ADamagedLineIsDroppedOnResumeAndTheOtherSamplesStayFinished) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    for (const char* id : {"a", "b", "c", "d"}) w.add(make_record("m", id, 3));
    w.close();
  }
  const std::string journal = journal_path(out.path(), 0);
  std::vector<std::string> lines = read_lines(journal);
  ASSERT_EQ(lines.size(), 4u);
  lines[1] = "m\\qbroken\tline\twith\ttabs";  // damaged: not model<TAB>id
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  test::write_file(journal, text);
  expect_error([&] { read_journal(out.path()); }, {"rank-00000.journal", "line 2", "--resume"});
  const ShardScan scan = scan_shards(out.path(), /*quarantine_corrupt=*/true);
  EXPECT_TRUE(scan.quarantined.empty());
  EXPECT_EQ(scan.finished, (std::set<SampleKey>{{"m", "a"}, {"m", "c"}, {"m", "d"}}));
  ASSERT_EQ(scan.dropped_lines.size(), 1u);
  EXPECT_NE(scan.dropped_lines[0].find("damaged line(s) 2 dropped; the 3 other finished samples "
                                       "are kept"),
            std::string::npos)
      << scan.dropped_lines[0];
  EXPECT_EQ(scan.dropped_lines[0].find("quarantine"), std::string::npos);
  EXPECT_TRUE(fs::exists(shard_path(out.path(), 0)));
  // The journal was repaired: a strict read passes and says the same.
  EXPECT_EQ(read_journal(out.path()), scan.finished);
  EXPECT_EQ(read_lines(journal).size(), 3u);
}

// A flush cut short by a full disk or a crash left some datasets longer than others; resume used
// to set the whole shard aside. Now it is cut back to the rows its journal lists.
TEST(Journal, AShardWhoseLastFlushWasCutShortIsRepairedToItsJournal) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta(), FlushPolicy(0, 0));
    w.add(make_record("m", "a", 3));
    w.add(make_record("m", "b", 4));
    w.flush();
    w.add_failure({"m", "gone", "", "too long"});
    w.add(make_record("m", "c", 5));
    w.close();
  }
  const std::string shard = shard_path(out.path(), 0);
  // What a failed flush leaves: the next sample's id and tokens, and a failure's first column,
  // but not the rest.
  {
    h5::File f = h5::File::open(shard, h5::Access::kReadWrite);
    h5::Group samples = f.root().open_group("models/m/samples");
    const std::vector<uint8_t> id = {'d'};
    samples.open_dataset("id/bytes").append(id);
    samples.open_dataset("id/offsets").append(std::vector<int64_t>{4});
    samples.open_dataset("tokens/values").append(std::vector<int64_t>{1, 2});
    samples.open_dataset("tokens/offsets").append(std::vector<int64_t>{14});
    h5::Group failures = f.root().open_group("failures");
    failures.open_dataset("model/bytes").append(std::vector<uint8_t>{'m'});
    failures.open_dataset("model/offsets").append(std::vector<int64_t>{2});
    f.flush_to_disk();
    f.close();
  }
  EXPECT_THROW(verify_shard(shard), Error);
  // The journal lists a, b and the failure of 'gone', not c (its flush never reached the journal).
  const std::string journal = journal_path(out.path(), 0);
  test::write_file(journal, "m\ta\nm\tb\nm\tgone\n");
  const ShardScan scan = scan_shards(out.path(), /*quarantine_corrupt=*/true);
  EXPECT_TRUE(scan.quarantined.empty());
  ASSERT_EQ(scan.repaired.size(), 1u);
  EXPECT_NE(scan.repaired[0].find("repaired: its 2 journaled samples are kept"), std::string::npos)
      << scan.repaired[0];
  EXPECT_EQ(scan.finished, (std::set<SampleKey>{{"m", "a"}, {"m", "b"}, {"m", "gone"}}));
  EXPECT_NO_THROW(verify_shard(shard));
  EXPECT_TRUE(fs::exists(shard + ".damaged-1"));
  EXPECT_EQ(read_lines(journal), (std::vector<std::string>{"m\ta", "m\tb", "m\tgone"}));
  ResultsReader reader(merge_shards(out.path()).output);
  EXPECT_EQ(reader.sample_ids("m"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(reader.failures().size(), 1u);
  const auto records = reader.records("m");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].tokens.size(), 4u);
}

// A flush that never finished (killed mid-flush) may leave damage a shallow check cannot see, so
// its shard is never appended to again: resume rebuilds it from the journaled samples.
TEST(Journal, AShardWhoseFlushNeverFinishedIsRebuiltBeforeAnyoneAppends) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta(), FlushPolicy(0, 0));
    for (const char* id : {"a", "b", "c"}) w.add(make_record("m", id, 4));
    w.close();
  }
  const std::string shard = shard_path(out.path(), 0);
  const std::string marker = flushing_marker_for(shard);
  EXPECT_EQ(marker, out.path() + "/shards/rank-00000.flushing");
  EXPECT_FALSE(fs::exists(marker));  // a finished flush leaves none
  test::write_file(marker, "");
  expect_error([&] { ShardWriter w(out.path(), 0, test_meta()); },
               {"rank-00000.h5", "last flush never finished", "--resume"});
  expect_error([&] { read_journal(out.path()); }, {"last flush never finished"});
  const ShardScan scan = scan_shards(out.path(), /*quarantine_corrupt=*/true);
  ASSERT_EQ(scan.repaired.size(), 1u);
  EXPECT_TRUE(scan.quarantined.empty());
  EXPECT_EQ(scan.finished, (std::set<SampleKey>{{"m", "a"}, {"m", "b"}, {"m", "c"}}));
  EXPECT_FALSE(fs::exists(marker));
  const auto before = ResultsReader(shard + ".damaged-1").records("m");
  const auto after = ResultsReader(shard).records("m");
  ASSERT_EQ(after.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(after[i].tokens, before[i].tokens);
    EXPECT_EQ(after[i].explanations.at("atman").relevance,
              before[i].explanations.at("atman").relevance);
    EXPECT_EQ(after[i].explanations.at("atman").cost, before[i].explanations.at("atman").cost);
  }
  {
    ShardWriter w(out.path(), 0, test_meta());  // appending works again
    w.add(make_record("m", "d", 4));
    w.close();
  }
  EXPECT_EQ(read_journal(out.path()).size(), 4u);
}

TEST(Journal, WholeSampleFailuresCountAsFinished) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add_failure({"m", "too-long", "", "prompt too long"});
    w.add_failure({"m", "x", "atman", "nan"});  // one explainer: the sample itself is not done
    w.close();
  }
  EXPECT_EQ(read_journal(out.path()), (std::set<SampleKey>{{"m", "too-long"}}));
}

TEST(Journal, TruncatedShardFailsVerificationNamingTheFileAndIsQuarantined) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    for (int i = 0; i < 50; ++i) w.add(make_record("m", "id" + std::to_string(i), 64));
    w.close();
  }
  const std::string shard = shard_path(out.path(), 0);
  fs::resize_file(shard, fs::file_size(shard) / 2);
  expect_error([&] { verify_shard(shard); }, {shard.c_str(), "truncated"});
  expect_error([&] { read_journal(out.path()); }, {shard.c_str()});
  expect_error([&] { ShardWriter w(out.path(), 0, test_meta()); },
               {shard.c_str(), "--resume", "sets a damaged shard aside"});
  expect_error([&] { merge_shards(out.path()); }, {shard.c_str()});

  const std::string moved = quarantine_shard(shard, "truncated by the test");
  EXPECT_EQ(moved, shard + ".corrupt-1");
  EXPECT_TRUE(fs::exists(moved));
  EXPECT_TRUE(fs::exists(journal_path(out.path(), 0) + ".corrupt-1"));
  EXPECT_EQ(test::read_file(moved + ".reason"), "truncated by the test\n");
  EXPECT_FALSE(fs::exists(shard));
  EXPECT_TRUE(read_journal(out.path()).empty());
  EXPECT_TRUE(list_shards(out.path()).empty());
  // The rank starts a fresh shard; a second quarantine picks the next number.
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "id0", 64));
    w.close();
  }
  EXPECT_EQ(read_journal(out.path()), (std::set<SampleKey>{{"m", "id0"}}));
  EXPECT_EQ(quarantine_shard(shard, "again"), shard + ".corrupt-2");
}

TEST(Journal, GarbageShardIsReportedAndScanCanQuarantineIt) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "a", 3));
    w.close();
    ShardWriter w1(out.path(), 1, test_meta());
    w1.add(make_record("m", "b", 3));
    w1.close();
  }
  const std::string bad = shard_path(out.path(), 1);
  test::write_file(bad, std::string(10000, '\x5a'));
  expect_error([&] { verify_shard(bad); }, {bad.c_str()});
  ShardScan scan = scan_shards(out.path(), /*quarantine_corrupt=*/true);
  EXPECT_EQ(scan.finished, (std::set<SampleKey>{{"m", "a"}}));
  ASSERT_EQ(scan.quarantined.size(), 1u);
  EXPECT_NE(scan.quarantined[0].find(bad + ".corrupt-1"), std::string::npos);
  EXPECT_EQ(list_shards(out.path()), std::vector<std::string>{shard_path(out.path(), 0)});
}

// ---- merge
// ----------------------------------------------------------------------------------------

std::vector<SampleRecord> merge_corpus() {
  std::vector<SampleRecord> all;
  for (int i = 0; i < 24; ++i) {
    const std::string id = "sample-" + std::to_string(1000 + (i * 7919) % 1000);
    std::vector<std::string> ex = {"atman", "atman_flat"};
    if (i % 5 == 0) ex = {"atman_flat"};  // atman failed on these
    all.push_back(
        make_record(i % 3 == 0 ? "toy_llama" : "toy_gpt2", id, 1 + (i * 13) % 40, ex, i % 4 != 0));
  }
  return all;
}

std::vector<Failure> merge_failures_of(const std::vector<SampleRecord>& all) {
  std::vector<Failure> f;
  for (const auto& r : all) {
    if (!r.explanations.count("atman")) f.push_back({r.model, r.sample_id, "atman", "oom"});
  }
  f.push_back({"toy_gpt2", "sample-9999", "", "prompt too long"});
  return f;
}

TEST(Merge, ThreeShardsWithDuplicatesEqualOneShardByteForByte) {
  const std::vector<SampleRecord> all = merge_corpus();
  const std::vector<Failure> failures = merge_failures_of(all);
  MergeOptions options;
  options.provenance = {{"world_size", "n/a"}};

  TempDir one;
  {
    ShardWriter w(one.path(), 0, test_meta());
    for (const auto& r : all) w.add(r);
    for (const auto& f : failures) w.add_failure(f);
    w.close();
  }
  MergeSummary s1 = merge_shards(one.path(), options);
  EXPECT_EQ(s1.duplicates, 0);

  // Three ranks (0, 1, 7), work in another order, some samples written twice (a resume after a
  // crash between the shard flush and the journal append), one twice in the same shard.
  TempDir three;
  {
    std::vector<std::unique_ptr<ShardWriter>> w;
    for (int rank : {0, 1, 7}) {
      ResultsMeta meta = test_meta();
      meta.provenance["world_size"] = "3";
      meta.provenance["hostname"] = "node" + std::to_string(rank);
      w.push_back(std::make_unique<ShardWriter>(three.path(), rank, meta));
    }
    for (size_t i = 0; i < all.size(); ++i) {
      const size_t k = all.size() - 1 - i;  // reversed order
      w[k % 3]->add(all[k]);
      if (k % 4 == 1) w[(k + 1) % 3]->add(all[k]);
      if (k == 5) w[k % 3]->add(all[k]);
      if (i == 10) w[1]->flush();
    }
    for (size_t i = 0; i < failures.size(); ++i) w[i % 3]->add_failure(failures[i]);
    w[2]->add_failure(failures[0]);
    for (auto& x : w) x->close();
  }
  MergeSummary s3 = merge_shards(three.path(), options);
  EXPECT_EQ(s3.shards.size(), 3u);
  EXPECT_EQ(s3.duplicates, 7);  // k in {1, 5, 9, 13, 17, 21} twice, k = 5 once more
  EXPECT_EQ(s3.duplicate_failures, 1);
  EXPECT_EQ(s3.samples, static_cast<int64_t>(all.size()));
  EXPECT_EQ(s3.samples, s1.samples);
  EXPECT_EQ(s3.explanations, s1.explanations);
  EXPECT_EQ(s3.failures, static_cast<int64_t>(failures.size()));
  // hostname differs between shards: reported per other shard, the lowest rank's value kept.
  ASSERT_EQ(s3.conflicts.size(), 2u);
  EXPECT_NE(s3.conflicts[0].find("hostname"), std::string::npos);
  EXPECT_NE(s3.conflicts[1].find("rank-00007.h5"), std::string::npos);

  {
    ResultsReader r1(s1.output), r3(s3.output);
    EXPECT_EQ(r3.kind(), "results");
    for (const char* model : {"toy_gpt2", "toy_llama"}) {
      std::vector<SampleRecord> expected;
      for (const auto& r : all) {
        if (r.model == model) expected.push_back(r);
      }
      EXPECT_EQ(r1.records(model), sorted_by_id(expected)) << model;
      EXPECT_EQ(r3.records(model), sorted_by_id(expected)) << model;
    }
    std::vector<Failure> sorted_failures = failures;
    std::sort(sorted_failures.begin(), sorted_failures.end());
    EXPECT_EQ(r3.failures(), sorted_failures);
    EXPECT_EQ(r3.provenance().at("hostname"), "node0");
    EXPECT_EQ(r3.provenance().at("world_size"), "n/a");

    EXPECT_EQ(r1.provenance().at("git_commit"), test_meta().provenance.at("git_commit"));
  }
  // With equal provenance the files are identical, byte for byte.
  options.provenance["hostname"] = "node0";
  s1 = merge_shards(one.path(), options);
  s3 = merge_shards(three.path(), options);
  EXPECT_TRUE(test::read_file(s1.output) == test::read_file(s3.output));
}

TEST(Merge, SamplesAreSortedByIdAndExplainerRowsFollowThem) {
  TempDir out;
  {
    ShardWriter w0(out.path(), 0, test_meta());
    ShardWriter w1(out.path(), 1, test_meta());
    w0.add(make_record("m", "c", 3));
    w1.add(make_record("m", "a", 4, {"atman_flat"}));
    w0.add(make_record("m", "b", 5, {"atman"}));
    w0.close();
    w1.close();
  }
  MergeSummary s = merge_shards(out.path());
  EXPECT_EQ(s.samples_per_model.at("m"), 3);
  ResultsReader r(s.output);
  EXPECT_EQ(r.sample_ids("m"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(r.explainer("m", "atman").sample, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(r.explainer("m", "atman_flat").sample, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(r.explainer_info("m", "atman"), test_meta().explainers["atman"]);
  EXPECT_FALSE(fs::exists(s.output + ".tmp-" + std::to_string(getpid())));
}

TEST(Merge, FailuresIsPresentAndEmptyWhenNothingFailed) {
  TempDir out;
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(make_record("m", "a", 3));
    w.close();
  }
  MergeSummary s = merge_shards(out.path());
  EXPECT_EQ(s.failures, 0);
  h5::File f = h5::File::open(s.output, h5::Access::kReadOnly);
  ASSERT_TRUE(f.root().has("failures"));
  for (const char* field : {"model", "sample", "explainer", "message"}) {
    EXPECT_TRUE(f.root().open_group("failures").has(field)) << field;
  }
  EXPECT_TRUE(ResultsReader(s.output).failures().empty());
}

TEST(Merge, ASmallMemoryBudgetGivesTheSameResults) {
  TempDir out;
  const std::vector<SampleRecord> all = merge_corpus();
  {
    ShardWriter w0(out.path(), 0, test_meta());
    ShardWriter w1(out.path(), 1, test_meta());
    for (size_t i = 0; i < all.size(); ++i) (i % 2 ? w0 : w1).add(all[i]);
    w0.close();
    w1.close();
  }
  MergeOptions tiny;
  tiny.memory_budget_bytes = 1;  // one row per pass, one row per read
  MergeSummary s = merge_shards(out.path(), tiny);
  std::vector<SampleRecord> tiny_records = ResultsReader(s.output).records("toy_gpt2");
  s = merge_shards(out.path());
  EXPECT_EQ(ResultsReader(s.output).records("toy_gpt2"), tiny_records);
  EXPECT_EQ(tiny_records.size(), 16u);
}

TEST(Merge, AMetricMissingFromOneShardIsNaNThere) {
  TempDir out;
  ResultsMeta no_metrics = test_meta();
  no_metrics.explainers["atman"].metrics.clear();
  no_metrics.explainers["atman_flat"].metrics.clear();
  {
    ShardWriter w0(out.path(), 0, no_metrics);
    SampleRecord a = make_record("m", "a", 3, {"atman"});
    a.explanations["atman"].metrics.clear();
    w0.add(a);
    w0.close();
    ShardWriter w1(out.path(), 1, no_metrics);
    SampleRecord b = make_record("m", "b", 3, {"atman"});
    b.explanations["atman"].metrics = {{"new_metric", 0.5}};
    w1.add(b);
    w1.close();
  }
  ResultsReader r(merge_shards(out.path()).output);
  const std::vector<double> col = r.explainer("m", "atman").metrics.at("new_metric");
  ASSERT_EQ(col.size(), 2u);
  EXPECT_TRUE(std::isnan(col[0]));
  EXPECT_EQ(col[1], 0.5);
  EXPECT_TRUE(r.records("m")[0].explanations.at("atman").metrics.empty());
}

// An explanation whose extras are given as (name, shape, values).
ExplanationRecord with_extras(
    ExplanationRecord x,
    const std::vector<std::tuple<std::string, std::vector<int64_t>, std::vector<float>>>& extras) {
  x.extras.clear();
  for (const auto& [name, shape, values] : extras) x.extras[name] = {shape, values};
  return x;
}

TEST(Merge, ExtrasKeepTheirShapesAndRowsWithoutThemAreEmpty) {
  TempDir out;
  // Rank 0, first run: sample a has no extras (written before the method had any).
  SampleRecord a = make_record("m", "a", 3, {"atman"});
  a.explanations["atman"].extras.clear();
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(a);
    w.close();
  }
  // Rank 0 resumed: sample c brings four extras, including a scalar and an empty array; the
  // shard backfills a's rows with empty ones.
  SampleRecord c = make_record("m", "c", 4, {"atman"});
  c.explanations["atman"] =
      with_extras(c.explanations["atman"], {{"delta", {2}, {0.25f, -1e-6f}},
                                            {"heads", {2, 3}, {1, 2, 3, 4, 5, 6}},
                                            {"scalar", {}, {7.5f}},
                                            {"nothing", {0}, {}}});
  c.explanations["atman"].n_targets = 2;
  c.explanations["atman"].per_target.resize(8, 0.5f);
  {
    ShardWriter w(out.path(), 0, test_meta());
    w.add(c);
    w.close();
  }
  // Rank 1: sample b has only the delta; the other extras do not exist in its shard.
  SampleRecord b = make_record("m", "b", 2, {"atman"});
  b.explanations["atman"] = with_extras(b.explanations["atman"], {{"delta", {1}, {-3.0f}}});
  {
    ShardWriter w(out.path(), 1, test_meta());
    w.add(b);
    w.close();
  }
  ResultsReader shard(shard_path(out.path(), 0));
  EXPECT_EQ(shard.records("m"), (std::vector<SampleRecord>{a, c}));

  MergeSummary s = merge_shards(out.path());
  ResultsReader r(s.output);
  EXPECT_EQ(r.records("m"), (std::vector<SampleRecord>{a, b, c}));
  ExplainerTable t = r.explainer("m", "atman");
  ASSERT_EQ(t.extras.size(), 4u);
  const ExtraColumn& delta = t.extras.at("delta");
  EXPECT_EQ(delta.values.offsets, (std::vector<int64_t>{0, 0, 1, 3}));
  EXPECT_EQ(delta.values.values, (std::vector<float>{-3.0f, 0.25f, -1e-6f}));
  EXPECT_EQ(delta.shape.offsets, (std::vector<int64_t>{0, 0, 1, 2}));
  EXPECT_EQ(delta.shape.values, (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(delta.has(0));
  EXPECT_TRUE(delta.has(1));
  const ExtraColumn& heads = t.extras.at("heads");
  EXPECT_FALSE(heads.has(0));
  EXPECT_FALSE(heads.has(1));  // from the shard without it
  EXPECT_EQ(heads.row(2).shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(heads.row(2).values, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(t.extras.at("scalar").has(2));
  EXPECT_EQ(t.extras.at("scalar").row(2).shape, std::vector<int64_t>{});
  EXPECT_EQ(t.extras.at("scalar").row(2).values, std::vector<float>{7.5f});
  EXPECT_TRUE(t.extras.at("nothing").has(2));  // shape (0): present, no values
  EXPECT_EQ(t.extras.at("nothing").row(2).shape, std::vector<int64_t>{0});

  // The layout, as documented in docs/results.md.
  h5::File f = h5::File::open(s.output, h5::Access::kReadOnly);
  const std::string x = "models/m/explainers/atman/extras/heads/";
  EXPECT_EQ(f.root().open_dataset(x + "values").read_all<float>().size(), 6u);
  EXPECT_EQ(f.root().open_dataset(x + "offsets").read_all<int64_t>(),
            (std::vector<int64_t>{0, 0, 0, 6}));
  EXPECT_EQ(f.root().open_dataset(x + "shape/values").read_all<int64_t>(),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f.root().open_dataset(x + "shape/offsets").read_all<int64_t>(),
            (std::vector<int64_t>{0, 0, 0, 2}));

  // Merging again gives the same bytes.
  const std::string first = test::read_file(s.output);
  EXPECT_TRUE(test::read_file(merge_shards(out.path()).output) == first);
}

TEST(Merge, NoShardsIsAnError) {
  TempDir out;
  expect_error([&] { merge_shards(out.path()); }, {"no shards", "shards"});
}

}  // namespace
}  // namespace xai
