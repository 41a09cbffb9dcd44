// xai train: train a toy model from a YAML config; xai make-toy-data: write a toy split as
// SQuAD JSON, or the toy shapes as image files (an image folder with a JSONL index).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "datasets/toy/toy_shapes.h"
#include "datasets/toy/toy_task.h"
#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/image/image.h"
#include "framework/train/train_config.h"
#include "framework/train/trainer.h"

namespace xai::cli {

int train(const std::vector<std::string>& argv) {
  // --set may repeat, which Args does not do: take those out first.
  std::vector<std::string> rest, overrides;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--set") {
      XAI_CHECK(i + 1 < argv.size(), "train: --set needs a value (HINT: --set train.steps=100)");
      overrides.push_back(argv[++i]);
    } else if (argv[i].rfind("--set=", 0) == 0) {
      overrides.push_back(argv[i].substr(6));
    } else {
      rest.push_back(argv[i]);
    }
  }
  Args args("train", rest, {"out"}, {});
  XAI_CHECK(args.positional().size() == 1,
            "train: expected one config file (HINT: xai train configs/train/toy_gpt2.yaml)");
  const Config config = Config::load(args.positional()[0], overrides);
  TrainOptions options = read_train_options(config.root());
  config.finish_all();
  if (auto out = args.get("out")) options.output = *out;
  XAI_CHECK(!options.output.empty(), "train: no output folder (HINT: output: DIR or --out DIR)");
  const TrainResult r = train_toy_model(options, &std::cout);
  return r.test_total > 0 ? 0 : 1;
}

namespace {

// The toy shapes as files: DIR/<shape>/<id>.png and <id>.mask.png (an image_folder dataset) and
// DIR/index.jsonl with {id, image, label, mask} (a jsonl dataset); the same samples either way.
int write_toy_shapes(const std::string& dir, const toy::ToyShapeOptions& o) {
  namespace fs = std::filesystem;
  std::ofstream index;
  fs::create_directories(dir);
  const std::string index_path = (fs::path(dir) / "index.jsonl").string();
  index.open(index_path, std::ios::trunc);
  XAI_CHECK(index.good(), index_path, ": cannot create");
  for (int64_t i = 0; i < o.n; ++i) {
    const Sample s = toy::toy_shape_sample(o, i);
    const fs::path image = fs::path(s.label) / (s.id + ".png");
    const fs::path mask = fs::path(s.label) / (s.id + ".mask.png");
    fs::create_directories(fs::path(dir) / s.label);
    write_png((fs::path(dir) / image).string(), *s.image);
    write_png((fs::path(dir) / mask).string(), *s.mask);
    nlohmann::ordered_json line;
    line["id"] = s.id;
    line["image"] = image.string();
    line["label"] = s.label;
    line["mask"] = mask.string();
    index << line.dump() << "\n";
  }
  index.close();
  XAI_CHECK(index.good(), index_path, ": write failed");
  std::cout << "wrote " << o.n << " " << o.split << " toy shape images (" << o.size << "x" << o.size
            << ", with masks) to " << dir << " and their index to " << index_path << "\n";
  return 0;
}

}  // namespace

int make_toy_data(const std::vector<std::string>& argv) {
  Args args("make-toy-data", argv, {"split", "n", "seed", "task", "image-size"}, {});
  XAI_CHECK(args.positional().size() == 1,
            "make-toy-data: expected the output file (HINT: xai make-toy-data "
            "datasets/toy/data/test.json --split test --n 500; --task shapes DIR for images)");
  const std::string task = args.get_or("task", "qa");
  XAI_CHECK(task == "qa" || task == "shapes", "make-toy-data: --task must be qa or shapes (got '",
            task, "')");
  if (task == "shapes") {
    toy::ToyShapeOptions o;
    o.split = args.get_or("split", "test");
    XAI_CHECK(o.split == "train" || o.split == "test",
              "make-toy-data: --split must be train or test");
    o.n = args.get_int("n", 500);
    XAI_CHECK(o.n > 0, "make-toy-data: --n must be positive");
    const int64_t seed = args.get_int("seed", 0);
    XAI_CHECK(seed >= 0, "make-toy-data: --seed must not be negative");
    o.seed = static_cast<uint64_t>(seed);
    o.size = args.get_int("image-size", 32);
    XAI_CHECK(o.size >= 16 && o.size <= 1024, "make-toy-data: --image-size must be 16 to 1024");
    return write_toy_shapes(args.positional()[0], o);
  }
  toy::ToyOptions o;
  o.split = args.get_or("split", "test");
  o.n = args.get_int("n", 500);
  const int64_t seed = args.get_int("seed", 0);
  XAI_CHECK(seed >= 0, "make-toy-data: --seed must not be negative");
  o.seed = static_cast<uint64_t>(seed);
  const std::string path = args.positional()[0];
  const auto questions = toy::generate_toy(o);
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << toy::toy_to_squad(questions, "toy-" + o.split).dump(1) << "\n";
  out.close();
  XAI_CHECK(out.good(), path, ": write failed");
  std::cout << "wrote " << questions.size() << " " << o.split << " questions to " << path << "\n";
  return 0;
}

}  // namespace xai::cli
