// xai explain: one prompt and target (or one image and class), one method, relevance per prompt
// token (per image patch) on the terminal, as JSON, or as a heatmap overlay PNG.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "framework/cli/commands.h"
#include "framework/cli/display.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/model/family.h"
#include "framework/model/generate.h"
#include "framework/model/model.h"
#include "framework/run/machine.h"
#include "framework/run/overlays.h"
#include "framework/run/plan.h"
#include "framework/text/encoded.h"
#include "framework/text/sample_encoder.h"
#include "methods/attribution_tree.h"
#include "methods/explainer.h"

namespace xai::cli {
namespace {

// The text of the token at a position: its bytes of the prompt (or target) when it has a span.
std::string token_text(const Encoded& e, const Sample& s, int64_t i) {
  const ByteSpan b = e.offsets[i];
  const std::string& src = i < e.prompt_len ? s.prompt : s.target;
  if (b.end > b.begin && b.end <= static_cast<int64_t>(src.size())) {
    return src.substr(b.begin, b.end - b.begin);
  }
  return e.tokens[i];
}

// A tensor's values, flattened row-major, as doubles on the CPU.
std::vector<double> flat_values(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU, at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::string shape_text(const at::Tensor& t) {
  std::string out = "(";
  for (int64_t d = 0; d < t.dim(); ++d) out += (d ? ", " : "") + std::to_string(t.size(d));
  return out + (t.dim() == 1 ? ",)" : ")");
}

// A target's name: a classifier's class name, else the token's text.
std::string target_name(const Model& model, const SampleEncoder& encoder, int64_t id) {
  const auto& labels = model.spec().labels;
  if (!labels.empty()) return labels[static_cast<size_t>(id)];
  return encoder.tokenizer().decode({id}, false);
}

// An image's explanation on the terminal: the patch grid of relevance (0-99, as a share of the
// largest |score|) and the ten most relevant patches.
void print_image_grid(const Encoded& enc, const std::vector<double>& rel, int64_t grid) {
  double mx = 0;
  for (size_t i = 1; i < rel.size(); ++i) {
    if (!std::isnan(rel[i])) mx = std::max(mx, std::abs(rel[i]));
  }
  std::printf("relevance per patch (%lldx%lld grid, 99 = the largest |score|):\n",
              static_cast<long long>(grid), static_cast<long long>(grid));
  for (int64_t r = 0; r < grid; ++r) {
    std::printf("  ");
    for (int64_t c = 0; c < grid; ++c) {
      const double v = rel[static_cast<size_t>(1 + r * grid + c)];
      if (std::isnan(v)) {
        std::printf("  -");
      } else {
        std::printf(" %2d", mx > 0 ? static_cast<int>(std::lround(99 * std::abs(v) / mx)) : 0);
      }
    }
    std::printf("\n");
  }
  std::vector<int64_t> order;
  for (int64_t i = 1; i < enc.size(); ++i) {
    if (!std::isnan(rel[static_cast<size_t>(i)])) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return std::abs(rel[static_cast<size_t>(a)]) > std::abs(rel[static_cast<size_t>(b)]);
  });
  if (order.size() > 10) order.resize(10);
  std::printf("most relevant patches (row, column from the top left):");
  for (int64_t i : order) {
    std::printf(" %s=%.4g", enc.tokens[static_cast<size_t>(i)].substr(6).c_str(),
                rel[static_cast<size_t>(i)]);
  }
  std::printf("\n");
}

// --generate N: the model's own continuation of the prompt (greedy, or sampled at --temperature
// with --seed), up to N tokens, ending at the model's EOS or after the token that completes
// --stop; it becomes the sample's target, as token ids (no re-tokenisation of its text).
Generation generate_target(const Args& args, Model& model, const SampleEncoder& encoder,
                           Sample& sample) {
  XAI_CHECK(!model.spec().classifier(),
            "explain: --generate continues a language model's prompt; this model is a classifier "
            "(HINT: --target CLASS)");
  GenerateOptions o;
  o.max_new_tokens = args.get_int("generate", 20);
  const std::string temperature = args.get_or("temperature", "0");
  try {
    o.temperature = std::stod(temperature);
  } catch (const std::exception&) {
    throw Error(str_cat("explain: --temperature must be a number (got '", temperature, "')"));
  }
  o.seed = static_cast<uint64_t>(args.get_int("seed", 0));
  if (model.spec().eos_token_id) o.stop_ids.push_back(*model.spec().eos_token_id);
  const Tokenizer& tok = encoder.tokenizer();
  if (auto stop = args.get("stop")) {
    XAI_CHECK(!stop->empty(), "explain: --stop needs a string");
    o.stop = [&tok, text = *stop](const std::vector<int64_t>& ids) {
      return tok.decode(ids).find(text) != std::string::npos;
    };
  }
  const Encoding prompt = tok.encode(sample.prompt, /*add_special_tokens=*/true);
  Generation g = generate(model, prompt.ids, o);
  sample.target_ids = g.ids;
  sample.target = tok.decode(g.ids, /*skip_special_tokens=*/false);
  return g;
}

// Extras this small are printed in full on one line; larger ones only by shape (see --json).
constexpr int64_t kExtraValuesShown = 16;

}  // namespace

int explain(const std::vector<std::string>& argv) {
  Args args("explain", argv,
            {"model", "prompt", "text-b", "image", "overlay", "tree", "target", "method", "set",
             "device", "threads", "dtype", "generate", "temperature", "seed", "stop"},
            {"json", "no-color", "explain-special-tokens"});
  XAI_CHECK(args.positional().empty(), "explain: unexpected argument '", args.positional()[0],
            "' (HINT: --model DIR --prompt TEXT --target TEXT)");
  const std::string dir = args.require("model");
  Sample sample;
  sample.id = "cli";
  if (args.get("image")) {  // an image for an image classifier
    XAI_CHECK(!args.get("prompt") && !args.get("text-b"),
              "explain: give --image or --prompt, not both");
    sample.image_path = *args.get("image");
    sample.image = std::make_shared<const Image>(read_image(sample.image_path));
  } else {
    XAI_CHECK(!args.get("overlay"),
              "explain: --overlay draws an image's explanation (HINT: "
              "--image PATH)");
    sample.prompt = args.require("prompt");
  }
  if (args.get("text-b").has_value()) {  // a text pair for a classifier: prompt, '\n', text b
    sample.pair_split = static_cast<int64_t>(sample.prompt.size()) + 1;
    sample.prompt += "\n" + args.get_or("text-b", "");
  }
  const bool generating = args.get("generate").has_value();
  XAI_CHECK(!(generating && args.get("target")), "explain: give --target or --generate, not both");
  XAI_CHECK(generating || !(args.get("temperature") || args.get("seed") || args.get("stop")),
            "explain: --temperature, --seed and --stop go with --generate N");
  const std::string target = generating ? std::string() : args.require("target");
  sample.explain_special_tokens = args.flag("explain-special-tokens");
  const std::string method = args.get_or("method", "atman");
  apply_threads_option(args, "explain");

  // Method parameters come as --set key=value, read as the method's YAML mapping.
  Config params = Config::parse("{}", "--set", args.get_all("set"));
  std::unique_ptr<Explainer> explainer = make_explainer(method, params.root());
  params.finish_all();

  LoadOptions load;
  load.device = at::Device(args.get_or("device", "cpu"));
  load.dtype = weights_dtype(args.get_or("dtype", "auto"), "explain: --dtype ");
  std::unique_ptr<Model> model = load_model(dir, load);
  XAI_CHECK(sample.is_image() == reads_images(model->spec()), "explain: ", dir,
            sample.is_image()
                ? " reads text, not images (HINT: --prompt TEXT)"
                : " is an image model: give --image PATH (PNG or JPEG), not --prompt");
  const SampleEncoder encoder = folder_encoder(dir, model->spec());
  // A classifier's target is a class (its label name or id); a language model's, text, or what
  // the model generates.
  Generation generated;
  if (generating) {
    generated = generate_target(args, *model, encoder, sample);
  } else {
    (model->spec().classifier() ? sample.label : sample.target) = target;
  }
  const Encoded enc = encoder.encode(sample, model->spec().max_positions, model->spec().labels);
  ExplainContext ctx;
  Explanation ex = explainer->explain(*model, enc, ctx);
  if (const std::string why = keep_explained(ex, enc); !why.empty()) {
    throw Error(method + ": " + why);
  }
  const std::vector<double> rel = flat_values(ex.relevance);  // (T), NaN where not explained
  const std::vector<double> pt = flat_values(ex.per_target);  // (n, T) row-major
  const int64_t P = enc.prompt_len, T = enc.size(), n = ex.per_target.size(0);
  // The signed score of a position: its per-target scores summed over the targets (the sign that
  // a square or abs aggregation hides).
  auto signed_score = [&](int64_t i) {
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += pt[static_cast<size_t>(k * T + i)];
    return s;
  };
  double mx = 0;
  for (int64_t i = 0; i < P; ++i) {
    if (enc.explain_mask[i]) mx = std::max(mx, std::abs(rel[i]));
  }
  const std::string settings = explainer->settings();
  const std::string sign = explainer->score_sign();
  const int64_t grid = enc.image() ? encoder.geometry().grid() : 0;
  if (auto tree_svg = args.get("tree")) {  // AttAttr's attribution tree (attattr, tree: true)
    XAI_CHECK(ex.extras.count("tree_edges") && ex.extras.count("tree_top"),
              "explain: --tree draws "
              "attattr's attribution tree (HINT: --method attattr --set tree=true)");
    const AttributionTree tree =
        tree_from_rows(static_cast<int64_t>(ex.extras.at("tree_top").item<float>()),
                       flat_values(ex.extras.at("tree_edges")));
    std::vector<std::string> tokens;
    for (int64_t i = 0; i < T; ++i) tokens.push_back(token_text(enc, sample, i));
    // OUT.json: the tree as JSON; any other name: the SVG drawing.
    const bool as_json = std::filesystem::path(*tree_svg).extension() == ".json";
    std::ofstream out(*tree_svg);
    out << (as_json ? attribution_tree_json(tree, tokens)
                    : attribution_tree_svg(tree, tokens, model->spec().num_layers,
                                           method + " on " + dir));
    out.close();
    XAI_CHECK(out.good(), *tree_svg, ": cannot write the attribution tree");
  }
  if (auto overlay = args.get("overlay")) {
    write_overlay(*overlay, sample, enc, std::vector<float>(rel.begin(), rel.end()), encoder);
  }

  if (args.flag("json")) {
    const auto number = [](double v) {
      return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
    };
    nlohmann::ordered_json j;
    j["model"] = dir;
    j["method"] = method;
    j["parameters"] = nlohmann::json::parse(explainer->params_json());
    j["settings"] = settings;
    j["score_sign"] = sign;
    j["explain_special_tokens"] = sample.explain_special_tokens;
    if (generating) {
      j["generated"] = sample.target;
      j["generated_ids"] = generated.ids;
      j["stopped_by"] = generated.stopped_by;
    }
    for (int64_t i = 0; i < T; ++i) {
      const bool explained = enc.explain_mask[i] != 0;
      nlohmann::ordered_json t;
      t["position"] = i;
      t["token"] = token_text(enc, sample, i);
      t["id"] = enc.ids[static_cast<size_t>(i)];
      t["in"] = i < P ? "prompt" : "target";
      t["begin"] = enc.offsets[i].begin;
      t["end"] = enc.offsets[i].end;
      t["explained"] = explained;
      t["relevance"] = number(rel[i]);
      t["signed"] = explained ? number(signed_score(i)) : nlohmann::ordered_json(nullptr);
      if (explained) {
        std::vector<double> per;
        for (int64_t k = 0; k < n; ++k) per.push_back(pt[static_cast<size_t>(k * T + i)]);
        t["per_target"] = per;
      } else {
        t["per_target"] = nullptr;
      }
      j["tokens"].push_back(t);
    }
    for (int64_t k = 0; k < enc.num_targets(); ++k) {
      j["targets"].push_back(target_name(*model, encoder, enc.target_ids[k]));
    }
    if (enc.image()) {
      j["image"] = sample.image_path;
      nlohmann::ordered_json rows = nlohmann::ordered_json::array();
      for (int64_t r = 0; r < grid; ++r) {
        nlohmann::ordered_json row = nlohmann::ordered_json::array();
        for (int64_t c = 0; c < grid; ++c) row.push_back(number(rel[1 + r * grid + c]));
        rows.push_back(row);
      }
      j["grid"] = rows;
      if (auto overlay = args.get("overlay")) j["overlay"] = *overlay;
    }
    if (enc.classification()) j["class_id"] = enc.target_ids[0];
    j["cost"] = {{"seconds", ex.cost.seconds},
                 {"forward_passes", ex.cost.forward_passes},
                 {"backward_passes", ex.cost.backward_passes},
                 {"machine", nlohmann::ordered_json::parse(machine_report_json())}};
    // Extras: {name: {shape, values (row-major)}}.
    j["extras"] = nlohmann::ordered_json::object();
    for (const auto& [name, t] : ex.extras) {
      j["extras"][name] = {{"shape", t.sizes().vec()}, {"values", flat_values(t)}};
    }
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  const bool color = !args.flag("no-color") && ::isatty(1);
  if (enc.image()) {
    std::printf("%s on %s: image %s, %lldx%lld patches, class '%s' (id %lld)\n", method.c_str(),
                dir.c_str(), sample.image_path.c_str(), static_cast<long long>(grid),
                static_cast<long long>(grid),
                target_name(*model, encoder, enc.target_ids[0]).c_str(),
                static_cast<long long>(enc.target_ids[0]));
    if (!settings.empty()) std::printf("settings: %s\n", settings.c_str());
    print_image_grid(enc, rel, grid);
    if (auto overlay = args.get("overlay"))
      std::printf("overlay written to %s\n", overlay->c_str());
    std::printf("%.3f s, %lld forward and %lld backward passes\n", ex.cost.seconds,
                static_cast<long long>(ex.cost.forward_passes),
                static_cast<long long>(ex.cost.backward_passes));
    return 0;
  }
  if (enc.classification()) {
    std::printf("%s on %s: %lld tokens, class '%s' (id %lld)\n", method.c_str(), dir.c_str(),
                static_cast<long long>(P), target_name(*model, encoder, enc.target_ids[0]).c_str(),
                static_cast<long long>(enc.target_ids[0]));
  } else {
    if (generating) {
      std::printf("generated %lld token(s) (stopped by %s): '%s'\n",
                  static_cast<long long>(generated.ids.size()), generated.stopped_by.c_str(),
                  printable(sample.target).c_str());
    }
    std::printf("%s on %s: %lld prompt tokens, %lld target token(s)\n", method.c_str(), dir.c_str(),
                static_cast<long long>(P), static_cast<long long>(enc.num_targets()));
  }
  if (!settings.empty()) std::printf("settings: %s\n", settings.c_str());
  // The prompt as running text, each token on a background as hot as its relevance.
  if (color) {
    for (int64_t i = 0; i < P; ++i) {
      const std::string text = token_text(enc, sample, i);
      if (!enc.explain_mask[i]) {
        std::printf("%s", text.c_str());
        continue;
      }
      const double v = mx > 0 ? std::abs(rel[i]) / mx : 0;
      const int level = static_cast<int>(v * 5 + 0.5);  // 0..5 on the 256-colour red ramp
      const int ramp[6] = {255, 224, 217, 210, 203, 196};
      std::printf("\033[48;5;%dm\033[38;5;16m%s\033[0m", ramp[level], text.c_str());
    }
    std::printf("  ->  %s\n\n", enc.classification()
                                    ? target_name(*model, encoder, enc.target_ids[0]).c_str()
                                    : sample.target.c_str());
  }
  std::printf("  pos  %-20s %12s %12s  %s\n", "token", "relevance", "signed", "");
  int64_t special = 0;
  for (int64_t i = 0; i < P; ++i) {
    const std::string text = "'" + printable(token_text(enc, sample, i)) + "'";
    if (!enc.explain_mask[i]) {
      const bool is_special = enc.offsets[i].begin == enc.offsets[i].end;
      if (is_special) ++special;
      std::printf("  %3lld  %-20s %12s %12s  %s\n", static_cast<long long>(i), text.c_str(), "-",
                  "-", is_special ? "(special token, not explained)" : "(not explained)");
      continue;
    }
    const double v = rel[i];
    const int bar = mx > 0 ? static_cast<int>(30 * std::abs(v) / mx + 0.5) : 0;
    std::printf("  %3lld  %-20s %12.5g %+12.5g  %s\n", static_cast<long long>(i), text.c_str(), v,
                signed_score(i), std::string(bar, '#').c_str());
  }
  std::printf("signed: the per-target scores summed over the %s%s%s\n",
              enc.classification() ? "class (one target)" : "target tokens",
              sign.empty() ? "" : "; each is ", sign.c_str());
  if (special > 0 && !sample.explain_special_tokens) {
    std::printf(
        "%lld special token(s) of the tokenizer get no score (HINT: "
        "--explain-special-tokens to score them too)\n",
        static_cast<long long>(special));
  }
  std::printf("%.3f s, %lld forward and %lld backward passes\n", ex.cost.seconds,
              static_cast<long long>(ex.cost.forward_passes),
              static_cast<long long>(ex.cost.backward_passes));
  for (const auto& [name, t] : ex.extras) {
    std::printf("%s %s:", name.c_str(), shape_text(t).c_str());
    if (t.numel() <= kExtraValuesShown) {
      for (double v : flat_values(t)) std::printf(" %.5g", v);
      std::printf("\n");
    } else {
      std::printf(" %lld values (see --json)\n", static_cast<long long>(t.numel()));
    }
  }
  return 0;
}

}  // namespace xai::cli
