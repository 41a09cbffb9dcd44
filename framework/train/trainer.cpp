// See trainer.h. Plain LibTorch autograd over the framework's own model code: the weights given
// to build_model are the parameters the optimizer updates.
#include "framework/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

#include "datasets/dataset.h"
#include "datasets/prompt_template.h"
#include "datasets/toy/toy_task.h"
#include "framework/common/error.h"
#include "framework/model/rope.h"
#include "framework/model/synthetic.h"
#include "framework/text/bpe_trainer.h"
#include "framework/train/train_common.h"

namespace xai {
namespace {

using namespace train_detail;

ModelSpec make_spec(const TrainModelOptions& m, int64_t vocab_size) {
  XAI_CHECK(m.family == "gpt2" || m.family == "llama",
            "train: model.family must be gpt2 or llama (got '", m.family, "')");
  ModelShape shape;
  shape.family = m.family;
  shape.layers = m.layers;
  shape.hidden = m.hidden;
  shape.heads = m.heads;
  shape.kv_heads = m.kv_heads;
  shape.head_dim = m.head_dim;
  shape.intermediate = m.intermediate;
  shape.vocab = vocab_size;
  shape.max_positions = m.max_positions;
  shape.tie_embeddings = m.tie_embeddings ? 1 : 0;
  shape.rope_theta = m.rope_theta;
  // The same checks and defaults as a synthetic model (and, through config.json, load_model).
  return shape_spec(shape, "train: model.");
}

// One training sequence: a context and its questions, each followed by its answer,
//   {context}\nQuestion: {q1}\nAnswer: {a1}\nQuestion: {q2}\nAnswer: {a2}...
// The text up to the first answer is exactly a test prompt and target (the "toy" dataset's
// templates); the later questions reuse the prompt template with an empty {context}.
struct TrainSequence {
  std::string text;
  std::vector<ByteSpan> answers;  // byte spans of the rendered targets
};

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// "{context}\nAgain: {the same facts in another order}", with the verb and the city of every
// restated fact as targets: the verb needs the person's facts, the city the (person, verb) fact,
// so the heads that tie a city to its person and verb get a dense signal.
TrainSequence restatement(const toy::ToyQuestion& q, uint64_t seed) {
  TrainSequence seq;
  seq.text = q.context + "\nAgain:";
  std::vector<size_t> order(q.facts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size() - 1; i > 0; --i) {
    seed = mix64(seed);
    std::swap(order[i], order[seed % (i + 1)]);
  }
  for (size_t i : order) {
    const toy::ToyFact& f = q.facts[i];
    seq.text += " " + toy::toy_names()[static_cast<size_t>(f.name)];
    auto add_target = [&](const std::string& word) {
      const auto begin = static_cast<int64_t>(seq.text.size());
      seq.text += " " + word;
      seq.answers.push_back({begin, static_cast<int64_t>(seq.text.size())});
    };
    add_target(toy::toy_verbs()[static_cast<size_t>(f.verb)].third);
    seq.text += " in";
    add_target(toy::toy_cities()[static_cast<size_t>(f.city)]);
    seq.text += ".";
  }
  return seq;
}

std::vector<TrainSequence> training_sequences(const std::vector<toy::ToyQuestion>& qs,
                                              const TrainDataOptions& o) {
  const DatasetOptions d;
  const std::vector<std::string> known = {"context", "question", "answer", "title"};
  const PromptTemplate prompt(d.prompt_template, "prompt_template", known);
  const PromptTemplate target(d.target_template, "target_template", known);
  std::vector<TrainSequence> out;
  enum class Kind { kAnswer, kSentence, kRestate } kind = Kind::kAnswer;
  for (size_t i = 0; i < qs.size(); ++i) {
    const toy::ToyQuestion& q = qs[i];
    const bool first = i == 0 || qs[i - 1].context != q.context;
    if (first) {
      const uint64_t h = mix64(o.seed ^ mix64(out.size()));
      const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
      kind = u < o.restate_share                      ? Kind::kRestate
             : u < o.restate_share + o.sentence_share ? Kind::kSentence
                                                      : Kind::kAnswer;
      out.push_back(kind == Kind::kRestate ? restatement(q, h) : TrainSequence());
    }
    if (kind == Kind::kRestate) continue;
    TrainSequence& seq = out.back();
    std::string answer = q.answer;
    if (kind == Kind::kSentence) {
      const toy::ToyFact& f = q.facts[static_cast<size_t>(q.answer_fact)];
      answer = toy::toy_names()[static_cast<size_t>(f.name)] + " " +
               toy::toy_verbs()[static_cast<size_t>(f.verb)].third + " in " + q.answer + ".";
    }
    const std::map<std::string, std::string> v = {
        {"context", first ? q.context : ""}, {"question", q.question}, {"answer", answer}};
    std::string p = prompt.render(v).text;
    // A cue of its own, so the test format's "Answer:" stays followed by the city alone.
    if (kind == Kind::kSentence && p.size() >= 7 && p.compare(p.size() - 7, 7, "Answer:") == 0)
      p.replace(p.size() - 7, 7, "In full:");
    seq.text += p;
    const auto begin = static_cast<int64_t>(seq.text.size());
    seq.text += target.render(v).text;
    seq.answers.push_back({begin, static_cast<int64_t>(seq.text.size())});
  }
  return out;
}

// A sequence as tokens, with 1 where a token belongs to an answer.
struct EncodedSequence {
  std::vector<int64_t> ids;     // (T)
  std::vector<uint8_t> answer;  // (T)
};

EncodedSequence encode_sequence(const TrainSequence& s, const Tokenizer& tok, int64_t max_tokens) {
  const Encoding e = tok.encode(s.text, /*add_special_tokens=*/true);
  XAI_CHECK(static_cast<int64_t>(e.size()) <= max_tokens, "train: a training sequence has ",
            e.size(), " tokens, the model takes ", max_tokens,
            " (HINT: raise model.max_positions or lower data.questions_per_context)");
  EncodedSequence out;
  out.ids = e.ids;
  out.answer.assign(e.size(), 0);
  for (size_t t = 0; t < e.size(); ++t) {
    const ByteSpan& o = e.offsets[t];
    for (const ByteSpan& a : s.answers)
      if (!e.special[t] && o.begin < a.end && a.begin < o.end) out.answer[t] = 1;
  }
  return out;
}

// Right-padded batch: inputs (B, T), next-token labels (B, T) and loss weights (B, T).
struct Batch {
  at::Tensor input;
  at::Tensor labels;
  at::Tensor weights;
  at::Tensor is_target;  // (B, T) float, 1 where the label is an answer token
  int64_t n_target = 0;
  int64_t tokens = 0;
};

Batch make_batch(const std::vector<EncodedSequence>& seqs, double context_weight) {
  const auto B = static_cast<int64_t>(seqs.size());
  int64_t T = 0, n_target = 0, n_context = 0;
  for (const EncodedSequence& s : seqs) {
    const auto n = static_cast<int64_t>(s.ids.size());
    T = std::max(T, n);
    for (int64_t t = 1; t < n; ++t) (s.answer[static_cast<size_t>(t)] ? n_target : n_context) += 1;
  }
  XAI_CHECK(n_target > 0, "train: a batch without answer tokens");
  Batch b;
  b.input = at::zeros({B, T}, at::kLong);
  b.labels = at::zeros({B, T}, at::kLong);
  b.weights = at::zeros({B, T}, at::kFloat);
  b.is_target = at::zeros({B, T}, at::kFloat);
  b.n_target = n_target;
  auto in = b.input.accessor<int64_t, 2>();
  auto lab = b.labels.accessor<int64_t, 2>();
  auto w = b.weights.accessor<float, 2>();
  auto is_t = b.is_target.accessor<float, 2>();
  const float wt = 1.0f / static_cast<float>(n_target);
  const float wc =
      n_context > 0 ? static_cast<float>(context_weight) / static_cast<float>(n_context) : 0.0f;
  for (int64_t r = 0; r < B; ++r) {
    const EncodedSequence& s = seqs[static_cast<size_t>(r)];
    const auto n = static_cast<int64_t>(s.ids.size());
    for (int64_t t = 0; t < n; ++t) in[r][t] = s.ids[static_cast<size_t>(t)];
    // Position t predicts token t + 1; the last position predicts nothing.
    for (int64_t t = 0; t + 1 < n; ++t) {
      lab[r][t] = s.ids[static_cast<size_t>(t + 1)];
      if (s.answer[static_cast<size_t>(t + 1)]) {
        w[r][t] = wt;
        is_t[r][t] = 1;
      } else {
        w[r][t] = wc;
      }
    }
    b.tokens += n;
  }
  return b;
}

// (P, D) the transformer's sinusoidal position table: sin and cos of p / 10000^(2i/D), RMS
// 1/sqrt(2).
at::Tensor sinusoids(int64_t P, int64_t D) {
  at::Tensor pos = at::arange(P, at::kDouble).unsqueeze(1);  // (P, 1)
  at::Tensor freq = at::exp(at::arange(0, D / 2, at::kDouble) * (-std::log(10000.0) * 2.0 / D));
  at::Tensor angle = pos * freq.unsqueeze(0);  // (P, D/2)
  return at::stack({angle.sin(), angle.cos()}, 2).reshape({P, D}).to(at::kFloat).contiguous();
}

// Keys equal to queries per head (see TrainModelOptions::mimetic_qk).
void mimetic_init(const ModelSpec& s, double scale, uint64_t seed, TensorMap& w) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 0x5eed);
  const int64_t D = s.hidden_size, Dh = s.head_dim, H = s.num_heads, G = H / s.num_kv_heads;
  const double std = scale / std::sqrt(static_cast<double>(D));
  for (int64_t l = 0; l < s.num_layers; ++l) {
    if (s.family == Family::kGpt2) {
      at::Tensor& c = w.at(str_cat("transformer.h.", l, ".attn.c_attn.weight"));  // (D, 3D)
      at::Tensor q = at::empty({D, D}).normal_(0.0, std, gen);
      c = c.clone();
      c.slice(1, 0, D).copy_(q);
      c.slice(1, D, 2 * D).copy_(q);
    } else {
      at::Tensor& qw = w.at(str_cat("model.layers.", l, ".self_attn.q_proj.weight"));  // (H*Dh, D)
      at::Tensor& kw =
          w.at(str_cat("model.layers.", l, ".self_attn.k_proj.weight"));  // (Hkv*Dh, D)
      qw = at::empty({H * Dh, D}).normal_(0.0, std, gen);
      kw = kw.clone();
      for (int64_t g = 0; g < s.num_kv_heads; ++g)
        kw.slice(0, g * Dh, (g + 1) * Dh).copy_(qw.slice(0, g * G * Dh, (g * G + 1) * Dh));
    }
  }
}

// Weights held at their initial values where mask is true (TrainModelOptions::offset_pinned).
struct Pin {
  at::Tensor mask;   // bool, the weight's shape
  at::Tensor value;  // the initial weight
};
using Pins = std::map<std::string, Pin>;

// Marks the part of weight `name` selected by slice(dim, begin, end) as pinned.
void pin(Pins& pins, const TensorMap& w, const std::string& name, int64_t dim, int64_t begin,
         int64_t end) {
  Pin& p = pins[name];
  if (!p.mask.defined()) p.mask = at::zeros(w.at(name).sizes(), at::kBool);
  p.mask.slice(dim, begin, end).fill_(true);
}

// The offset heads of TrainModelOptions. A head's query at position i and key at j hold, per
// frequency w of its 2-D pairs, g (cos, sin)(w (i - k)) and g (cos, sin)(w j), so its logit is
// sharpness * sum_w cos(w (i - j - k)), largest at j = i - k.
// Returns the weights that carry the offset heads and their position code.
Pins offset_heads_init(const ModelSpec& s, const TrainModelOptions& m, TensorMap& w) {
  Pins pins;
  const int64_t D = s.hidden_size, Dh = s.head_dim, H = s.num_heads, G = H / s.num_kv_heads;
  const auto n = static_cast<int64_t>(m.offset_heads.size());
  XAI_CHECK(n <= H && m.offset_layers >= 1 && m.offset_layers <= s.num_layers,
            "train: model.offset_heads has ", n, " entries for ", H,
            " heads, model.offset_layers is ", m.offset_layers, " of ", s.num_layers, " layers");
  XAI_CHECK(Dh < D && Dh % 2 == 0, "train: model.offset_heads needs an even head_dim below hidden");
  auto offset = [&](int64_t h) { return h < n ? m.offset_heads[static_cast<size_t>(h)] : 0; };
  for (int64_t h = 0; h < H; ++h) {
    XAI_CHECK(offset(h) >= 0 && offset(h) < s.max_positions,
              "train: model.offset_heads: offsets must be in [0, max_positions)");
    XAI_CHECK((offset(h) > 0) == (offset(h - h % G) > 0), "train: model.offset_heads: query heads ",
              h - h % G, "..", h - h % G + G - 1,
              " share a key/value head, so they must all be offset heads or all free (HINT: set "
              "model.kv_heads to model.heads, or give the whole group offsets)");
  }
  const double g = std::sqrt(m.offset_sharpness * std::sqrt(static_cast<double>(Dh)));
  if (s.family == Family::kGpt2) {
    // Tokens in dimensions [0, P), the position code in [P, D): pairs (cos, sin)(p w_f), w_f from
    // pi down to pi / 64, RMS std (the token embeddings' scale), so LayerNorm gives pairs of norm
    // about sqrt(2).
    const int64_t P = D - Dh, F = Dh / 2;
    const double std = w.at("transformer.wte.weight").std().item<double>();
    at::Tensor wte = w.at("transformer.wte.weight").clone();
    wte.slice(1, P, D).zero_();
    w["transformer.wte.weight"] = wte;
    pin(pins, w, "transformer.wte.weight", 1, P, D);
    at::Tensor wpe = at::zeros({s.max_positions, D});
    std::vector<double> freq(static_cast<size_t>(F));
    for (int64_t f = 0; f < F; ++f) {
      freq[static_cast<size_t>(f)] = M_PI * std::pow(1.0 / 64.0, static_cast<double>(f) / (F - 1));
      for (int64_t p = 0; p < s.max_positions; ++p) {
        const double a = static_cast<double>(p) * freq[static_cast<size_t>(f)];
        wpe[p][P + 2 * f] = std * std::sqrt(2.0) * std::cos(a);
        wpe[p][P + 2 * f + 1] = std * std::sqrt(2.0) * std::sin(a);
      }
    }
    w["transformer.wpe.weight"] = wpe;
    pin(pins, w, "transformer.wpe.weight", 0, 0, s.max_positions);
    const double gn = g / std::sqrt(2.0);  // LayerNorm makes the pairs' norm about sqrt(2)
    for (int64_t l = 0; l < s.num_layers; ++l) {
      const std::string p = str_cat("transformer.h.", l, ".");
      for (const char* name : {"attn.c_proj.weight", "mlp.c_proj.weight"}) {
        at::Tensor t = w.at(p + name).clone();  // (in, D): nothing writes the position code
        t.slice(1, P, D).zero_();
        w[p + name] = t;
        if (l + 1 < m.offset_layers) pin(pins, w, p + name, 1, P, D);
      }
      if (l + 1 < m.offset_layers) {
        pin(pins, w, p + "attn.c_proj.bias", 0, P, D);
        pin(pins, w, p + "mlp.c_proj.bias", 0, P, D);
      }
      if (l >= m.offset_layers) continue;
      pin(pins, w, p + "ln_1.weight", 0, P, D);
      pin(pins, w, p + "ln_1.bias", 0, P, D);
      at::Tensor c = w.at(p + "attn.c_attn.weight").clone();  // (D, 3D): q | k | v
      for (int64_t h = 0; h < H; ++h) {
        if (offset(h) == 0) continue;
        c.slice(1, h * Dh, (h + 1) * Dh).zero_();
        c.slice(1, D + h * Dh, D + (h + 1) * Dh).zero_();
        for (const char* name : {"attn.c_attn.weight", "attn.c_attn.bias"}) {
          const int64_t dim = std::string(name).find("bias") != std::string::npos ? 0 : 1;
          pin(pins, w, p + name, dim, h * Dh, (h + 1) * Dh);
          pin(pins, w, p + name, dim, D + h * Dh, D + (h + 1) * Dh);
        }
        for (int64_t f = 0; f < F; ++f) {
          const double phi = freq[static_cast<size_t>(f)] * static_cast<double>(offset(h));
          const int64_t r = P + 2 * f, q = h * Dh + 2 * f, k = D + q;
          c[r][q] = gn * std::cos(phi);  // query: the pair rotated back by phi
          c[r + 1][q] = gn * std::sin(phi);
          c[r][q + 1] = -gn * std::sin(phi);
          c[r + 1][q + 1] = gn * std::cos(phi);
          c[r][k] = gn;  // key: the pair as it is
          c[r + 1][k + 1] = gn;
        }
      }
      w[p + "attn.c_attn.weight"] = c;
    }
  } else {
    // The last dimension holds a constant (twice the token scale); queries and keys of offset
    // heads read only it, and RoPE rotates the constant into the position code (so the logit is
    // sharpness * sum cos over the fast pairs only).
    const double std = w.at("model.embed_tokens.weight").std().item<double>();
    const double a = 2.0 * std;
    const double a_normed = a / std::sqrt(((D - 1) * std * std + a * a) / static_cast<double>(D));
    at::Tensor emb = w.at("model.embed_tokens.weight").clone();
    emb.slice(1, D - 1, D).fill_(a);
    w["model.embed_tokens.weight"] = emb;
    pin(pins, w, "model.embed_tokens.weight", 1, D - 1, D);
    const at::Tensor inv_freq = rope_inverse_frequencies(s).to(at::kDouble);  // (Dh / 2)
    const double gn = g / a_normed;
    for (int64_t l = 0; l < s.num_layers; ++l) {
      const std::string p = str_cat("model.layers.", l, ".");
      for (const char* name : {"self_attn.o_proj.weight", "mlp.down_proj.weight"}) {
        at::Tensor t = w.at(p + name).clone();  // (D, in): nothing writes the constant
        t.slice(0, D - 1, D).zero_();
        w[p + name] = t;
        if (l + 1 < m.offset_layers) pin(pins, w, p + name, 0, D - 1, D);
      }
      if (l >= m.offset_layers) continue;
      pin(pins, w, p + "input_layernorm.weight", 0, D - 1, D);
      at::Tensor qw = w.at(p + "self_attn.q_proj.weight").clone();  // (H*Dh, D)
      at::Tensor kw = w.at(p + "self_attn.k_proj.weight").clone();  // (Hkv*Dh, D)
      for (int64_t h = 0; h < H; ++h) {
        if (offset(h) == 0) continue;
        const int64_t kv = h / G;
        qw.slice(0, h * Dh, (h + 1) * Dh).zero_();
        kw.slice(0, kv * Dh, (kv + 1) * Dh).zero_();
        pin(pins, w, p + "self_attn.q_proj.weight", 0, h * Dh, (h + 1) * Dh);
        pin(pins, w, p + "self_attn.k_proj.weight", 0, kv * Dh, (kv + 1) * Dh);
        for (int64_t f = 0; f < Dh / 2; ++f) {  // rotate-half layout: pair (f, f + Dh/2)
          // Only pairs that turn at least 0.3 rad a token: the slower ones add nearly the same
          // logit to every nearby key, and the key's RMSNorm scale (which varies by token) would
          // then outweigh the differences between offsets.
          if (f > 0 && inv_freq[f].item<double>() < 0.3) continue;
          const double phi = inv_freq[f].item<double>() * static_cast<double>(offset(h));
          qw[h * Dh + f][D - 1] = gn * std::cos(phi);
          qw[h * Dh + f + Dh / 2][D - 1] = -gn * std::sin(phi);
          kw[kv * Dh + f][D - 1] = gn;
        }
      }
      w[p + "self_attn.q_proj.weight"] = qw;
      w[p + "self_attn.k_proj.weight"] = kw;
    }
  }
  for (auto& [name, p] : pins) p.value = w.at(name).clone();
  return pins;
}

void check_options(const TrainOptions& o) {
  check_common_options(o);
  XAI_CHECK(o.optim.context_loss_weight >= 0, "train: train.context_loss_weight must be >= 0");
}

}  // namespace

std::string train_options_json(const TrainOptions& o) {
  nlohmann::ordered_json j;
  j["task"] = o.task;
  j["output"] = o.output;
  j["seed"] = o.seed;
  j["threads"] = o.threads;
  j["log_every"] = o.log_every;
  j["data"] = {{"seed", o.data.seed},
               {"questions_per_context", o.data.questions_per_context},
               {"single_attribute_share", o.data.single_attribute_share},
               {"restate_share", o.data.restate_share},
               {"sentence_share", o.data.sentence_share},
               {"min_facts", o.data.min_facts},
               {"max_facts", o.data.max_facts},
               {"eval_samples", o.data.eval_samples},
               {"eval_every", o.data.eval_every}};
  j["tokenizer"] = {{"from", o.tokenizer.from},
                    {"vocab_size", o.tokenizer.vocab_size},
                    {"corpus_samples", o.tokenizer.corpus_samples},
                    {"add_prefix_space", o.tokenizer.add_prefix_space}};
  j["model"] = {{"family", o.model.family},
                {"layers", o.model.layers},
                {"hidden", o.model.hidden},
                {"heads", o.model.heads},
                {"kv_heads", o.model.kv_heads},
                {"head_dim", o.model.head_dim},
                {"intermediate", o.model.intermediate},
                {"max_positions", o.model.max_positions},
                {"tie_embeddings", o.model.tie_embeddings},
                {"rope_theta", o.model.rope_theta},
                {"init_std", o.model.init_std},
                {"sinusoidal_positions", o.model.sinusoidal_positions},
                {"mimetic_qk", o.model.mimetic_qk},
                {"offset_heads", o.model.offset_heads},
                {"offset_layers", o.model.offset_layers},
                {"offset_sharpness", o.model.offset_sharpness},
                {"offset_pinned", o.model.offset_pinned}};
  if (o.model.family == "vit") {
    j["model"]["image_size"] = o.model.image_size;
    j["model"]["patch_size"] = o.model.patch_size;
  }
  j["train"] = {{"steps", o.optim.steps},
                {"batch_size", o.optim.batch_size},
                {"warmup_steps", o.optim.warmup_steps},
                {"lr", o.optim.lr},
                {"min_lr", o.optim.min_lr},
                {"weight_decay", o.optim.weight_decay},
                {"beta1", o.optim.beta1},
                {"beta2", o.optim.beta2},
                {"eps", o.optim.eps},
                {"grad_clip", o.optim.grad_clip},
                {"context_loss_weight", o.optim.context_loss_weight}};
  return j.dump(2);
}

double greedy_exact_match(Model& model, const std::vector<Encoded>& samples, int64_t batch_size,
                          int64_t* correct) {
  at::NoGradGuard no_grad;
  int64_t hits = 0;
  for (size_t start = 0; start < samples.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(samples.size(), start + static_cast<size_t>(batch_size));
    const auto B = static_cast<int64_t>(end - start);
    int64_t T = 0, P = 0;
    for (size_t i = start; i < end; ++i) {
      T = std::max(T, samples[i].size());
      P = std::max(P, samples[i].num_targets());
    }
    at::Tensor input = at::zeros({B, T}, at::kLong);      // (B, T) right-padded
    at::Tensor positions = at::zeros({B, P}, at::kLong);  // (B, P)
    at::Tensor want = at::full({B, P}, -1, at::kLong);    // (B, P), -1 = no target
    auto in = input.accessor<int64_t, 2>();
    auto pos = positions.accessor<int64_t, 2>();
    auto wt = want.accessor<int64_t, 2>();
    for (int64_t r = 0; r < B; ++r) {
      const Encoded& e = samples[start + static_cast<size_t>(r)];
      for (int64_t t = 0; t < e.size(); ++t) in[r][t] = e.ids[static_cast<size_t>(t)];
      for (int64_t k = 0; k < P; ++k) {
        const int64_t kk = std::min(k, e.num_targets() - 1);
        pos[r][k] = e.prompt_len - 1 + kk;
        if (k < e.num_targets()) wt[r][k] = e.target_ids[static_cast<size_t>(k)];
      }
    }
    ForwardRequest req;
    req.input_ids = input.to(model.device());
    req.logit_positions = positions.to(model.device());
    at::Tensor pred = model.forward(req).logits.argmax(-1).to(at::kCPU);  // (B, P)
    at::Tensor ok = pred.eq(want).logical_or(want.lt(0)).all(1);          // (B)
    hits += ok.sum().item<int64_t>();
  }
  if (correct != nullptr) *correct = hits;
  return samples.empty() ? 0.0 : static_cast<double>(hits) / static_cast<double>(samples.size());
}

TrainResult train_toy_model(const TrainOptions& o, std::ostream* log) {
  if (o.task == "classify") return train_toy_classifier(o, log);
  check_options(o);
  const auto t0 = Clock::now();
  at::set_num_threads(o.threads);
  auto say = [&](const std::string& line) {
    if (log != nullptr) *log << line << std::endl;
  };

  // Data: the train stream (one fresh question per sample) and the test questions.
  toy::ToyOptions train_gen;
  train_gen.split = "train";
  train_gen.seed = o.data.seed;
  train_gen.questions_per_context = o.data.questions_per_context;
  train_gen.single_attribute_share = o.data.single_attribute_share;
  train_gen.min_facts = o.data.min_facts;
  train_gen.max_facts = o.data.max_facts;
  const int64_t n_sequences =
      std::max(o.optim.steps * o.optim.batch_size, o.tokenizer.corpus_samples);
  // Enough questions for n_sequences contexts (a context has at most questions_per_context).
  train_gen.n = n_sequences * o.data.questions_per_context;
  std::vector<TrainSequence> train = training_sequences(toy::generate_toy(train_gen), o.data);
  XAI_CHECK(static_cast<int64_t>(train.size()) >= n_sequences, "train: internal: ", train.size(),
            " training sequences for ", n_sequences);
  train.resize(static_cast<size_t>(n_sequences));
  DatasetOptions test_opts;
  test_opts.split = "test";
  test_opts.limit = o.data.eval_samples;
  test_opts.seed = o.data.seed;
  const std::vector<Sample> test = read_all(*open_dataset("toy", test_opts));

  // Tokenizer.
  TrainResult result;
  if (!o.tokenizer.from.empty()) {
    std::ifstream in(o.tokenizer.from, std::ios::binary);
    XAI_CHECK(in.good(), o.tokenizer.from, ": cannot open (tokenizer.from)");
    result.tokenizer_json.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    std::vector<std::string> corpus;
    for (int64_t i = 0; i < o.tokenizer.corpus_samples; ++i) {
      corpus.push_back(train[static_cast<size_t>(i)].text);
    }
    BpeTrainerOptions bpe;
    bpe.vocab_size = o.tokenizer.vocab_size;
    bpe.add_prefix_space = o.tokenizer.add_prefix_space;
    result.tokenizer_json = train_byte_level_bpe(corpus, bpe);
  }
  const Tokenizer tok = Tokenizer::from_json_text(result.tokenizer_json, "train: tokenizer");

  // Model.
  result.spec = make_spec(o.model, tok.vocab_size());
  result.weights = init_weights(result.spec, o.model.init_std, o.seed);
  if (o.model.mimetic_qk > 0) mimetic_init(result.spec, o.model.mimetic_qk, o.seed, result.weights);
  if (o.model.sinusoidal_positions > 0 && result.spec.family == Family::kGpt2) {
    result.weights["transformer.wpe.weight"] =
        sinusoids(result.spec.max_positions, result.spec.hidden_size) *
        (o.model.sinusoidal_positions * std::sqrt(2.0));
  }
  Pins pins;
  if (!o.model.offset_heads.empty()) pins = offset_heads_init(result.spec, o.model, result.weights);
  if (!o.model.offset_pinned) pins.clear();
  for (auto& [name, t] : result.weights) t.requires_grad_(true);
  std::unique_ptr<Model> model = build_model(result.spec, result.weights);
  const TrainOptimOptions& opt = o.optim;
  AdamW optimizer(opt, result.weights);

  std::vector<Encoded> test_enc;
  for (const Sample& s : test) test_enc.push_back(encode_sample(s, tok, result.spec.max_positions));

  say(str_cat("train: ", result.spec.model_type, " ", result.spec.num_layers, " layers x ",
              result.spec.hidden_size, ", ", result.spec.num_parameters(),
              " parameters, vocabulary ", result.spec.vocab_size, "; ", opt.steps,
              " steps x batch ", opt.batch_size, ", ", o.threads, " thread(s)"));

  TrainProgress progress(o, result, say, "exact match");
  auto run_eval = [&](int64_t steps) {
    int64_t correct = 0;
    greedy_exact_match(*model, test_enc, 64, &correct);
    progress.evaluated(steps, correct, static_cast<int64_t>(test_enc.size()));
  };

  for (int64_t step = 0; step < opt.steps; ++step) {
    std::vector<EncodedSequence> enc;
    enc.reserve(static_cast<size_t>(opt.batch_size));
    for (int64_t i = 0; i < opt.batch_size; ++i) {
      const TrainSequence& s = train[static_cast<size_t>(step * opt.batch_size + i)];
      enc.push_back(encode_sequence(s, tok, result.spec.max_positions));
    }
    const Batch b = make_batch(enc, opt.context_loss_weight);
    const double lr = lr_at(opt, step);
    optimizer.set_lr(lr);

    optimizer.zero_grad();
    ForwardRequest req;
    req.input_ids = b.input;
    at::Tensor logits = model->forward(req).logits;  // (B, T, V)
    at::Tensor nll = -at::log_softmax(logits, -1).gather(2, b.labels.unsqueeze(-1)).squeeze(-1);
    at::Tensor loss = (nll * b.weights).sum();  // (B, T) -> ()
    loss.backward();
    const double gnorm = optimizer.step();  // the global gradient norm before clipping
    if (!pins.empty()) {
      at::NoGradGuard no_grad;
      for (auto& [name, p] : pins) {
        at::Tensor& t = result.weights.at(name);
        t.copy_(at::where(p.mask, p.value, t));
      }
    }

    // Reported: the target tokens' mean cross-entropy, the quantity the task is about.
    const double l =
        (nll.detach() * b.is_target).sum().item<double>() / static_cast<double>(b.n_target);
    progress.step(step, l, gnorm, lr, b.tokens);
    if (progress.eval_due(step)) run_eval(step + 1);
  }
  run_eval(opt.steps);
  progress.finish(t0);

  if (!o.output.empty()) write_checkpoint(o, result, say);
  return result;
}

}  // namespace xai
