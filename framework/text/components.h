// The stages of the tokenizer pipeline as small interfaces, each built from its tokenizer.json
// section by a factory that rejects unsupported types with a clear error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "framework/text/json_reader.h"
#include "framework/text/normalized_string.h"
#include "framework/text/tokenizer.h"

namespace xai::text {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(Piece& p) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits/rewrites every piece that is not an added token; pieces never become empty.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

// A model token: vocabulary id and byte range [begin, end) inside the word it came from.
struct ModelToken {
  int32_t id;
  uint32_t begin;
  uint32_t end;
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the tokens of one pre-tokenized word (non-empty, valid UTF-8) to out.
  virtual void tokenize(std::string_view word, std::vector<ModelToken>& out) const = 0;
  virtual std::optional<int32_t> token_to_id(const std::string& token) const = 0;
  virtual const std::string* id_to_token(int32_t id) const = 0;  // nullptr when unknown
  virtual int64_t vocab_size() const = 0;                        // max id + 1
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adjusts offsets (ByteLevel trimming) and inserts special tokens when add_special_tokens.
  // original is the text given to encode (offset trimming counts characters in it).
  virtual void process(Encoding& enc, bool add_special_tokens, std::string_view original) const = 0;
  // The ids inserted before and after a single sequence.
  virtual void special_ids(std::vector<int64_t>& before, std::vector<int64_t>& after) const = 0;
  // A pair: adjusts each text's offsets as process() does, then joins them (with the special
  // tokens when add_special_tokens) into `out`, filling its type_ids and sequence_ids. The
  // default refuses (no pair layout).
  virtual void process_pair(Encoding& a, Encoding& b, bool add_special_tokens,
                            std::string_view original_a, std::string_view original_b,
                            Encoding& out) const;
};

// Joins a and b with no special tokens, types 0 and 1 (the tokenizers library's pair without a
// post-processor).
void join_pair(const Encoding& a, const Encoding& b, Encoding& out);

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings; the decoded text is their concatenation.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// Factories. A null JSON value gives nullptr (no such stage).
std::unique_ptr<Normalizer> make_normalizer(const JsonNode& node);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const JsonNode& node);
std::unique_ptr<Model> make_model(const JsonNode& node);
// token_to_id resolves the token strings a post-processor names.
std::unique_ptr<PostProcessor> make_post_processor(const JsonNode& node);
std::unique_ptr<Decoder> make_decoder(const JsonNode& node);

// Shared by the pre-tokenizers and normalizers that take {"String": s} or {"Regex": r}.
struct Pattern {
  std::string literal;
  std::optional<Regex> regex;
  void find(std::string_view s, MatchList& out) const {
    if (regex) {
      regex->find_all(s, out);
    } else {
      find_literal(s, literal, out);
    }
  }
};
Pattern parse_pattern(const JsonNode& node);

// ByteLevel post-processing of offsets (HF process_offsets): leading/trailing 'Ġ' or whitespace
// characters of a token are trimmed from its span, counted in characters of the original text.
void trim_byte_level_offsets(Encoding& enc, bool add_prefix_space, std::string_view original);

}  // namespace xai::text
