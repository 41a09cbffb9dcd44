// The toy task: seeded SQuAD-style questions over short facts ("Mara lives in Oslo."), with
// distractor facts that share the person, the verb or the city, so only the right (person, verb)
// fact answers the question. The small models in datasets/toy/models/ are trained on it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xai::toy {

// One fact: "{name} {verb (3rd person)} in {city}."
struct ToyFact {
  int name = 0;  // index into toy_names()
  int verb = 0;  // index into toy_verbs()
  int city = 0;  // index into toy_cities()
};

struct ToyQuestion {
  std::string id;        // "toy-test-00042"
  std::string context;   // the facts joined by single spaces
  std::string question;  // "Where does Ben work?"
  std::string answer;    // "Lima"
  int64_t answer_start =
      0;  // byte (= character: the text is ASCII) offset of the answer in context
  std::vector<ToyFact> facts;  // in context order
  int answer_fact = 0;         // index into facts of the fact that answers the question
};

struct ToyVerb {
  const char* base;   // "live" (in the question)
  const char* third;  // "lives" (in the fact)
};

const std::vector<std::string>& toy_names();
const std::vector<std::string>& toy_cities();
const std::vector<ToyVerb>& toy_verbs();

struct ToyOptions {
  std::string split = "test";  // "train" or "test"
  int64_t n = 500;             // questions to generate
  uint64_t seed = 0;           // base seed; each split draws its own stream from it
  int min_facts = 3;
  int max_facts = 8;
  // 1: one question per context, about the fact drawn as the answer (the test split). k > 1 adds
  // questions about the other facts in drawing order (the same person's other fact, the other
  // person with the same verb, then the rest), up to k, as consecutive questions on one context
  // (for training: answers that differ only by the verb or the name teach the binding).
  int questions_per_context = 1;
  // Share of contexts (training only) where one attribute alone decides the answer: all facts
  // about one person (the verb decides) or all with one verb (the name decides). A model learns
  // each feature on these, and the (name, verb) conjunction of the normal contexts follows.
  double single_attribute_share = 0.0;
};

// Deterministic for given options on every platform (own RNG, no std distributions). The splits
// partition the space of (context, question) pairs by a hash, so no pair is in both, whatever
// the seeds; within a split no pair repeats.
std::vector<ToyQuestion> generate_toy(const ToyOptions& options);

// The split a (context, question) pair belongs to: "test" for one pair in five, else "train".
std::string toy_split_of(const std::string& context, const std::string& question);

// SQuAD v1.1 JSON (one article per split, one paragraph per question).
nlohmann::json toy_to_squad(const std::vector<ToyQuestion>& questions, const std::string& title);

}  // namespace xai::toy
