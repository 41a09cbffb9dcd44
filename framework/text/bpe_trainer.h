// Trains a byte-level BPE tokenizer (GPT-2 style: regex split, 256 byte symbols, merges by pair
// frequency) and writes it as a tokenizer.json that this engine and Hugging Face tokenizers read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xai {

struct BpeTrainerOptions {
  // Final vocabulary size: special tokens + 256 byte symbols + merges.
  int64_t vocab_size = 512;
  // A pair seen fewer times than this is never merged (training may stop below vocab_size).
  int64_t min_frequency = 2;
  // Added as special tokens with ids 0, 1, ... (before the byte symbols).
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  // Inserted by the post-processor before every sequence when encoding with special tokens;
  // "" for none (then the post-processor is GPT-2's ByteLevel). Must be one of special_tokens.
  std::string bos_token = "<|endoftext|>";
  // The ByteLevel pre-tokenizer's add_prefix_space (as RoBERTa): a text that does not start with
  // a space gets one, so its first word is the same token as the word elsewhere ("Mara" at the
  // start and after a space both become "ĠMara"); decoding then gives that leading space back.
  bool add_prefix_space = false;
};

// Deterministic: the same texts and options give the same bytes. Ties between equally frequent
// pairs go to the pair whose token ids are smallest (as Hugging Face's trainer). Throws
// xai::Error when vocab_size cannot hold the special tokens and the 256 byte symbols.
std::string train_byte_level_bpe(const std::vector<std::string>& texts,
                                 const BpeTrainerOptions& options);

}  // namespace xai
