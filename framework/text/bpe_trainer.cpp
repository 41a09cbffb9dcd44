// See bpe_trainer.h. The corpora here are small (the toy task: a few hundred distinct words), so
// pair counts are simply recounted after every merge.
#include "framework/text/bpe_trainer.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "framework/common/error.h"
#include "framework/text/components.h"

namespace xai {
namespace {

using text::JsonNode;
using text::Piece;

nlohmann::ordered_json byte_level_section(bool add_prefix_space) {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", add_prefix_space},
          {"trim_offsets", true},
          {"use_regex", true}};
}

// The words of all texts (byte-level strings after the GPT-2 split) and how often each occurs.
std::map<std::string, int64_t> count_words(const std::vector<std::string>& texts,
                                           bool add_prefix_space) {
  const nlohmann::json pre_json =
      nlohmann::json::parse(byte_level_section(add_prefix_space).dump());
  const std::string source = "bpe_trainer";
  const std::unique_ptr<text::PreTokenizer> pre =
      text::make_pre_tokenizer(JsonNode(pre_json, "pre_tokenizer", source));
  std::map<std::string, int64_t> words;
  std::vector<Piece> pieces;
  for (const std::string& t : texts) {
    pieces.clear();
    pieces.push_back(text::make_root_piece(t));
    pre->pre_tokenize(pieces);
    for (const Piece& p : pieces) ++words[p.text];
  }
  return words;
}

}  // namespace

std::string train_byte_level_bpe(const std::vector<std::string>& texts,
                                 const BpeTrainerOptions& o) {
  const int64_t base = static_cast<int64_t>(o.special_tokens.size()) + 256;
  XAI_CHECK(o.vocab_size >= base, "bpe_trainer: vocab_size ", o.vocab_size, " cannot hold the ",
            o.special_tokens.size(), " special tokens and the 256 byte symbols");
  XAI_CHECK(o.bos_token.empty() || std::find(o.special_tokens.begin(), o.special_tokens.end(),
                                             o.bos_token) != o.special_tokens.end(),
            "bpe_trainer: bos_token '", o.bos_token, "' is not one of the special tokens");

  // Vocabulary: special tokens, then the byte symbols in code point order, then merges.
  std::vector<std::string> id_to_token = o.special_tokens;
  std::unordered_map<std::string, int32_t> token_to_id;
  for (size_t i = 0; i < id_to_token.size(); ++i) {
    XAI_CHECK(token_to_id.emplace(id_to_token[i], static_cast<int32_t>(i)).second,
              "bpe_trainer: special token '", id_to_token[i], "' is given twice");
  }
  const text::ByteLevelMap& bytes = text::byte_level_map();
  std::vector<char32_t> alphabet(bytes.byte_to_char.begin(), bytes.byte_to_char.end());
  std::sort(alphabet.begin(), alphabet.end());
  std::unordered_map<char32_t, int32_t> char_id;
  for (char32_t c : alphabet) {
    std::string s;
    text::append_utf8(s, c);
    const auto id = static_cast<int32_t>(id_to_token.size());
    XAI_CHECK(token_to_id.emplace(s, id).second, "bpe_trainer: special token '", s,
              "' collides with a byte symbol");
    id_to_token.push_back(s);
    char_id[c] = id;
  }

  // Words as symbol sequences, with their counts.
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> counts;
  for (const auto& [w, n] : count_words(texts, o.add_prefix_space)) {
    std::vector<int32_t> symbols;
    size_t i = 0;
    while (i < w.size()) symbols.push_back(char_id.at(text::next_code_point(w, i)));
    words.push_back(std::move(symbols));
    counts.push_back(n);
  }

  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int64_t>(id_to_token.size()) < o.vocab_size) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    for (size_t w = 0; w < words.size(); ++w) {
      for (size_t k = 0; k + 1 < words[w].size(); ++k)
        pairs[{words[w][k], words[w][k + 1]}] += counts[w];
    }
    auto best = pairs.end();
    for (auto it = pairs.begin(); it != pairs.end(); ++it)
      if (best == pairs.end() || it->second > best->second) best = it;  // ties: smallest ids
    if (best == pairs.end() || best->second < o.min_frequency) break;

    const auto [a, b] = best->first;
    const std::string merged = id_to_token[a] + id_to_token[b];
    int32_t id;
    if (auto it = token_to_id.find(merged); it != token_to_id.end()) {
      id = it->second;
    } else {
      id = static_cast<int32_t>(id_to_token.size());
      token_to_id.emplace(merged, id);
      id_to_token.push_back(merged);
    }
    merges.emplace_back(id_to_token[a], id_to_token[b]);
    for (auto& w : words) {
      std::vector<int32_t> out;
      out.reserve(w.size());
      for (size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == a && w[k + 1] == b) {
          out.push_back(id);
          ++k;
        } else {
          out.push_back(w[k]);
        }
      }
      w = std::move(out);
    }
  }

  using ojson = nlohmann::ordered_json;
  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  ojson added = ojson::array();
  for (size_t i = 0; i < o.special_tokens.size(); ++i) {
    added.push_back({{"id", i},
                     {"content", o.special_tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = byte_level_section(o.add_prefix_space);
  if (o.bos_token.empty()) {
    ojson pp = byte_level_section(o.add_prefix_space);
    pp["trim_offsets"] = false;
    j["post_processor"] = pp;
  } else {
    auto special = [&](int type_id) {
      return ojson{{"SpecialToken", {{"id", o.bos_token}, {"type_id", type_id}}}};
    };
    auto sequence = [](const char* id, int type_id) {
      return ojson{{"Sequence", {{"id", id}, {"type_id", type_id}}}};
    };
    const int32_t bos_id = token_to_id.at(o.bos_token);
    j["post_processor"] = {{"type", "TemplateProcessing"},
                           {"single", {special(0), sequence("A", 0)}},
                           {"pair", {special(0), sequence("A", 0), special(1), sequence("B", 1)}},
                           {"special_tokens",
                            {{o.bos_token,
                              {{"id", o.bos_token},
                               {"ids", ojson::array({bos_id})},
                               {"tokens", ojson::array({o.bos_token})}}}}}};
  }
  ojson decoder = byte_level_section(true);
  decoder["add_prefix_space"] = true;
  j["decoder"] = decoder;
  ojson vocab = ojson::object();
  for (size_t i = 0; i < id_to_token.size(); ++i) vocab[id_to_token[i]] = i;
  ojson merge_list = ojson::array();
  for (const auto& [a, b] : merges) merge_list.push_back(a + " " + b);
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merge_list}};
  return j.dump(2) + "\n";
}

}  // namespace xai
