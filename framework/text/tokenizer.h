// Tokenizer driven by a Hugging Face tokenizer.json (normalizer -> pre-tokenizer -> model ->
// post-processor, and a decoder), with the byte span of every token in the original text.
//
// Ids, tokens and offsets match the Hugging Face tokenizers library (checked against 0.20.3 by
// tests/unit/text/). Supported: normalizers Sequence, NFC/NFD/NFKC/NFKD, Lowercase, Strip,
// StripAccents, Replace, Prepend, BertNormalizer, ByteLevel; pre-tokenizers ByteLevel, Split,
// Metaspace, Whitespace, WhitespaceSplit, BertPreTokenizer, Digits, Punctuation,
// CharDelimiterSplit, Sequence; models BPE, WordPiece, WordLevel (not Unigram); post-processors
// TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, Sequence; decoders ByteLevel,
// Metaspace, Replace, ByteFallback, Fuse, Strip, WordPiece, BPEDecoder, Sequence. Anything else is
// rejected when loading. Single sequences only; "truncation" and "padding" are ignored.
//
// Invalid UTF-8 input never throws: each byte that is not part of a valid UTF-8 sequence is read
// as U+FFFD with the span of that one byte. (The Python library only accepts valid strings.)
// encode() and decode() may be called from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace xai {

// [begin, end) in bytes of the original UTF-8 text. Tokens inserted by the post-processor
// (BOS/EOS/CLS/SEP) have the empty span {0, 0}.
struct ByteSpan {
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const ByteSpan& o) const { return begin == o.begin && end == o.end; }
};

struct Encoding {
  std::vector<int64_t> ids;         // (T)
  std::vector<std::string> tokens;  // (T) vocabulary strings
  std::vector<ByteSpan> offsets;    // (T)
  std::vector<uint8_t> special;     // (T) 1 for special tokens (added-special or post-processor)
  // encode_pair only (empty for one text): each token's type (BERT's segment id, as the
  // post-processor's pair template gives it) and its text: 0 (a), 1 (b), -1 (a special token the
  // post-processor inserted). A token's offsets are bytes of its own text.
  std::vector<uint8_t> type_ids;
  std::vector<int8_t> sequence_ids;
  size_t size() const { return ids.size(); }
};

class Tokenizer {
 public:
  // Reads tokenizer.json; throws xai::Error naming the file and the unsupported or malformed
  // component (e.g. "tokenizer.json: pre_tokenizer type 'UnicodeScripts' is not supported").
  static Tokenizer from_file(const std::string& path);
  // source_name is used in error messages in place of a path.
  static Tokenizer from_json_text(const std::string& json_text, const std::string& source_name);

  Encoding encode(const std::string& text, bool add_special_tokens = true) const;
  // A text pair (premise and hypothesis, two sentences) as the post-processor's pair template
  // joins them ([CLS] a [SEP] b [SEP] for BERT). Throws xai::Error when the post-processor has no
  // pair layout (a Sequence of processors).
  Encoding encode_pair(const std::string& a, const std::string& b,
                       bool add_special_tokens = true) const;
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true) const;

  int64_t vocab_size() const;  // model vocabulary plus added tokens (max id + 1)
  std::optional<int64_t> token_to_id(const std::string& token) const;
  std::string id_to_token(int64_t id) const;  // throws on an id outside the vocabulary
  // Ids the post-processor would insert around a single sequence (e.g. BOS), in order.
  std::optional<int64_t> bos_id() const;
  // tokenizer_config.json's chat_template (a list's "default"), when from_file found one; its
  // bos_token and eos_token texts ("" when absent), which templates write.
  const std::optional<std::string>& chat_template() const;
  const std::string& bos_text() const;
  const std::string& eos_text() const;
  std::optional<int64_t> eos_id() const;
  // The UNK and PAD tokens' ids, as transformers' AutoTokenizer has them: tokenizer_config.json's
  // unk_token / pad_token when from_file finds that file beside tokenizer.json, else (UNK only)
  // tokenizer.json's model.unk_token. nullopt when there is none or it is not in the vocabulary.
  std::optional<int64_t> unk_id() const;
  std::optional<int64_t> pad_id() const;
  // The UNK id, else the PAD id (inseq's IG baseline, occlusion's `unk`); nullopt: neither.
  std::optional<int64_t> unk_or_pad_id() const { return unk_id() ? unk_id() : pad_id(); }
  // The mask token's id (BERT's [MASK], RoBERTa's <mask>): tokenizer_config.json's mask_token, else
  // a token named [MASK] or <mask>; nullopt when there is none.
  std::optional<int64_t> mask_id() const;

  Tokenizer(const Tokenizer&) = default;
  Tokenizer& operator=(const Tokenizer&) = default;
  ~Tokenizer();

  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace xai
