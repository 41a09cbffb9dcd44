// "Nothing lost, nothing mixed": what a run does with damaged inputs, changed checkpoints and a
// folder that changes under it. Each test here failed before the fix it pins.
#include <ATen/ATen.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <unistd.h>

#include "framework/io/results_reader.h"
#include "framework/io/shard_writer.h"
#include "framework/run/experiment.h"
#include "framework/run/fingerprint.h"
#include "framework/run/output_folder.h"
#include "framework/tensor_io/safetensors.h"
#include "methods/explainer.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

// A copy of a fixture model folder in `dst` with `edit` applied to tensor `name`.
void copy_model_with(const std::string& fixture, const std::string& dst, const std::string& name,
                     const std::function<void(at::Tensor&)>& edit) {
  const std::string src = std::string(XAI_SOURCE_DIR) + "/tests/fixtures/models/" + fixture;
  fs::create_directories(dst);
  for (const auto& e : fs::directory_iterator(src)) {
    if (e.path().filename() != "model.safetensors")
      fs::copy(e.path(), dst + "/" + e.path().filename().string(),
               fs::copy_options::overwrite_existing);
  }
  auto f = SafetensorsFile::open(src + "/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  bool found = false;
  for (const TensorInfo& t : f->tensors()) {
    at::Tensor v = f->get(t.name).clone();
    if (t.name == name) {
      edit(v);
      found = true;
    }
    tensors.emplace_back(t.name, v);
  }
  ASSERT_TRUE(found) << name;
  write_safetensors(dst + "/model.safetensors", tensors, f->metadata());
}

// An experiment file in `dir` on one model folder, run from the repository root.
std::string experiment(const TempDir& dir, const std::string& model_path,
                       const std::string& explainers, int limit = 2) {
  const std::string path = dir.file("exp.yaml");
  std::ofstream(path) << "name: integrity\n"
                      << "output: " << dir.file("out") << "\n"
                      << "models:\n  - {name: m, path: " << model_path << "}\n"
                      << "dataset: {type: toy, limit: " << limit << "}\n"
                      << "explainers: " << explainers << "\n"
                      << "runtime: {threads: 1, progress: off}\n";
  return path;
}

RunResult run(const std::string& yaml, std::vector<std::string> overrides = {}, bool resume = false,
              std::string* log_text = nullptr) {
  return test::run_at_root(yaml, std::move(overrides), resume, log_text);
}

TEST(RunIntegrity, NonFiniteLogitsOrRelevanceAreRecordedFailuresNotResults) {
  TempDir dir;
  const std::string model = dir.file("nan_gpt2");
  // One NaN in the first attention projection: every logit and every attention map is NaN.
  copy_model_with("gpt2", model, "transformer.h.0.attn.c_attn.weight",
                  [](at::Tensor& w) { w.view(-1)[0] = NAN; });
  const RunResult r = run(experiment(dir, model,
                                     "[{method: atman, kappa: off}, {method: attention}, "
                                     "{method: input_x_gradient}, {method: random}]"));
  EXPECT_EQ(r.failures, 6);  // 2 samples x (atman, attention, input_x_gradient)
  // AtMan's inference path failed too: its fast attention kernel no longer hides the NaN.
  ResultsReader reader(r.results_h5);
  std::map<std::string, int> reasons;
  for (const Failure& f : reader.failures()) {
    if (f.message.find("logits are not finite") != std::string::npos) ++reasons["logits"];
    if (f.message.find("non-finite scores") != std::string::npos) ++reasons["scores"];
  }
  // Every method that runs the model stops at its logits (attention too: its forward computes
  // them); non_finite_reason, for scores that go wrong after finite logits, is pinned below.
  EXPECT_EQ(reasons["logits"], 6);
  // Nothing non-finite was stored; random does not read the model and is stored.
  const auto stored = reader.explainers("m");
  EXPECT_NE(std::find(stored.begin(), stored.end(), "random"), stored.end());
  for (const std::string& e : stored) {
    const ExplainerTable t = reader.explainer("m", e);
    EXPECT_EQ(t.rows(), e == "random" ? 2u : 0u) << e;
  }
}

TEST(RunIntegrity, NonFiniteReasonNamesWhatHoldsNanOrInf) {
  Explanation ex;
  ex.relevance = at::zeros({4});
  ex.per_target = at::zeros({1, 4});
  EXPECT_EQ(non_finite_reason(ex), "");
  ex.extras["delta"] = at::tensor({1.0f, INFINITY});
  EXPECT_NE(non_finite_reason(ex).find("the extra 'delta' holds 0 NaN and 1 infinite of 2"),
            std::string::npos)
      << non_finite_reason(ex);
  ex.relevance[2] = NAN;
  EXPECT_NE(non_finite_reason(ex).find("the relevance holds 1 NaN and 0 infinite of 4"),
            std::string::npos);
}

// A model folder copied from a fixture, unchanged.
std::string copy_model(const std::string& fixture, const std::string& dst) {
  copy_model_with(fixture, dst, "transformer.ln_f.weight", [](at::Tensor&) {});
  return dst;
}

std::string read_text(const std::string& path) { return test::read_file(path); }

// --resume used to accept another checkpoint (or other explainer parameters) and merge the old
// rows with new ones into a results file marked complete.
TEST(RunIntegrity, ResumeAcrossAChangedCheckpointOrParametersIsRefusedNamingTheChange) {
  TempDir dir;
  const std::string model = copy_model("gpt2", dir.file("model"));
  const std::string yaml = experiment(dir, model, "[{name: atman, kappa: off}]", 4);
  run(yaml, {"dataset.limit=2"});
  // The same weights in another folder: the same checkpoint, so the resume goes on.
  const std::string moved = dir.file("moved");
  fs::rename(model, moved);
  std::string log;
  RunResult r = run(yaml, {"dataset.limit=3", "models[0].path=" + moved}, true, &log);
  EXPECT_EQ(r.samples_done_now, 1);
  fs::rename(moved, model);
  // Other weights at the same path: refused, naming the model and what differs.
  copy_model_with("gpt2", model, "transformer.ln_f.weight", [](at::Tensor& w) { w.mul_(2); });
  expect_error([&] { run(yaml, {}, true); }, {"cannot resume", "model 'm': its weights differ",
                                              "3 finished samples", "--allow-changed"});
  // Another parameter of the explainer: refused, naming both settings.
  copy_model("gpt2", model);
  expect_error([&] { run(yaml, {"explainers[0].factor=0.5"}, true); },
               {"explainer 'atman': its parameters were", "\"factor\":0.1", "\"factor\":0.5"});
  // Another explained set (the BOS scored, or other template text): the old rows' samples are
  // not this run's samples. Raising the limit is not a change.
  expect_error([&] { run(yaml, {"dataset.explain_special_tokens=true"}, true); },
               {"the dataset's sample settings were", "\"explain_special_tokens\":false",
                "\"explain_special_tokens\":true"});
  expect_error([&] { run(yaml, {"models[0].dtype=bfloat16"}, true); },
               {"model 'm': its dtype was auto, now bfloat16"});
  expect_error(
      [&] { run(yaml, {"dataset.explain=prompt"}, true); },
      {"the dataset's sample settings were", "\"explain\":\"context\"", "\"explain\":\"prompt\""});
  // Asked for explicitly: it goes on and the results say what differed.
  copy_model_with("gpt2", model, "transformer.ln_f.weight", [](at::Tensor& w) { w.mul_(2); });
  RunOptions o;
  std::ostringstream quiet;
  o.resume = true;
  o.allow_changed = true;
  o.log = &quiet;
  const auto cwd = fs::current_path();
  fs::current_path(XAI_SOURCE_DIR);
  r = run_experiment(yaml, o);
  fs::current_path(cwd);
  EXPECT_EQ(r.samples_done_now, 1);
  const auto prov = ResultsReader(r.results_h5).provenance();
  ASSERT_TRUE(prov.count("resumed_across_changes"));
  EXPECT_NE(prov.at("resumed_across_changes").find("its weights differ"), std::string::npos);
  EXPECT_NE(quiet.str().find("resuming across a change"), std::string::npos);
}

TEST(RunIntegrity, AnExplainerAddedAtResumeIsSaidToLackTheFinishedSamples) {
  TempDir dir;
  const std::string yaml = experiment(dir, "tests/fixtures/models/gpt2", "[{method: random}]", 3);
  run(yaml, {"dataset.limit=2"});
  std::string log;
  const RunResult r = run(yaml, {"explainers=[{method: random}, {method: attention}]"}, true, &log);
  EXPECT_NE(log.find("explainer 'attention' is new since the shards were written: the 2 samples "
                     "finished before get no rows for it"),
            std::string::npos)
      << log;
  EXPECT_EQ(r.samples_done_now, 1);
}

TEST(RunIntegrity, ASecondRunOnALiveFolderIsToldItIsInUse) {
  TempDir dir;
  const std::string yaml = experiment(dir, "tests/fixtures/models/gpt2", "[{method: random}]", 1);
  const OutputLock held = OutputLock::acquire(dir.file("out"), "", "run other");
  const std::string pid = "pid " + std::to_string(::getpid());
  for (bool resume : {false, true}) {
    expect_error([&] { run(yaml, {}, resume); },
                 {"in use by a running job", pid.c_str(), "xai run other"});
  }
  EXPECT_FALSE(fs::exists(dir.file("out/shards")));
}

TEST(RunIntegrity, AnUnwritableOutputFolderNamesTheSetting) {
  TempDir dir;
  test::write_file(dir.file("file"), "x");
  const std::string yaml = experiment(dir, "tests/fixtures/models/gpt2", "[{method: random}]", 1);
  expect_error([&] { run(yaml, {"output=" + dir.file("file") + "/out"}); },
               {"output: cannot create the output folder", "file/out", "Not a directory", "HINT"});
}

// Ctrl-C during a multi-rank run's merge left results.h5.tmp-* behind, even after a resume.
TEST(RunIntegrity, AnInterruptedMergesLeftoversAreRemovedByTheNextRun) {
  TempDir dir;
  const std::string yaml = experiment(dir, "tests/fixtures/models/gpt2", "[{method: random}]", 2);
  run(yaml);
  test::write_file(dir.file("out/results.h5.tmp-4242"), "half a merge");
  test::write_file(dir.file("out/results.json.tmp"), "{");
  run(yaml, {}, true);
  EXPECT_FALSE(fs::exists(dir.file("out/results.h5.tmp-4242")));
  EXPECT_FALSE(fs::exists(dir.file("out/results.json.tmp")));
  EXPECT_TRUE(fs::exists(dir.file("out/results.h5")));
}

// A run whose folder lost shards wrote complete: true over what it found. Completeness is
// judged against the plan: every model x every sample id.
TEST(RunIntegrity, CompletenessIsJudgedAgainstThePlanNotAgainstWhatIsFound) {
  TempDir dir;
  const std::string yaml = experiment(dir, "tests/fixtures/models/gpt2", "[{method: random}]", 3);
  RunResult r = run(yaml);
  EXPECT_EQ(r.missing, 0);
  auto json = nlohmann::json::parse(read_text(r.results_json));
  EXPECT_EQ(json["complete"], true);
  EXPECT_EQ(json["planned"], 3);
  EXPECT_EQ(json["missing"], 0);
  std::vector<SampleKey> planned = {{"m", "toy-test-00000"},
                                    {"m", "toy-test-00001"},
                                    {"m", "toy-test-00002"},
                                    {"m", "toy-test-00003"},
                                    {"other", "toy-test-00000"}};
  const MergedRun m = merge_run(dir.file("out"), {}, true, &planned);
  EXPECT_EQ(m.planned, 5);
  EXPECT_EQ(m.missing, 2);
  EXPECT_EQ(m.missing_example, "m/toy-test-00003");
  json = nlohmann::json::parse(read_text(m.results_json));
  EXPECT_EQ(json["complete"], false);
  EXPECT_EQ(json["missing"], 2);
}

TEST(RunIntegrity, AShardWhoseFolderWasDeletedSaysSo) {
  TempDir dir;
  ResultsMeta meta;
  ShardWriter w(dir.file("out"), 0, meta, FlushPolicy(0, 0));
  SampleRecord rec;
  rec.model = "m";
  rec.sample_id = "a";
  rec.tokens = {1, 2};
  rec.token_offsets = {{0, 1}, {1, 2}};
  rec.prompt_len = 1;
  rec.explain_mask = {1, 0};
  w.add(rec);
  fs::remove_all(dir.file("out"));
  expect_error([&] { w.flush(); }, {"rank-00000.h5 is gone", "deleted or moved"});
}

TEST(RunIntegrity, AFingerprintSeesConfigTokenizerAndWeightsAndNamesEachChange) {
  TempDir dir;
  const std::string m = dir.file("m");
  fs::create_directories(m);
  test::write_file(m + "/config.json", "{\"a\": 1}");
  test::write_file(m + "/tokenizer.json", "{}");
  // A checkpoint over 64 MiB is sampled: 17 slices of 4 KiB, first and last included.
  const std::string big = m + "/model-00001-of-00001.safetensors";
  test::write_file(big, std::string(8, '\0'));
  fs::resize_file(big, (70ull << 20));
  RunFingerprint before;
  before.models["m"] = fingerprint_model(m);
  before.explainers["atman"] = "{\"factor\":0.1}";
  RunFingerprint now = before;
  EXPECT_TRUE(fingerprint_changes(before, now).empty());
  {
    std::fstream f(big, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>((70ull << 20) - 10));
    f.put('x');  // inside the last sample
  }
  now.models["m"] = fingerprint_model(m);
  test::write_file(m + "/tokenizer.json", "{ }");
  now.models["m"].tokenizer = fingerprint_model(m).tokenizer;
  now.models["m"].path = "elsewhere";
  now.explainers["atman"] = "{\"factor\":0.2}";
  now.explainers["new_one"] = "{}";  // added explainers are not changes
  const auto changes = fingerprint_changes(before, now);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0], "model 'm': its weights differ, its tokenizer differs (the shards used " +
                            m + ", this run elsewhere)");
  EXPECT_EQ(changes[1],
            "explainer 'atman': its parameters were {\"factor\":0.1}, now {\"factor\":0.2}");
  // The JSON form round-trips.
  const RunFingerprint back = RunFingerprint::from_json(now.to_json());
  EXPECT_TRUE(fingerprint_changes(now, back).empty());
  EXPECT_EQ(back.models.at("m").path, "elsewhere");
}

}  // namespace
}  // namespace xai
