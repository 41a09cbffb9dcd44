// What a run's results depend on, in a few hashes: each model's config.json, tokenizer files and
// safetensors files (their headers, and the weights themselves up to 64 MiB a file, else 17
// samples of 4 KiB spread over them: reading all of a 30B checkpoint would take minutes), and
// each explainer's parameters. Stored in every shard, compared when
// a run resumes, so old rows are never merged with rows from another checkpoint or setting.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace xai {

struct ModelFingerprint {
  std::string path;    // as the experiment wrote it (informational: a moved copy is the same)
  std::string config;  // hash of config.json
  // hash of tokenizer.json (+ tokenizer_config.json, preprocessor_config.json)
  std::string tokenizer;
  std::string weights;         // every safetensors file's name, size, header, samples (+ the index)
  std::string dtype = "auto";  // models[].dtype: the precision the weights were computed in
};

struct RunFingerprint {
  std::map<std::string, ModelFingerprint> models;  // by model name
  std::map<std::string, std::string> explainers;   // name -> parameters JSON text
  // The dataset settings that shape each sample's text and explained set (templates, `explain`,
  // `explain_special_tokens`, ...) as JSON text; "" in fingerprints written before it existed.
  std::string samples;

  std::string to_json() const;
  // Throws xai::Error on text that is not a fingerprint.
  static RunFingerprint from_json(const std::string& text);
};

// Hashes the files of a model folder (throws xai::Error naming a file it cannot read).
ModelFingerprint fingerprint_model(const std::string& folder);
// A synthetic model (no files): its config.json text, the tokenizer's and (seed, dtype) in place
// of the files' hashes; path "synthetic".
ModelFingerprint fingerprint_synthetic(const std::string& config_json,
                                       const std::string& tokenizer_json, uint64_t seed,
                                       const std::string& dtype);

// What differs between the fingerprint of the shards' run (`before`) and this run (`now`), in
// user words, one entry per change: "model 'm': its weights differ (...)". Models or explainers
// that only one side has are not changes (a run may add or drop them). Empty: nothing changed.
std::vector<std::string> fingerprint_changes(const RunFingerprint& before,
                                             const RunFingerprint& now);

}  // namespace xai
