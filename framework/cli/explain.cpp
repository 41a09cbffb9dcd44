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
#include <sstream>

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
#include "framework/text/chat.h"
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
Generation generate_answer(const Args& args, Model& model, const SampleEncoder& encoder,
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
  const std::string stop = args.get_or("stop", "");
  XAI_CHECK(!args.get("stop") || !stop.empty(), "explain: --stop needs a string");
  return generate_target(model, encoder.tokenizer(), sample, o, stop);
}

// Extras this small are printed in full on one line; larger ones only by shape (see --json).
constexpr int64_t kExtraValuesShown = 16;

// The explanation's segments (add_segment_scores' extras): text, span, positions and scores.
struct SegmentRow {
  std::string text;
  int64_t first, end, begin, end_byte;
  double relevance, signed_score;
  std::vector<double> per_target;
};
std::vector<SegmentRow> segment_rows(const Explanation& ex, const Encoded& enc,
                                     const Sample& sample) {
  std::vector<SegmentRow> out;
  if (enc.segments.empty()) return out;
  const std::vector<double> rel = flat_values(ex.extras.at(kSegmentRelevanceExtra));
  const std::vector<double> per = flat_values(ex.extras.at(kSegmentPerTargetExtra));
  const size_t S = enc.segments.size(), n = per.size() / std::max<size_t>(S, 1);
  for (size_t s = 0; s < S; ++s) {
    const Segment& g = enc.segments[s];
    SegmentRow r{g.span.end > g.span.begin
                     ? sample.prompt.substr(g.span.begin, g.span.end - g.span.begin)
                     : enc.tokens[static_cast<size_t>(g.first)],
                 g.first,
                 g.end,
                 g.span.begin,
                 g.span.end,
                 rel[s],
                 0,
                 {}};
    for (size_t k = 0; k < n; ++k) {
      r.per_target.push_back(per[k * S + s]);
      r.signed_score += per[k * S + s];
    }
    out.push_back(std::move(r));
  }
  return out;
}

nlohmann::ordered_json segments_json(const std::vector<SegmentRow>& rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t s = 0; s < rows.size(); ++s) {
    const SegmentRow& r = rows[s];
    out.push_back({{"index", s},
                   {"text", r.text},
                   {"begin", r.begin},
                   {"end", r.end_byte},
                   {"positions", {r.first, r.end}},
                   {"relevance", r.relevance},
                   {"signed", r.signed_score},
                   {"per_target", r.per_target}});
  }
  return out;
}

// The segments as a table, each with its share of the largest |relevance| as a bar.
void print_segments(const std::vector<SegmentRow>& rows, const std::string& level) {
  double mx = 0;
  for (const SegmentRow& r : rows) mx = std::max(mx, std::abs(r.relevance));
  std::printf("%zu %s segments:\n  seg  %-40s %12s %12s\n", rows.size(), level.c_str(), "text",
              "relevance", "signed");
  for (size_t s = 0; s < rows.size(); ++s) {
    const SegmentRow& r = rows[s];
    std::string text = printable(r.text);
    if (text.size() > 38) text = text.substr(0, 35) + "...";
    const int bar = mx > 0 ? static_cast<int>(30 * std::abs(r.relevance) / mx + 0.5) : 0;
    std::printf("  %3zu  %-40s %12.5g %+12.5g  %s\n", s, ("'" + text + "'").c_str(), r.relevance,
                r.signed_score, std::string(bar, '#').c_str());
  }
}

// What `explain` shows, computed once for the JSON and the terminal output.
struct Shown {
  const Args& args;
  const std::string& dir;
  const std::string& method;
  const Explainer* explainer;
  const Model* model;
  const SampleEncoder& encoder;
  const Sample& sample;
  const Encoded& enc;
  const Explanation& ex;
  const Generation* generated = nullptr;  // --generate: what the model generated
  std::string level;                      // the granularity used (auto's choice)
  std::vector<SegmentRow> segments;
  std::vector<double> rel, pt;  // (T), NaN where not explained; (n, T) row-major
  int64_t P = 0, T = 0, n = 0, grid = 0;
  double mx = 0;  // the largest |relevance| over the explained prompt positions
  std::string settings, sign;
  // A position's per-target scores summed over the targets (the sign that a square or abs
  // aggregation hides).
  double signed_score(int64_t i) const {
    double s = 0;
    for (int64_t k = 0; k < n; ++k) s += pt[static_cast<size_t>(k * T + i)];
    return s;
  }
  void print_json() const;  // --json: the whole explanation as one JSON object on stdout
  // On the terminal: the prompt coloured by relevance (on a terminal), the tokens' (or segments')
  // table, the cost and the extras; an image's patch grid.
  void print_text() const;
};

void Shown::print_json() const {
  const auto number = [](double v) {
    return std::isnan(v) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(v);
  };
  nlohmann::ordered_json j;
  j["model"] = dir;
  j["method"] = method;
  j["parameters"] = nlohmann::json::parse(explainer->parameters_json());
  j["settings"] = settings;
  j["score_sign"] = sign;
  j["explain_special_tokens"] = sample.explain_special_tokens;
  j["granularity"] = level;
  if (generated) {
    j["generated"] = sample.target;
    j["generated_ids"] = generated->ids;
    j["stopped_by"] = generated->stopped_by;
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
  if (!segments.empty()) j["segments"] = segments_json(segments);
  for (int64_t k = 0; k < enc.num_targets(); ++k) {
    j["targets"].push_back(target_name(*model, encoder, enc.target_ids[k]));
  }
  if (!enc.foil_ids.empty()) {  // a contrast: each target step's foil
    j["foil"] = sample.foil;
    j["foil_ids"] = enc.foil_ids;
    for (int64_t id : enc.foil_ids) j["foils"].push_back(target_name(*model, encoder, id));
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
    if (is_segment_extra(name)) continue;  // listed under "segments"
    j["extras"][name] = {{"shape", t.sizes().vec()}, {"values", flat_values(t)}};
  }
  std::cout << j.dump(2) << "\n";
}

void Shown::print_text() const {
  const bool color = !args.flag("no-color") && ::isatty(1);
  if (enc.image()) {
    std::printf("%s on %s: image %s, %lldx%lld patches, class '%s' (id %lld)\n", method.c_str(),
                dir.c_str(), sample.image_path.c_str(), static_cast<long long>(grid),
                static_cast<long long>(grid),
                target_name(*model, encoder, enc.target_ids[0]).c_str(),
                static_cast<long long>(enc.target_ids[0]));
    if (!settings.empty()) std::printf("settings: %s\n", settings.c_str());
    if (!enc.foil_ids.empty()) {
      std::printf("contrast: against the class '%s': each score is f(class) - f(foil)\n",
                  target_name(*model, encoder, enc.foil_ids[0]).c_str());
    }
    print_image_grid(enc, rel, grid);
    if (auto overlay = args.get("overlay"))
      std::printf("overlay written to %s\n", overlay->c_str());
    std::printf("%.3f s, %lld forward and %lld backward passes\n", ex.cost.seconds,
                static_cast<long long>(ex.cost.forward_passes),
                static_cast<long long>(ex.cost.backward_passes));
    return;
  }
  if (enc.classification()) {
    std::printf("%s on %s: %lld tokens, class '%s' (id %lld)\n", method.c_str(), dir.c_str(),
                static_cast<long long>(P), target_name(*model, encoder, enc.target_ids[0]).c_str(),
                static_cast<long long>(enc.target_ids[0]));
  } else {
    if (generated) {
      std::printf("generated %lld token(s) (stopped by %s): '%s'\n",
                  static_cast<long long>(generated->ids.size()), generated->stopped_by.c_str(),
                  printable(sample.target).c_str());
    }
    std::printf("%s on %s: %lld prompt tokens, %lld target token(s)\n", method.c_str(), dir.c_str(),
                static_cast<long long>(P), static_cast<long long>(enc.num_targets()));
  }
  if (!settings.empty()) std::printf("settings: %s\n", settings.c_str());
  if (!enc.foil_ids.empty()) {
    std::printf(
        "contrast: against the foil '%s' (%zu token(s)): each score is f(target) - f(foil)\n",
        printable(sample.foil).c_str(), enc.foil_ids.size());
  }
  // The prompt as running text, each token on a background as hot as its relevance.
  if (color) {
    for (int64_t i = 0; i < P; ++i) {
      const std::string text = token_text(enc, sample, i);
      if (!enc.explain_mask[i]) {
        std::printf("%s", text.c_str());
        continue;
      }
      const double v = mx > 0 ? std::abs(rel[i]) / mx : 0;
      const int heat = static_cast<int>(v * 5 + 0.5);  // 0..5 on the 256-colour red ramp
      const int ramp[6] = {255, 224, 217, 210, 203, 196};
      std::printf("\033[48;5;%dm\033[38;5;16m%s\033[0m", ramp[heat], text.c_str());
    }
    std::printf("  ->  %s\n\n", enc.classification()
                                    ? target_name(*model, encoder, enc.target_ids[0]).c_str()
                                    : sample.target.c_str());
  }
  // The tokens' table; a method that perturbs whole segments gives each token its segment's
  // score, so it shows the segments' table alone.
  const bool token_rows = segments.empty() || !explainer->perturbs_segments();
  if (token_rows) std::printf("  pos  %-20s %12s %12s  %s\n", "token", "relevance", "signed", "");
  int64_t special = 0;
  for (int64_t i = 0; i < P; ++i) {
    const std::string text = "'" + printable(token_text(enc, sample, i)) + "'";
    if (!enc.explain_mask[i]) {
      const bool is_special = enc.offsets[i].begin == enc.offsets[i].end;
      if (is_special) ++special;
      if (!token_rows) continue;
      std::printf("  %3lld  %-20s %12s %12s  %s\n", static_cast<long long>(i), text.c_str(), "-",
                  "-", is_special ? "(special token, not explained)" : "(not explained)");
      continue;
    }
    if (!token_rows) continue;
    const double v = rel[i];
    const int bar = mx > 0 ? static_cast<int>(30 * std::abs(v) / mx + 0.5) : 0;
    std::printf("  %3lld  %-20s %12.5g %+12.5g  %s\n", static_cast<long long>(i), text.c_str(), v,
                signed_score(i), std::string(bar, '#').c_str());
  }
  if (!segments.empty()) {
    print_segments(segments, level);
    std::printf("%s\n", explainer->perturbs_segments()
                            ? "each segment perturbed as one (all its tokens together)"
                            : "a segment's scores are the sums of its tokens' (above)");
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
    if (is_segment_extra(name)) continue;  // the segment table above
    std::printf("%s %s:", name.c_str(), shape_text(t).c_str());
    if (t.numel() <= kExtraValuesShown) {
      for (double v : flat_values(t)) std::printf(" %.5g", v);
      std::printf("\n");
    } else {
      std::printf(" %lld values (see --json)\n", static_cast<long long>(t.numel()));
    }
  }
}

}  // namespace

int explain(const std::vector<std::string>& argv) {
  Args args(
      "explain", argv,
      {"model", "prompt", "text-b", "image", "overlay", "tree", "target", "method", "set", "device",
       "threads", "dtype", "generate", "temperature", "seed", "stop", "granularity", "foil",
       "messages"},
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
    if (auto file = args.get("messages")) {  // a conversation: the model's chat template
      XAI_CHECK(!args.get("prompt") && !args.get("text-b"),
                "explain: give --messages or --prompt, not both");
      std::ifstream in(*file, std::ios::binary);
      XAI_CHECK(in.good(), "explain: --messages: cannot read ", *file);
      std::ostringstream text;
      text << in.rdbuf();
      sample.messages = parse_messages(text.str(), *file);
    } else {
      sample.prompt = args.require("prompt");
    }
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
  if (auto foil = args.get("foil")) {
    XAI_CHECK(!foil->empty(), "explain: --foil needs the answer (or class) to contrast with");
    sample.foil = *foil;
  }
  const std::string method = args.get_or("method", "atman");
  apply_threads_option(args, "explain");

  // Method parameters come as --set key=value, read as the method's YAML mapping.
  Config params = Config::parse("{}", "--set", args.get_all("set"));
  std::unique_ptr<Explainer> explainer = make_explainer(method, params.root());
  params.finish_all();
  if (auto g = args.get("granularity")) {
    XAI_CHECK(explainer->granularity().token(),
              "explain: give --granularity or --set granularity=..., not both");
    try {
      explainer->set_granularity(parse_granularity(*g));
    } catch (const Error& e) {
      throw Error(std::string("explain: --granularity: ") + e.what());
    }
  }

  LoadOptions load;
  load.device = at::Device(args.get_or("device", "cpu"));
  load.dtype = weights_dtype(args.get_or("dtype", "auto"), "explain: --dtype ");
  std::unique_ptr<Model> model = load_model(dir, load);
  XAI_CHECK(sample.is_image() == reads_images(model->spec()), "explain: ", dir,
            sample.is_image()
                ? " reads text, not images (HINT: --prompt TEXT)"
                : " is an image model: give --image PATH (PNG or JPEG), not --prompt");
  const SampleEncoder encoder = folder_encoder(dir, model->spec());
  if (!encoder.images()) apply_chat_template(sample, encoder.tokenizer());
  // A classifier's target is a class (its label name or id); a language model's, text, or what
  // the model generates.
  Generation generated;
  if (generating) {
    generated = generate_answer(args, *model, encoder, sample);
  } else {
    (model->spec().classifier() ? sample.label : sample.target) = target;
  }
  std::string level;  // the granularity used (auto's choice)
  const Encoded enc = with_segments(
      *explainer, sample.prompt,
      encoder.encode(sample, model->spec().max_positions, model->spec().labels), &level);
  ExplainContext ctx;
  Explanation ex = explainer->explain(*model, enc, ctx);
  if (const std::string why = keep_explained(ex, enc); !why.empty()) {
    throw Error(method + ": " + why);
  }
  add_segment_scores(ex, enc, explainer->perturbs_segments());
  add_contrast(ex, enc);
  Shown v{args, dir, method, explainer.get(), model.get(), encoder, sample, enc, ex};
  v.generated = generating ? &generated : nullptr;
  v.level = level;
  v.segments = segment_rows(ex, enc, sample);
  v.rel = flat_values(ex.relevance);  // (T), NaN where not explained
  v.pt = flat_values(ex.per_target);  // (n, T) row-major
  v.P = enc.prompt_len;
  v.T = enc.size();
  v.n = ex.per_target.size(0);
  for (int64_t i = 0; i < v.P; ++i) {
    if (enc.explain_mask[i]) v.mx = std::max(v.mx, std::abs(v.rel[i]));
  }
  v.settings = explainer->settings_line();
  v.sign = explainer->score_sign();
  v.grid = enc.image() ? encoder.geometry().grid() : 0;
  const int64_t T = v.T;
  const std::vector<double>& rel = v.rel;
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
    v.print_json();
  } else {
    v.print_text();
  }
  return 0;
}

}  // namespace xai::cli
