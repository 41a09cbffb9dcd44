// models[].dataset: a model reads its own samples (a text classifier and an image classifier in
// one experiment). The plan points each model at its dataset, the experiment's `dataset` is needed
// only by models without one, errors name the key, and a whole run (with the perturbation test and
// a resume) keeps each model's samples apart; a changed dataset of one model is refused on resume.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "framework/config/config.h"
#include "framework/io/results_reader.h"
#include "framework/metrics/segmentation.h"
#include "framework/run/experiment.h"
#include "framework/run/plan.h"
#include "tests/unit/run_util.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

// The plan of an experiment text named exp.yaml, read from the repository root.
Plan plan_of(const std::string& yaml) {
  const auto cwd = fs::current_path();
  fs::current_path(XAI_SOURCE_DIR);
  struct Back {
    fs::path cwd;
    ~Back() { fs::current_path(cwd); }
  } back{cwd};
  return read_plan(Config::parse(yaml, "exp.yaml"), "exp.yaml");
}

const char* kBert = "  - {name: bert, path: datasets/toy/models/toy_bert}\n";
const char* kVit =
    "  - name: vit\n"
    "    path: datasets/toy/models/toy_vit\n"
    "    dataset: {type: toy_shapes, split: test, limit: 3}\n";
const char* kExplainers = "explainers:\n  - name: rollout\n";

TEST(ModelDatasets, EachModelReadsItsOwnOrTheExperimentsDataset) {
  const Plan p = plan_of(std::string("models:\n") + kBert + kVit +
                         "dataset: {type: toy_classify, split: test, limit: 4}\n" + kExplainers);
  ASSERT_EQ(p.models.size(), 2u);
  ASSERT_EQ(p.datasets.size(), 2u);
  EXPECT_EQ(p.models[0].dataset, p.datasets[0].get());  // the experiment's, first
  EXPECT_FALSE(p.models[0].own_dataset);
  EXPECT_EQ(p.models[0].dataset->size(), 4);
  EXPECT_FALSE(p.models[0].dataset->get(0).is_image());
  EXPECT_TRUE(p.models[1].own_dataset);
  EXPECT_EQ(p.models[1].dataset->size(), 3);
  EXPECT_TRUE(p.models[1].dataset->get(0).is_image());
  EXPECT_TRUE(p.warnings.empty());

  // Every model with its own: no experiment dataset needed; one given anyway is said to be unread.
  const std::string both = std::string("models:\n") + kVit +
                           "  - name: bert\n    path: datasets/toy/models/toy_bert\n"
                           "    dataset: {type: toy_classify, limit: 2}\n" +
                           kExplainers;
  const Plan q = plan_of(both);
  EXPECT_EQ(q.datasets.size(), 2u);
  EXPECT_EQ(q.models[1].dataset->size(), 2);
  EXPECT_TRUE(q.warnings.empty());
  const Plan r = plan_of(both + "dataset: {type: toy, limit: 2}\n");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("exp.yaml:10: dataset: every model has its own dataset"),
            std::string::npos)
      << r.warnings[0];
}

TEST(ModelDatasets, ErrorsNameTheKey) {
  // A model without a dataset of its own, and no experiment dataset.
  expect_error([&] { plan_of(std::string("models:\n") + kBert + kVit + kExplainers); },
               {"exp.yaml: dataset: required: models[0] (bert) has no dataset of its own"});
  // A bad key inside a model's dataset names the model's entry.
  expect_error(
      [&] {
        plan_of(std::string("models:\n") + kBert +
                "  - name: vit\n    path: datasets/toy/models/toy_vit\n"
                "    dataset: {type: toy_shapes, limit: 0}\n"
                "dataset: {type: toy_classify, limit: 2}\n" +
                kExplainers);
      },
      {"exp.yaml:5: models[1].dataset.limit"});
  expect_error(
      [&] {
        plan_of(std::string("models:\n") + kBert +
                "  - name: vit\n    path: datasets/toy/models/toy_vit\n"
                "    dataset: {type: toy_shapes, colour: red}\n"
                "dataset: {type: toy_classify, limit: 2}\n" +
                kExplainers);
      },
      {"models[1].dataset.colour"});
}

TEST(ModelDatasets, ARunKeepsEachModelsSamplesAndAResumeChecksThem) {
  TempDir out;
  const std::string yaml = out.path() + "/exp.yaml";
  {
    std::ofstream f(yaml);
    f << "name: mixed\nmodels:\n"
      << kBert << kVit << "dataset: {type: toy_classify, split: test, limit: 4}\n"
      << "explainers:\n  - name: rollout\n  - name: saliency\n"
      << "metrics: {perturbation: true}\nruntime: {threads: 1, progress: off}\n";
  }
  std::string log;
  const RunResult first =
      test::run_at_root(yaml, {"output=" + out.path() + "/run", "dataset.limit=2"}, false, &log);
  EXPECT_EQ(first.samples_done_now, 2 + 3);
  EXPECT_EQ(first.failures, 0);
  EXPECT_NE(log.find("(bert: 2 samples from toy_classify"), std::string::npos) << log;
  EXPECT_NE(log.find("vit: 3 samples from toy_shapes"), std::string::npos) << log;
  {
    const ResultsReader r(first.results_h5);
    EXPECT_EQ(r.sample_ids("bert").size(), 2u);
    EXPECT_EQ(r.sample_ids("vit").size(), 3u);
    // The image model's rows have the segmentation metrics; the text model's hold none (NaN).
    const ExplainerTable v = r.explainer("vit", "saliency"), b = r.explainer("bert", "saliency");
    auto none = [](const ExplainerTable& t, const char* k) {
      if (!t.metrics.count(k)) return true;
      for (double x : t.metrics.at(k))
        if (!std::isnan(x)) return false;
      return true;
    };
    EXPECT_FALSE(none(v, "seg_miou"));
    EXPECT_TRUE(none(b, "seg_miou"));
    EXPECT_FALSE(none(b, "pos_auc"));
    EXPECT_FALSE(none(v, "pos_auc"));
    for (const char* m : {"ins_auc_norm", "aopc_morf", "comprehensiveness", "sufficiency"}) {
      EXPECT_FALSE(none(b, m)) << m;
      EXPECT_FALSE(none(v, m)) << m;
    }
    ASSERT_TRUE(b.extras.count("eraser"));
    EXPECT_EQ(b.extras.at("eraser").row(0).values.size(), 3u * 5u);  // k, comp, suff at 5 k
    ASSERT_TRUE(b.extras.count("perturbation"));
    EXPECT_EQ(b.extras.at("perturbation").row(0).values.size(), 9u * 10u);
    // The summary's segmentation figures pool the images' pixel counts (Chefer's dataset
    // figures); the per-image means stand beside them.
    ASSERT_TRUE(v.extras.count(kSegmentationCounts));
    std::vector<SegmentationCounts> images;
    double mean_acc = 0;
    for (size_t j = 0; j < v.rows(); ++j) {
      images.push_back(
          SegmentationCounts::from_extra(v.extras.at(kSegmentationCounts).row(j).values));
      mean_acc += v.metrics.at("seg_acc")[j] / static_cast<double>(v.rows());
    }
    const auto [acc, miou] = pooled_segmentation(images);
    std::ifstream in(first.results_json);
    const nlohmann::json j = nlohmann::json::parse(in);
    bool found = false;
    for (const auto& row : j["summary"]) {
      if (row["model"] != "vit" || row["explainer"] != "saliency") continue;
      found = true;
      EXPECT_NEAR(row["segmentation"]["seg_acc"].get<double>(), acc, 1e-9);
      EXPECT_NEAR(row["segmentation"]["seg_miou"].get<double>(), miou, 1e-9);
      EXPECT_NEAR(row["segmentation"]["seg_acc_mean"].get<double>(), mean_acc, 1e-9);
    }
    EXPECT_TRUE(found);
    EXPECT_FALSE(b.extras.count(kSegmentationCounts));
  }
  // A resume that raises the text limit computes only the new texts.
  const RunResult second =
      test::run_at_root(yaml, {"output=" + out.path() + "/run"}, /*resume=*/true);
  EXPECT_EQ(second.samples_skipped, 5);
  EXPECT_EQ(second.samples_done_now, 2);
  EXPECT_EQ(second.missing, 0);
  EXPECT_EQ(ResultsReader(second.results_h5).sample_ids("bert").size(), 4u);
  // Another split of the image model's own dataset changes its samples: refused.
  expect_error(
      [&] {
        test::run_at_root(yaml, {"output=" + out.path() + "/run", "models[1].dataset.split=train"},
                          true);
      },
      {"cannot resume", "the dataset's sample settings were", "\"split\":\"train\""});
}

}  // namespace
}  // namespace xai
