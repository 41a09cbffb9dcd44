// The config-driven run end to end on the fixture models: results.h5, results.json, summary,
// failures recorded without stopping, resume that computes nothing twice.
#include <ATen/ATen.h>
#include <torch/cuda.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "framework/config/config.h"
#include "framework/io/results_reader.h"
#include "framework/model/model.h"
#include "framework/run/experiment.h"
#include "framework/run/progress.h"
#include "framework/text/encoded.h"
#include "methods/explainer.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

std::string config(const std::string& name) {
  return std::string(XAI_SOURCE_DIR) + "/tests/fixtures/experiments/" + name;
}

// Runs a fixture experiment from the repository root, quietly.
RunResult run(const std::string& yaml, std::vector<std::string> overrides, bool resume = false,
              std::string* log_text = nullptr) {
  return test::run_at_root(config(yaml), std::move(overrides), resume, log_text);
}

TEST(Run, WritesResultsJsonAndASummaryRowPerModelAndExplainer) {
  TempDir out;
  RunResult r = run("tiny.yaml", {"output=" + out.path()});
  EXPECT_EQ(r.samples_done_now, 12);  // 2 models x 6 samples
  EXPECT_EQ(r.failures, 0);
  ASSERT_EQ(r.rows.size(), 4u);
  for (const auto& row : r.rows) {
    EXPECT_EQ(row.samples, 6) << row.model << " " << row.explainer;
    EXPECT_GE(row.map, 0.0);
    EXPECT_LE(row.map, 1.0);
    EXPECT_GE(row.mar, 0.0);
    EXPECT_LE(row.mar, 1.0);
    EXPECT_GT(row.forward_passes, 1.0);
    EXPECT_EQ(row.backward_passes, 0.0);
    EXPECT_GT(row.seconds_per_sample, 0.0);
  }
  ResultsReader reader(r.results_h5);
  EXPECT_EQ(reader.kind(), "results");
  EXPECT_EQ(reader.models(), (std::vector<std::string>{"gpt2", "llama"}));
  EXPECT_EQ(reader.explainers("gpt2"), (std::vector<std::string>{"atman", "atman_single"}));
  const SampleTable s = reader.samples("llama");
  ASSERT_EQ(s.ids.size(), 6u);
  const ExplainerTable t = reader.explainer("llama", "atman");
  ASSERT_EQ(t.rows(), 6u);
  for (size_t j = 0; j < t.rows(); ++j) {
    const size_t row = static_cast<size_t>(t.sample[j]);
    EXPECT_EQ(t.relevance.row_size(j), s.tokens.row_size(row));  // one score per token
    EXPECT_EQ(s.evidence.row_size(row), s.tokens.row_size(row));
  }
  EXPECT_NE(t.info.parameters_json.find("\"kappa\":0.7"), std::string::npos);
  EXPECT_NE(reader.provenance().at("config").find("atman_single"), std::string::npos);
  EXPECT_FALSE(reader.provenance().at("git_commit").empty());

  const auto j = nlohmann::json::parse(test::read_file(r.results_json));
  EXPECT_EQ(j["summary"].size(), 4u);
  EXPECT_EQ(j["config"]["dataset"]["limit"], 6);
  EXPECT_EQ(j["config"]["explainers"][1]["kappa"], nullptr);  // the resolved value, written back
  EXPECT_TRUE(j["complete"].get<bool>());
  // The settings that change what the scores mean, in every row: AtMan's kappa in use.
  for (const auto& row : r.rows) {
    EXPECT_EQ(row.settings, row.explainer == "atman" ? "kappa 0.7 (correlated), square over targets"
                                                     : "single-token, square over targets");
  }
  EXPECT_EQ(j["summary"][0]["settings"], "kappa 0.7 (correlated), square over targets");
  // What the seconds were measured on: the CPU, its matmul ceiling, the attention kernels chosen.
  ASSERT_TRUE(j.contains("machine")) << j.dump();
  EXPECT_FALSE(j["machine"]["cpu"].get<std::string>().empty());
  EXPECT_GT(j["machine"]["matmul_gflops"].get<double>(), 0.0);
  EXPECT_EQ(j["machine"]["threads"], 1);  // tiny.yaml's runtime.threads
  ASSERT_FALSE(j["machine"]["attention_kernels"].empty());
  for (const auto& k : j["machine"]["attention_kernels"]) {
    EXPECT_TRUE(k["kernel"] == "fused" || k["kernel"] == "unfused") << k.dump();
  }
  // Statistics per metric (framework/metrics/statistics.h) and every pair of explainers compared.
  for (const auto& row : j["summary"]) {
    const auto& ap = row["statistics"]["ap"];
    EXPECT_EQ(ap["n"], 6);
    EXPECT_NEAR(ap["mean"].get<double>(), row["mAP"].get<double>(), 1e-12);
    ASSERT_EQ(ap["ci95"].size(), 2u);
    EXPECT_LE(ap["ci95"][0].get<double>(), ap["mean"].get<double>());
    EXPECT_GE(ap["ci95"][1].get<double>(), ap["mean"].get<double>());
  }
  EXPECT_EQ(j["statistics"]["resamples"], 1000);
  int compared = 0;
  for (const auto& c : j["comparisons"]) {
    if (c["metric"] != "ap") continue;
    ++compared;
    EXPECT_EQ(c["a"], "atman");
    EXPECT_EQ(c["b"], "atman_single");
    EXPECT_EQ(c["n"], 6);
    // The same rows give the same difference as the two means.
    double mean_a = 0, mean_b = 0;
    for (const auto& row : j["summary"]) {
      if (row["model"] != c["model"]) continue;
      (row["explainer"] == "atman" ? mean_a : mean_b) = row["mAP"].get<double>();
    }
    EXPECT_NEAR(c["mean_diff"].get<double>(), mean_a - mean_b, 1e-9);
  }
  EXPECT_EQ(compared, 2);  // one pair on each model
  const std::string table = format_summary(r.rows);
  EXPECT_NE(table.find("samples  failed  settings\n"), std::string::npos) << table;
  EXPECT_NE(table.find("mAP  mAP_CI95  mAP_IQ"), std::string::npos) << table;
  EXPECT_NE(table.find("  single-token, square over targets\n"), std::string::npos) << table;
}

TEST(Run, ResumeComputesOnlyWhatIsMissingAndEqualsOneRun) {
  TempDir whole, parts;
  RunResult one = run("tiny.yaml", {"output=" + whole.path()});
  RunResult first = run("tiny.yaml", {"output=" + parts.path(), "dataset.limit=3"});
  EXPECT_EQ(first.samples_done_now, 6);
  expect_error([&] { run("tiny.yaml", {"output=" + parts.path()}); },
               {"holds the shards of an earlier run", "--resume"});
  RunResult second = run("tiny.yaml", {"output=" + parts.path()}, /*resume=*/true);
  EXPECT_EQ(second.samples_skipped, 6);
  EXPECT_EQ(second.samples_done_now, 6);
  ResultsReader a(one.results_h5), b(second.results_h5);
  for (const std::string model : {"gpt2", "llama"}) {
    EXPECT_EQ(a.sample_ids(model), b.sample_ids(model));
    for (const std::string ex : {"atman", "atman_single"}) {
      const ExplainerTable ta = a.explainer(model, ex), tb = b.explainer(model, ex);
      EXPECT_EQ(ta.sample, tb.sample);
      ASSERT_EQ(ta.relevance.values.size(), tb.relevance.values.size());
      for (size_t i = 0; i < ta.relevance.values.size(); ++i) {
        const float x = ta.relevance.values[i], y = tb.relevance.values[i];
        if (std::isnan(x) || std::isnan(y)) {  // no score: outside the explained set in both
          EXPECT_TRUE(std::isnan(x) && std::isnan(y)) << i;
          continue;
        }
        EXPECT_NEAR(x, y, 1e-6 * (1 + std::abs(x)));
      }
    }
  }
  // Nothing left: a third resume does no work.
  RunResult third = run("tiny.yaml", {"output=" + parts.path()}, /*resume=*/true);
  EXPECT_EQ(third.samples_done_now, 0);
}

// One rule for every explainer: a position outside the sample's explained set (the BOS, the
// question when only the context is explained, the target) holds NaN ("no score") in relevance and
// per_target; every explained position holds a number. explain_special_tokens adds the BOS.
TEST(Run, OnlyTheExplainedPositionsHoldScoresForEveryExplainer) {
  const std::vector<std::string> methods = {
      "atman", "chefer", "input_x_gradient", "integrated_gradients", "attnlrp", "attention"};
  std::string list = "explainers=[";
  for (const auto& m : methods) list += (list.back() == '[' ? "" : ", ") + ("{name: " + m + "}");
  list += "]";
  for (const bool special : {false, true}) {
    TempDir out;
    RunResult r =
        run("tiny.yaml",
            {"output=" + out.path(), "dataset.limit=2", list, "explainers[3].steps=4",
             std::string("dataset.explain_special_tokens=") + (special ? "true" : "false")});
    ASSERT_EQ(r.failures, 0);
    ResultsReader reader(r.results_h5);
    for (const std::string model : {"gpt2", "llama"}) {
      const std::vector<SampleRecord> records = reader.records(model);
      ASSERT_EQ(records.size(), 2u);
      for (const SampleRecord& rec : records) {
        // llama_gqa's tokenizer adds a BOS (position 0, no bytes); GPT-2's adds none.
        const bool bos = model == "llama";
        EXPECT_EQ(rec.token_offsets[0].begin == rec.token_offsets[0].end, bos);
        if (bos) {
          EXPECT_EQ(rec.explain_mask[0], special ? 1 : 0) << model;
        }
        for (const auto& m : methods) {
          const ExplanationRecord& e = rec.explanations.at(m);
          const size_t T = rec.tokens.size();
          ASSERT_EQ(e.relevance.size(), T);
          for (size_t i = 0; i < T; ++i) {
            const bool explained = rec.explain_mask[i] != 0;
            EXPECT_EQ(std::isnan(e.relevance[i]), !explained)
                << m << " on " << model << ", position " << i;
            for (int64_t t = 0; t < e.n_targets; ++t) {
              EXPECT_EQ(std::isnan(e.per_target[static_cast<size_t>(t) * T + i]), !explained)
                  << m << " on " << model << ", target " << t << ", position " << i;
            }
          }
        }
      }
    }
  }
}

// models[].dtype: bfloat16 weights run every sample on the CPU; float16 there is refused before any
// work, naming the key.
TEST(Run, Bfloat16ModelsRunAndFloat16IsRefusedOnTheCpu) {
  TempDir out;
  RunResult r = run("tiny.yaml", {"output=" + out.path(), "dataset.limit=2",
                                  "models[0].dtype=bfloat16", "models[1].dtype=bfloat16"});
  EXPECT_EQ(r.failures, 0);
  ASSERT_EQ(r.rows.size(), 4u);
  for (const auto& row : r.rows) EXPECT_EQ(row.samples, 2) << row.model << " " << row.explainer;
  TempDir out2;
  expect_error(
      [&] {
        run("tiny.yaml",
            {"output=" + out2.path(), "models[0].dtype=float16", "runtime.device=cpu"});
      },
      {"models[0].dtype", "float16 needs a GPU", "bfloat16"});
}

TEST(Run, FailedSamplesAreRecordedAndTheRunGoesOn) {
  TempDir out;
  std::string log;
  RunResult r = run("failures.yaml", {"output=" + out.path()}, false, &log);
  EXPECT_EQ(r.failures, 2);
  // The first sample that cannot be read is said with its reason; the next only recorded.
  EXPECT_NE(log.find("xai run: sample too-long cannot be read for gpt2: "), std::string::npos)
      << log;
  EXPECT_EQ(log.find("sample empty-target cannot be read"), std::string::npos) << log;
  ResultsReader reader(r.results_h5);
  EXPECT_EQ(reader.sample_ids("gpt2"), (std::vector<std::string>{"fine", "short"}));
  const auto failures = reader.failures();
  ASSERT_EQ(failures.size(), 2u);
  std::map<std::string, std::string> why;
  for (const auto& f : failures) why[f.sample_id] = f.message;
  EXPECT_NE(why["too-long"].find("too-long"), std::string::npos) << why["too-long"];
  EXPECT_NE(why["empty-target"].find("empty-target"), std::string::npos) << why["empty-target"];
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].samples, 2);
  EXPECT_EQ(r.rows[0].failures, 2);
}

TEST(Progress, AMessageClearsTheBarAndTheBarIsDrawnAgainAtTheNextUpdate) {
  std::ostringstream out;
  Progress bar(out, 10, "samples", Progress::Mode::kBar);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the bar redraws 10x a second
  bar.update(3);
  bar.message("xai run: a line");
  bar.update(4);  // within 0.1 s of the last draw: drawn all the same, the message erased it
  const std::string s = out.str();
  const size_t msg = s.find("\r\033[Kxai run: a line\n");
  ASSERT_NE(msg, std::string::npos) << s;
  EXPECT_NE(s.find("3/10 samples"), std::string::npos) << s;
  EXPECT_LT(s.find("3/10 samples"), msg);
  EXPECT_NE(s.find("4/10 samples", msg), std::string::npos) << s;
  for (auto mode : {Progress::Mode::kLines, Progress::Mode::kOff}) {
    std::ostringstream o;
    Progress p(o, 10, "samples", mode);
    p.message("xai run: a line");
    EXPECT_EQ(o.str(), "xai run: a line\n");
  }
}

TEST(Run, AnExplainerThatCannotRunOnAModelIsSaidOnceAndTheOthersGoOn) {
  TempDir out;
  std::string log;
  RunResult r = run("cannot_run.yaml", {"output=" + out.path()}, false, &log);
  // One line each for the two that cannot run, naming explainer, model and parameter.
  auto lines_with = [&](const std::string& needle) {
    int n = 0;
    std::istringstream in(log);
    for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
    return n;
  };
  EXPECT_EQ(lines_with("atman_deep cannot run on gpt2: atman: layers entry 7"), 1) << log;
  EXPECT_EQ(lines_with("chefer_deep cannot run on gpt2: chefer: start_layer -5"), 1) << log;
  EXPECT_EQ(lines_with("rollout cannot run"), 0) << log;
  // Every sample records both skipped explainers; rollout's results are all there.
  EXPECT_EQ(r.failures, 6);
  ResultsReader reader(r.results_h5);
  std::map<std::string, int> failed;
  for (const auto& f : reader.failures()) {
    EXPECT_EQ(f.model, "gpt2");
    EXPECT_NE(f.message.find("is not a layer of this model (it has 2 layers"), std::string::npos)
        << f.message;
    ++failed[f.explainer];
  }
  EXPECT_EQ(failed, (std::map<std::string, int>{{"atman_deep", 3}, {"chefer_deep", 3}}));
  EXPECT_EQ(reader.explainer("gpt2", "rollout").rows(), 3u);
  for (const auto& row : r.rows) {
    EXPECT_EQ(row.failures, row.explainer == "rollout" ? 0 : 3) << row.explainer;
    EXPECT_EQ(row.samples, row.explainer == "rollout" ? 3 : 0) << row.explainer;
  }
}

TEST(Run, MethodExtrasAreStoredPerSampleAndEqualTheExplainersOwn) {
  TempDir out;
  RunResult r = run("extras.yaml", {"output=" + out.path()});
  EXPECT_EQ(r.failures, 0);
  ResultsReader reader(r.results_h5);
  const SampleTable s = reader.samples("gpt2");
  ASSERT_EQ(s.ids.size(), 2u);

  // The explainers again, as the YAML builds them, on the stored prompt and target.
  const std::string dir = std::string(XAI_SOURCE_DIR) + "/tests/fixtures/models/gpt2";
  std::unique_ptr<Model> model = load_model(dir, LoadOptions{});
  const Tokenizer tokenizer = Tokenizer::from_file(dir + "/tokenizer.json");
  Config ig_params = Config::parse("{steps: 8}", "test");
  std::unique_ptr<Explainer> ig = make_explainer("integrated_gradients", ig_params.root());
  Config aa_params = Config::parse("{steps: 4, batch_size: 4}", "test");
  std::unique_ptr<Explainer> attattr = make_explainer("attattr", aa_params.root());

  const ExplainerTable ti = reader.explainer("gpt2", "ig");
  const ExplainerTable ta = reader.explainer("gpt2", "attattr");
  ASSERT_EQ(ti.rows(), 2u);
  ASSERT_EQ(ta.rows(), 2u);
  ASSERT_EQ(ti.extras.count("convergence_delta"), 1u);
  ASSERT_EQ(ta.extras.count("head_importance"), 1u);
  const std::vector<SampleRecord> records = reader.records("gpt2");
  for (size_t j = 0; j < ti.rows(); ++j) {
    const size_t row = static_cast<size_t>(ti.sample[j]);
    Sample sample;
    sample.id = s.ids[row];
    sample.prompt = s.prompts[row];
    sample.target = s.targets[row];
    Encoded enc = encode_sample(sample, tokenizer, model->spec().max_positions);
    ASSERT_EQ(enc.ids, s.tokens.row(row)) << sample.id;
    enc.explain_mask = s.explain_mask.row(row);
    ExplainContext ctx;

    // IG: one delta per target, as the explainer returns it.
    const ExtraArray delta = ti.extras.at("convergence_delta").row(j);
    ASSERT_EQ(delta.shape, std::vector<int64_t>{enc.num_targets()}) << sample.id;
    ASSERT_EQ(ti.n_targets[j], enc.num_targets());
    const at::Tensor want = ig->explain(*model, enc, ctx).extras.at("convergence_delta");
    ASSERT_EQ(want.numel(), enc.num_targets());
    for (int64_t t = 0; t < enc.num_targets(); ++t) {
      const double d = delta.values[static_cast<size_t>(t)];
      EXPECT_TRUE(std::isfinite(d));
      EXPECT_NEAR(d, want[t].item<double>(), 1e-5 + 1e-3 * std::abs(d)) << sample.id << " " << t;
    }
    EXPECT_EQ(records[row].explanations.at("ig").extras.at("convergence_delta"), delta);

    // AttAttr: an (L, H) head importance.
    const ExtraArray heads = ta.extras.at("head_importance").row(j);
    const at::Tensor want_heads = attattr->explain(*model, enc, ctx).extras.at("head_importance");
    ASSERT_EQ(heads.shape, want_heads.sizes().vec()) << sample.id;
    ASSERT_EQ(heads.shape.size(), 2u);
    const at::Tensor flat = want_heads.to(at::kDouble).contiguous().view({-1});
    ASSERT_EQ(heads.values.size(), static_cast<size_t>(flat.numel()));
    for (size_t k = 0; k < heads.values.size(); ++k) {
      const double w = flat[static_cast<int64_t>(k)].item<double>();
      EXPECT_NEAR(heads.values[k], w, 1e-5 + 1e-3 * std::abs(w)) << sample.id << " " << k;
    }
  }

  // results.json: the mean |delta| for IG only.
  const auto j = nlohmann::json::parse(test::read_file(r.results_json));
  ASSERT_EQ(j["summary"].size(), 2u);
  for (const auto& row : j["summary"]) {
    if (row["explainer"] == "ig") {
      double sum = 0;
      for (float d : ti.extras.at("convergence_delta").values.values) sum += std::abs(d);
      const double mean =
          sum / static_cast<double>(ti.extras.at("convergence_delta").values.values.size());
      EXPECT_NEAR(row["mean_abs_convergence_delta"].get<double>(), mean, 1e-9 + 1e-6 * mean);
      // The flagged samples, counted from the stored flags.
      int64_t flagged = 0;
      for (float f : ti.extras.at("convergence_flag").values.values) flagged += f != 0;
      EXPECT_EQ(row["convergence_flagged"].get<int64_t>(), flagged);
      EXPECT_EQ(row["settings"], "baseline auto, 8 steps");
    } else {
      EXPECT_FALSE(row.contains("mean_abs_convergence_delta"));
      EXPECT_FALSE(row.contains("convergence_flagged"));
    }
  }
  // Under the table, one line for IG when a sample is flagged; here, at a tolerance every sample
  // misses, both are.
  RunResult strict = run(
      "extras.yaml", {"output=" + out.path() + "/strict", "explainers[0].delta_tolerance=1e-12"});
  const std::string table = format_summary(strict.rows);
  EXPECT_NE(table.find("ig on gpt2: 2 of 2 samples flagged"), std::string::npos) << table;
}

TEST(Run, ConfigurationErrorsStopBeforeAnyWork) {
  TempDir out;
  expect_error(
      [&] {
        run("tiny.yaml", {"output=" + out.path(), "explainers[0].kapa=0.5"});
      },
      {"kapa", "did you mean 'kappa'"});
  expect_error(
      [&] {
        run("tiny.yaml", {"output=" + out.path(), "explainers[1].method=atmna"});
      },
      {"unknown method 'atmna'", "did you mean 'atman'"});
  expect_error(
      [&] {
        run("tiny.yaml", {"output=" + out.path(), "models[0].path=/nope"});
      },
      {"models[0].path", "/nope"});
  expect_error(
      [&] {
        run("tiny.yaml", {"output=" + out.path(), "runtime.progres=off"});
      },
      {"progres", "did you mean 'progress'"});
  expect_error(
      [&] {
        run("tiny.yaml", {"output=" + out.path(), "runtime.device=gpu"});
      },
      {"runtime.device: 'gpu' is not a device", "HINT"});
  EXPECT_FALSE(fs::exists(out.path() + "/shards"));
}

TEST(Run, DeviceAutoResolvesPerRankAndIsRecorded) {
  TempDir out;
  RunResult r = run("tiny.yaml", {"output=" + out.path(), "dataset.limit=1"});
  const auto prov = ResultsReader(r.results_h5).provenance();
  EXPECT_EQ(prov.at("device"), "auto");  // the request, as written (the default)
  // What this rank drove: cpu here, or its own GPU where LibTorch has CUDA and one is visible.
  const std::string expected = torch::cuda::device_count() > 0 ? "cuda:0" : "cpu";
  EXPECT_EQ(prov.at("devices"), expected);
  if (torch::cuda::device_count() == 0) {
    // Asking for a GPU where there is none is a one-line error naming the field, before any work.
    TempDir none;
    expect_error(
        [&] {
          run("tiny.yaml", {"output=" + none.path(), "runtime.device=cuda"});
        },
        {"tiny.yaml: runtime.device: 'cuda' needs", "HINT"});
    EXPECT_FALSE(fs::exists(none.path() + "/shards"));
    // NCCL needs a GPU per rank: refused on a CPU, naming the key.
    expect_error(
        [&] {
          run("tiny.yaml", {"output=" + none.path(), "runtime.collectives=nccl"});
        },
        {"runtime.collectives: nccl", "HINT"});
  }
}

}  // namespace
}  // namespace xai
