// xai predict: tokenize a prompt (or preprocess an image), run one forward pass, print the most
// likely next tokens (a classifier: every class).
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "framework/cli/commands.h"
#include "framework/cli/display.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/image/image.h"
#include "framework/image/image_sample.h"
#include "framework/model/family.h"
#include "framework/model/model.h"
#include "framework/run/plan.h"
#include "framework/text/tokenizer.h"

namespace xai::cli {
namespace {

// Quoted and padded to `width` characters (code points, not bytes), for aligned columns.
std::string quoted_column(const std::string& text, size_t width) {
  std::string q = "'" + printable(text) + "'";
  size_t chars = 0;
  for (unsigned char c : q) chars += (c & 0xC0) != 0x80;
  if (chars < width) q.append(width - chars, ' ');
  return q;
}

// Every class of an image classifier for one image file.
int predict_image(const Args& args, const std::string& dir, Model& model, double load_s) {
  const std::string path = args.require("image");
  const auto t0 = std::chrono::steady_clock::now();
  const ModelSpec& s = model.spec();
  const SampleEncoder encoder = folder_encoder(dir, s);
  const ImageProcessor& processor = encoder.image_processor();
  const Image image = read_image(path);
  const std::vector<float> px = model_pixels(image, processor, encoder.geometry(), path);
  XAI_CHECK(s.classifier(), "predict: ", dir,
            " has no classification head (a bare ViT); predict shows a classifier's classes");
  ForwardRequest req;
  req.pixel_values =
      at::tensor(px, at::kFloat).view({1, 3, s.image_size, s.image_size}).to(model.device());
  req.logit_positions = at::zeros({1}, at::kLong);
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    logits = model.forward(req).logits.index({0, 0}).to(at::kCPU, at::kDouble);
  }
  const at::Tensor probs = at::softmax(logits, -1);
  const at::Tensor order = std::get<1>(probs.topk(probs.size(0)));
  const double fwd_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (args.flag("json")) {
    nlohmann::ordered_json j;
    j["model"] = dir;
    j["image"] = path;
    j["image_size"] = {image.width, image.height};
    j["preprocessing"] = processor.describe();
    for (int64_t c = 0; c < probs.size(0); ++c) {
      j["classes"].push_back({{"id", c},
                              {"label", s.labels[static_cast<size_t>(c)]},
                              {"prob", probs[c].item<double>()},
                              {"logit", logits[c].item<double>()}});
    }
    j["predicted"] = s.labels[static_cast<size_t>(order[0].item<int64_t>())];
    j["seconds"] = {{"load", load_s}, {"forward", fwd_s}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::printf("model   %s (%s, %lld layers, %lld classes)\n", dir.c_str(), s.model_type.c_str(),
              static_cast<long long>(s.num_layers), static_cast<long long>(s.labels.size()));
  std::printf("image   %s (%lldx%lld, %lld channel(s)) -> %lldx%lld pixels, %lld patches of %lld\n",
              path.c_str(), static_cast<long long>(image.width),
              static_cast<long long>(image.height), static_cast<long long>(image.channels),
              static_cast<long long>(s.image_size), static_cast<long long>(s.image_size),
              static_cast<long long>(s.num_patches()), static_cast<long long>(s.patch_size));
  std::printf("        %s\n", processor.describe().c_str());
  std::printf("classes (read at [CLS]), most likely first:\n");
  for (int64_t r = 0; r < order.size(0); ++r) {
    const int64_t id = order[r].item<int64_t>();
    std::printf("  %2lld. %s p = %.4f  logit %+.4f  id %lld\n", static_cast<long long>(r + 1),
                quoted_column(s.labels[static_cast<size_t>(id)], 24).c_str(),
                probs[id].item<double>(), logits[id].item<double>(), static_cast<long long>(id));
  }
  std::printf("load %.3f s, read and forward %.3f s\n", load_s, fwd_s);
  return 0;
}

}  // namespace

int predict(const std::vector<std::string>& argv) {
  Args args("predict", argv,
            {"model", "prompt", "text-b", "image", "top", "device", "threads", "dtype"}, {"json"});
  XAI_CHECK(args.positional().empty(), "predict: unexpected argument '", args.positional()[0],
            "' (HINT: --model DIR --prompt TEXT)");
  const std::string dir = args.require("model");
  XAI_CHECK(!(args.get("image") && (args.get("prompt") || args.get("text-b"))),
            "predict: give --image or --prompt, not both");
  const int64_t top = args.get_int("top", 5);
  XAI_CHECK(top > 0, "predict: --top must be positive");
  apply_threads_option(args, "predict");
  LoadOptions load;
  try {
    load.device = at::Device(args.get_or("device", "cpu"));
  } catch (const std::exception&) {
    throw Error("predict: --device must be cpu, cuda or cuda:N (got '" + args.get_or("device", "") +
                "')");
  }

  load.dtype = weights_dtype(args.get_or("dtype", "auto"), "predict: --dtype ");
  namespace fs = std::filesystem;
  XAI_CHECK(fs::is_directory(dir), dir, ": model folder does not exist");
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Model> model = load_model(dir, load);
  const auto t1 = std::chrono::steady_clock::now();
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  XAI_CHECK(!args.get("image") || reads_images(model->spec()),
            "predict: --image needs an image "
            "model, and ",
            dir, " reads text (", model->spec().model_type, "; HINT: --prompt TEXT)");
  if (reads_images(model->spec())) {
    XAI_CHECK(args.get("image"), "predict: ", dir, " is an image model (", model->spec().model_type,
              "): give --image PATH (PNG or JPEG), not --prompt");
    return predict_image(args, dir, *model, load_s);
  }
  const std::string prompt = args.require("prompt");
  const fs::path tok_path = fs::path(dir) / "tokenizer.json";
  XAI_CHECK(fs::exists(tok_path), tok_path.string(), ": not found (predict needs the tokenizer)");
  const Tokenizer tokenizer = Tokenizer::from_file(tok_path.string());

  // --text-b: a text pair (a classifier's premise and hypothesis), with its token types.
  const bool pair = args.get("text-b").has_value();
  const Encoding enc = pair ? tokenizer.encode_pair(prompt, args.get_or("text-b", ""), true)
                            : tokenizer.encode(prompt, /*add_special_tokens=*/true);
  XAI_CHECK(enc.size() > 0, "predict: the prompt encodes to no tokens");
  const int64_t T = static_cast<int64_t>(enc.size());
  XAI_CHECK(T <= model->spec().max_positions, "predict: the prompt has ", T,
            " tokens, more than the model's ", model->spec().max_positions, " positions");

  ForwardRequest req;
  req.input_ids = at::tensor(enc.ids, at::kLong).view({1, T});
  if (pair && model->spec().type_vocab_size > 1) {
    req.token_type_ids =
        at::tensor(std::vector<int64_t>(enc.type_ids.begin(), enc.type_ids.end()), at::kLong)
            .view({1, T});
  }
  // A classifier reads its class at [CLS] (position 0) and shows every class; a language model
  // the next token after the prompt, top K.
  const bool classes = model->spec().classifier();
  req.logit_positions = at::tensor(std::vector<int64_t>{classes ? 0 : T - 1}, at::kLong);
  at::Tensor probs, top_p, top_i, logits;
  {
    at::NoGradGuard no_grad;
    ForwardResult out = model->forward(req);
    logits = out.logits.index({0, 0}).to(at::kCPU);  // (V) or (classes)
    probs = at::softmax(logits, -1);
    const int64_t k = classes ? probs.size(0) : std::min<int64_t>(top, probs.size(0));
    auto tk = probs.topk(k);
    top_p = std::get<0>(tk);
    top_i = std::get<1>(tk);
  }
  const auto t2 = std::chrono::steady_clock::now();
  const double fwd_s = std::chrono::duration<double>(t2 - t1).count();

  if (args.flag("json")) {
    nlohmann::json j;
    j["model"] = dir;
    j["prompt"] = prompt;
    for (size_t i = 0; i < enc.size(); ++i) {
      j["tokens"].push_back({{"id", enc.ids[i]},
                             {"token", enc.tokens[i]},
                             {"begin", enc.offsets[i].begin},
                             {"end", enc.offsets[i].end}});
    }
    if (classes) {
      for (int64_t c = 0; c < probs.size(0); ++c) {
        j["classes"].push_back({{"id", c},
                                {"label", model->spec().labels[c]},
                                {"prob", probs[c].item<double>()},
                                {"logit", logits[c].item<double>()}});
      }
      j["predicted"] = model->spec().labels[top_i[0].item<int64_t>()];
    }
    for (int64_t r = 0; r < top_p.size(0) && !classes; ++r) {
      const int64_t id = top_i[r].item<int64_t>();
      j["top"].push_back(
          {{"id", id}, {"text", tokenizer.decode({id}, false)}, {"prob", top_p[r].item<double>()}});
    }
    j["seconds"] = {{"load", load_s}, {"forward", fwd_s}};
    std::cout << j.dump(2) << "\n";
    return 0;
  }

  const ModelSpec& s = model->spec();
  std::printf("model   %s (%s, %lld layers, vocabulary %lld%s)\n", dir.c_str(),
              s.model_type.c_str(), static_cast<long long>(s.num_layers),
              static_cast<long long>(s.vocab_size),
              classes ? str_cat(", ", s.labels.size(), " classes").c_str() : "");
  std::printf("prompt  %lld tokens\n", static_cast<long long>(T));
  for (size_t i = 0; i < enc.size(); ++i) {
    std::printf(
        "  %4zu  %s bytes [%lld, %lld)  id %lld%s\n", i, quoted_column(enc.tokens[i], 24).c_str(),
        static_cast<long long>(enc.offsets[i].begin), static_cast<long long>(enc.offsets[i].end),
        static_cast<long long>(enc.ids[i]), enc.special[i] ? "  (special)" : "");
  }
  if (classes) {
    std::printf("classes (read at position 0, %s), most likely first:\n", enc.tokens[0].c_str());
    for (int64_t r = 0; r < top_p.size(0); ++r) {
      const int64_t id = top_i[r].item<int64_t>();
      std::printf("  %2lld. %s p = %.4f  logit %+.4f  id %lld\n", static_cast<long long>(r + 1),
                  quoted_column(s.labels[id], 24).c_str(), top_p[r].item<double>(),
                  logits[id].item<double>(), static_cast<long long>(id));
    }
    std::printf("load %.3f s, forward %.3f s\n", load_s, fwd_s);
    return 0;
  }
  std::printf("next token after position %lld:\n", static_cast<long long>(T - 1));
  for (int64_t r = 0; r < top_p.size(0); ++r) {
    const int64_t id = top_i[r].item<int64_t>();
    std::printf("  %2lld. %s p = %.4f  id %lld\n", static_cast<long long>(r + 1),
                quoted_column(tokenizer.decode({id}, false), 24).c_str(), top_p[r].item<double>(),
                static_cast<long long>(id));
  }
  std::printf("load %.3f s, forward %.3f s\n", load_s, fwd_s);
  return 0;
}

}  // namespace xai::cli
