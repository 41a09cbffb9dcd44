// Sweep grids, batch-script templates and profiles: no Slurm needed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "framework/common/error.h"
#include "framework/slurm/job_script.h"
#include "framework/slurm/slurm_client.h"
#include "framework/slurm/sweep.h"

namespace fs = std::filesystem;
namespace {

std::string write_tmp(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / "xai_sweep_tests";
  fs::create_directories(dir);
  const fs::path p = dir / name;
  std::ofstream(p) << text;
  return p.string();
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const xai::Error& e) {
    return e.what();
  }
  return "";
}

const char* kGrid = R"(name: g
output: /tmp/xai_sweep_tests/out
grid:
  models:
    - {name: m1, path: a}
    - {name: m2, path: b}
  explainers:
    - atman
    - {name: chefer}
  params:
    explainers[0].factor: [0.1, 0.2]
)";

}  // namespace

TEST(Template, RendersPlaceholders) {
  EXPECT_EQ(xai::render_template("a {{x}} b {{ y }}{{x}}\n", {{"x", "1"}, {"y", "two"}}, "t"),
            "a 1 b two1\n");
}

TEST(Template, UnknownPlaceholderNamesLineAndNearest) {
  const std::string e = error_of([] {
    xai::render_template("ok\n{{profle}}\n", {{"profile", ""}}, "run.sbatch");
  });
  EXPECT_NE(e.find("run.sbatch:2: unknown placeholder {{profle}}"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean {{profile}}"), std::string::npos) << e;
  EXPECT_NE(error_of([] {
              xai::render_template("{{x\n}}", {{"x", ""}}, "t");
            }).find("unclosed"),
            std::string::npos);
}

TEST(Template, ShellQuotesOddValues) {
  EXPECT_EQ(xai::shell_quote("out/a-b_1.yaml"), "out/a-b_1.yaml");
  EXPECT_EQ(xai::shell_quote("a b"), "'a b'");
  EXPECT_EQ(xai::shell_quote("it's $HOME"), "'it'\\''s $HOME'");
  EXPECT_EQ(xai::shell_quote(""), "''");
}

TEST(Template, SbatchOptionsInFixedOrder) {
  xai::SbatchOptions o;
  o.set("time", "01:00:00");
  o.set("partition", "gpu");
  o.set("gpus_per_node", "0");
  o.set("ntasks_per_node", "4");
  EXPECT_EQ(o.render(),
            "#SBATCH --partition=gpu\n#SBATCH --ntasks-per-node=4\n#SBATCH --time=01:00:00\n");
  EXPECT_NE(error_of([&] { o.set("partiton", "x"); }).find("did you mean 'partition'"),
            std::string::npos);
  o.set("account", "a b");
  EXPECT_NE(error_of([&] { o.render(); }).find("sbatch.account"), std::string::npos);
}

TEST(Sweep, ExpandsInOrderWithStableIds) {
  const xai::Sweep s = xai::load_sweep(write_tmp("grid.yaml", kGrid));
  ASSERT_EQ(s.points.size(), 8u);
  EXPECT_EQ(s.points[0].id, "m1-atman-factor=0.1");
  EXPECT_EQ(s.points[1].id, "m1-atman-factor=0.2");
  EXPECT_EQ(s.points[2].id, "m1-chefer-factor=0.1");
  EXPECT_EQ(s.points[7].id, "m2-chefer-factor=0.2");
  EXPECT_NE(s.points[1].experiment_yaml.find("factor: 0.2"), std::string::npos)
      << s.points[1].experiment_yaml;
  EXPECT_NE(s.points[0].experiment_yaml.find(
                "output: \"/tmp/xai_sweep_tests/out/points/m1-atman-factor=0.1\""),
            std::string::npos)
      << s.points[0].experiment_yaml;
  // The same point keeps its id when the grid around it changes.
  std::string smaller = kGrid;
  smaller.replace(smaller.find("    - {name: m1, path: a}\n"), 26, "");
  const xai::Sweep t = xai::load_sweep(write_tmp("grid2.yaml", smaller));
  EXPECT_EQ(t.points[0].id, "m2-atman-factor=0.1");
}

TEST(Sweep, ExcludeAndIncludeRules) {
  const std::string text = std::string(kGrid) +
                           "  exclude:\n    - {model: m2}\n    - explainer: chefer\n"
                           "      explainers[0].factor: 0.2\n"
                           "  include:\n    - model: m2\n      explainer: atman\n"
                           "      explainers[0].factor: 0.5\n";
  const xai::Sweep s = xai::load_sweep(write_tmp("rules.yaml", text));
  std::vector<std::string> ids;
  for (const auto& p : s.points) ids.push_back(p.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"m1-atman-factor=0.1", "m1-atman-factor=0.2",
                                           "m1-chefer-factor=0.1", "m2-atman-factor=0.5"}));
}

TEST(Sweep, OddValuesAreQuotedAndHashed) {
  const xai::Sweep s = xai::load_sweep(write_tmp("odd.yaml", R"(name: odd
grid:
  models: [{name: "my model/1", path: "dir with space"}]
  params:
    dataset.prompt_template: ["Q: {question}", "it's \"x\""]
)"));
  ASSERT_EQ(s.points.size(), 2u);
  for (const auto& p : s.points) {
    EXPECT_EQ(p.id.find_first_of(" /'\"{}:"), std::string::npos) << p.id;
    EXPECT_EQ(p.id.size() > 9 && p.id[p.id.size() - 9] == '-', true) << p.id;  // hash suffix
  }
  EXPECT_NE(s.points[0].id, s.points[1].id);
  EXPECT_NE(s.points[0].experiment_yaml.find("prompt_template: \"Q: {question}\""),
            std::string::npos)
      << s.points[0].experiment_yaml;
  EXPECT_NE(s.points[1].experiment_yaml.find("it's \\\"x\\\""), std::string::npos)
      << s.points[1].experiment_yaml;
}

TEST(Sweep, BadInputIsOneLineNamingTheField) {
  auto err = [](const std::string& name, const std::string& text) {
    const std::string e = error_of([&] { xai::load_sweep(write_tmp(name, text)); });
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    return e;
  };
  EXPECT_NE(err("u.yaml", "grid: {models: [{name: a}]}\nmax_concurent: 2\n")
                .find("max_concurent: unknown key (did you mean 'max_concurrent'?)"),
            std::string::npos);
  EXPECT_NE(err("e.yaml", "grid:\n  models: []\n").find("grid.models: empty list"),
            std::string::npos);
  EXPECT_NE(err("n.yaml", "grid: {}\n").find("grid: no axes"), std::string::npos);
  EXPECT_NE(err("d.yaml", "grid:\n  explainers: [atman, atman]\n").find("duplicate point"),
            std::string::npos);
  EXPECT_NE(err("p.yaml", "grid:\n  params: {a.b: [1, 1]}\n").find("duplicate point"),
            std::string::npos);
  EXPECT_NE(err("i.yaml", "grid:\n  explainers: [atman, chefer]\n  include: [{explainer: atman}]\n")
                .find("duplicate point 'atman'"),
            std::string::npos);
  EXPECT_NE(err("r.yaml", "grid:\n  explainers: [atman]\n  exclude: [{explaner: atman}]\n")
                .find("grid.exclude[0].explaner: unknown axis (did you mean 'explainer'?)"),
            std::string::npos);
  EXPECT_NE(err("x.yaml", "grid:\n  explainers: [atman]\n  exclude: [{explainer: atman}]\n")
                .find("no points left"),
            std::string::npos);
}

TEST(Profile, MissingTemplateIsAnError) {
  const std::string p = write_tmp("site.yaml", "templates: {run: ../nope.sbatch}\n");
  const std::string e = error_of([&] { xai::load_profile(p); });
  EXPECT_NE(e.find("templates.run: template '../nope.sbatch' not found"), std::string::npos) << e;
  EXPECT_NE(
      error_of([] { xai::load_profile("no-such-profile"); }).find("profile 'no-such-profile'"),
      std::string::npos);
}

TEST(Profile, ShippedProfilesLoad) {
  for (const char* name : {"local", "generic"}) {
    const xai::Profile p =
        xai::load_profile(std::string(XAI_SOURCE_DIR) + "/jobs/profiles/" + name + ".yaml");
    EXPECT_EQ(p.launch_prefix().rfind("srun --mpi=pmix", 0), 0u) << name;
    EXPECT_FALSE(p.sbatch.render().empty());
  }
}

TEST(Squeue, ExpandsPendingArrayRanges) {
  EXPECT_EQ(xai::expand_squeue_id("12"), (std::vector<std::string>{"12"}));
  EXPECT_EQ(xai::expand_squeue_id("12_3"), (std::vector<std::string>{"12_3"}));
  EXPECT_EQ(xai::expand_squeue_id("12_[1-3,7%2]"),
            (std::vector<std::string>{"12_1", "12_2", "12_3", "12_7"}));
}
