// See removal.h.
#include "methods/removal.h"

#include <algorithm>

#include "framework/common/error.h"
#include "framework/model/family.h"

namespace xai {
namespace {

// Drop in the attention-mask form: row b's removed tokens masked out (the model renumbers the
// later positions over the real tokens), the targets read where they are.
ForwardRequest masked_drop(Model& model, const Encoded& s, const SampleInput& input,
                           const std::vector<std::vector<int64_t>>& gone, int64_t from) {
  const int64_t B = static_cast<int64_t>(gone.size()), T = s.size();
  std::vector<int64_t> mask(static_cast<size_t>(B * T), 1);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t : gone[static_cast<size_t>(b)]) {
      for (int64_t i = 0; i < s.num_targets(); ++i)
        XAI_CHECK(t != s.logit_position(i), "internal: removal masks logit position ", t);
      mask[static_cast<size_t>(b * T + t)] = 0;
    }
  }
  ForwardRequest req;
  input.set(req, B, from);
  req.attention_mask = at::tensor(mask, at::kLong).view({B, T}).to(model.device());
  req.logit_positions = (logit_positions(s) - from).to(model.device());
  return req;
}

}  // namespace

const char* removal_name(Removal r) {
  switch (r) {
    case Removal::kDrop:
      return "drop";
    case Removal::kAttention:
      return "attention";
    case Removal::kReplace:
      return "replace";
    case Removal::kZero:
      return "zero";
  }
  return "?";
}

int64_t replacement_id(const std::string& token, const ModelSpec& spec, std::optional<int64_t> unk,
                       std::optional<int64_t> mask, const std::string& who) {
  int64_t id = -1;
  if (token == "unk") {
    XAI_CHECK(unk.has_value(), who, ": token 'unk': the tokenizer has neither an UNK ",
              "nor a PAD token (HINT: token: pad, or a token id)");
    id = *unk;
  } else if (token == "mask") {
    XAI_CHECK(mask.has_value(), who, ": token 'mask': the tokenizer has no mask token ",
              "(HINT: token: unk, pad, or a token id)");
    id = *mask;
  } else if (token == "pad") {
    XAI_CHECK(spec.pad_token_id.has_value(), who, ": token 'pad': ", spec.model_type,
              " has no pad_token_id in its config.json (HINT: token: unk, or a token id)");
    id = *spec.pad_token_id;
  } else {
    id = std::stoll(token);
  }
  XAI_CHECK(id >= 0 && id < spec.vocab_size, who, ": token ", id,
            " is outside the model's vocabulary of ", spec.vocab_size);
  return id;
}

int64_t replacement_id(const std::string& token, const Model& model, const Encoded& s,
                       const char* who) {
  return replacement_id(token, model.spec(), s.unk_id, s.mask_id, who);
}

ForwardRequest removal_request(Model& model, const Encoded& s, const SampleInput& input,
                               const std::vector<std::vector<int64_t>>& gone, Removal removal,
                               int64_t token, AttentionControl& ctl, int64_t from) {
  const int64_t B = static_cast<int64_t>(gone.size()), T = s.size();
  XAI_CHECK(B >= 1, "internal: removal of an empty batch");
  XAI_CHECK(from == 0 || (!s.image() && s.token_types.empty() && is_causal(model.spec())),
            "internal: a removal prefix serves a causal model's text only");
  for (const auto& g : gone)
    XAI_CHECK(g.empty() || g.front() >= from, "internal: removal at ", g.front(), " before ", from);
  const at::Device dev = model.device();
  ForwardRequest req;
  const at::Tensor positions = logit_positions(s) - from;  // (n) within the request
  if (s.image() && removal == Removal::kDrop) {            // a patch keeps its place: its pixels go
    input.set(req, B);
    at::Tensor px = req.pixel_values.clone();  // (B, C, S, S)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t : gone[static_cast<size_t>(b)]) zero_patch(px[b], s, t);
    req.pixel_values = px;
    req.logit_positions = positions.to(dev);
    return req;
  }
  switch (removal) {
    case Removal::kAttention: {
      input.set(req, B, from);
      at::Tensor f = at::ones({B, T}, at::kFloat);
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t : gone[static_cast<size_t>(b)]) f[b][t] = 0;
      ctl.key_factors = f.to(dev);
      ctl.mode = SuppressionMode::kLogAdditive;  // a factor of 0 hides the key outright
      req.logit_positions = positions.to(dev);
      return req;
    }
    case Removal::kReplace: {
      input.set(req, B, from);
      at::Tensor ids = req.input_ids.to(at::kCPU).clone();
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t : gone[static_cast<size_t>(b)]) ids[b][t - from] = token;
      req.input_ids = ids.to(dev);
      req.logit_positions = positions.to(dev);
      return req;
    }
    case Removal::kZero: {
      at::Tensor e = input.embeddings(model).slice(1, from).repeat({B, 1, 1});  // (B, T', D)
      for (int64_t b = 0; b < B; ++b)
        for (int64_t t : gone[static_cast<size_t>(b)]) e[b][t - from].zero_();
      req.inputs_embeds = e;
      input.set_types(req, B);
      req.logit_positions = positions.to(dev);
      return req;
    }
    case Removal::kDrop:
      break;
  }
  for (const auto& g : gone) {
    if (g.size() != gone.front().size()) return masked_drop(model, s, input, gone, from);
  }
  // Drop: each row keeps the other positions, in order (equal lengths); a target's logit position
  // moves up by the positions dropped before it, to the token before it when it is dropped itself.
  // Built in plain vectors from the sample's own ids (one tensor each at the end, not one
  // tensor operation per element).
  const int64_t n = s.num_targets();
  const int64_t kept = T - from - static_cast<int64_t>(gone.front().size());
  XAI_CHECK(kept >= 1, "removal: dropping every position leaves nothing to run");
  const bool typed = !s.token_types.empty();
  std::vector<int64_t> ids, types, where;
  ids.reserve(static_cast<size_t>(B * kept));
  for (const auto& g : gone) {
    for (int64_t t = from; t < T; ++t) {
      if (std::binary_search(g.begin(), g.end(), t)) continue;
      ids.push_back(s.ids[static_cast<size_t>(t)]);
      if (typed) types.push_back(s.token_types[static_cast<size_t>(t)]);
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t p = s.logit_position(i);
      const int64_t before = std::lower_bound(g.begin(), g.end(), p) - g.begin();
      const bool dropped = std::binary_search(g.begin(), g.end(), p);
      where.push_back(std::max<int64_t>(0, p - from - before - (dropped ? 1 : 0)));
    }
  }
  req.input_ids = at::tensor(ids, at::kLong).view({B, kept}).to(dev);
  if (typed) req.token_type_ids = at::tensor(types, at::kLong).view({B, kept}).to(dev);
  req.logit_positions = at::tensor(where, at::kLong).view({B, n}).to(dev);
  return req;
}

KVCache clean_prefix(Model& model, const SampleInput& input, int64_t length) {
  XAI_CHECK(length > 0 && input.ids.defined() && length <= input.ids.size(1),
            "internal: clean prefix of ", length, " positions");
  at::NoGradGuard no_grad;
  ForwardRequest req;
  req.input_ids = input.ids.slice(1, 0, length);
  // The head on the last row only (every layer's keys and values still cover every row).
  req.logit_positions = at::full({1}, length - 1, at::kLong).to(model.device());
  req.return_cache = true;
  return model.forward(req).cache;
}

}  // namespace xai
