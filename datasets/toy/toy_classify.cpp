#include "datasets/toy/toy_classify.h"

#include <cstdio>
#include <set>

#include "datasets/toy/toy_rng.h"
#include "framework/common/error.h"

namespace xai::toy {
namespace {

const std::vector<std::string> kFiller = {
    "the",    "film",  "story",  "plot",   "actor", "scene", "music", "camera", "script",
    "city",   "night", "friend", "dog",    "house", "road",  "river", "window", "morning",
    "winter", "car",   "letter", "song",   "crowd", "table", "book",  "train",  "garden",
    "doctor", "child", "market", "island", "door",  "voice", "light", "and",    "with",
    "about",  "of",    "in",     "on",     "was",   "is",    "had",   "a"};
// Per class (negative, neutral, positive): its adverbs and its adjectives.
const std::vector<std::vector<std::string>> kAdverbs = {{"utterly", "painfully", "badly"},
                                                        {"fairly", "mostly", "rather"},
                                                        {"truly", "simply", "deeply"}};
const std::vector<std::vector<std::string>> kAdjectives = {{"awful", "dull", "broken"},
                                                           {"average", "ordinary", "plain"},
                                                           {"wonderful", "brilliant", "moving"}};

}  // namespace

const std::vector<std::string>& toy_class_labels() {
  static const std::vector<std::string> labels = {"negative", "neutral", "positive"};
  return labels;
}

std::vector<std::string> toy_classification_words() {
  std::vector<std::string> words = kFiller;
  for (const auto& group : {kAdverbs, kAdjectives}) {
    for (const auto& c : group) words.insert(words.end(), c.begin(), c.end());
  }
  return words;
}

std::vector<Sample> generate_toy_classification(const ToyClassOptions& o) {
  XAI_CHECK(o.split == "train" || o.split == "test", "toy_classify: split must be train or test");
  XAI_CHECK(o.n >= 0 && o.min_words >= 1 && o.min_words <= o.max_words && o.max_distractors >= 0,
            "toy_classify: bad options");
  Rng rng(fnv1a(o.split, o.seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull));
  const int C = static_cast<int>(toy_class_labels().size());
  std::vector<Sample> out;
  std::set<std::string> seen;
  for (int64_t tries = 0; static_cast<int64_t>(out.size()) < o.n; ++tries) {
    XAI_CHECK(tries < 1000 * (o.n + 10), "toy_classify: cannot draw ", o.n, " distinct texts");
    const int c = rng.below(C);
    const int n_words = o.min_words + rng.below(o.max_words - o.min_words + 1);
    std::vector<std::string> words;
    for (int i = 0; i < n_words; ++i) {
      words.push_back(kFiller[static_cast<size_t>(rng.below(static_cast<int>(kFiller.size())))]);
    }
    // Distractors: lone adverbs of the other classes.
    const int distractors = rng.below(o.max_distractors + 1);
    for (int d = 0; d < distractors; ++d) {
      const int other = (c + 1 + rng.below(C - 1)) % C;
      const auto& adverbs = kAdverbs[static_cast<size_t>(other)];
      const size_t at = static_cast<size_t>(rng.below(static_cast<int>(words.size()) + 1));
      words.insert(words.begin() + static_cast<std::ptrdiff_t>(at),
                   adverbs[static_cast<size_t>(rng.below(static_cast<int>(adverbs.size())))]);
    }
    const auto& adverbs = kAdverbs[static_cast<size_t>(c)];
    const auto& adjectives = kAdjectives[static_cast<size_t>(c)];
    const std::string cue =
        adverbs[static_cast<size_t>(rng.below(static_cast<int>(adverbs.size())))] + " " +
        adjectives[static_cast<size_t>(rng.below(static_cast<int>(adjectives.size())))];
    const size_t at = static_cast<size_t>(rng.below(static_cast<int>(words.size()) + 1));
    words.insert(words.begin() + static_cast<std::ptrdiff_t>(at), cue);
    std::string text;
    int64_t cue_begin = 0;
    for (size_t i = 0; i < words.size(); ++i) {
      if (i > 0) text += ' ';
      if (i == at) cue_begin = static_cast<int64_t>(text.size());
      text += words[i];
    }
    const bool test = fnv1a(text) % 5 == 0;
    if (test != (o.split == "test") || !seen.insert(text).second) continue;
    Sample s;
    char id[48];
    std::snprintf(id, sizeof(id), "toy-cls-%s-%05lld", o.split.c_str(),
                  static_cast<long long>(out.size()));
    s.id = id;
    s.prompt = text;
    s.label = toy_class_labels()[static_cast<size_t>(c)];
    s.evidence.push_back(ByteSpan{cue_begin, cue_begin + static_cast<int64_t>(cue.size())});
    s.meta["cue"] = cue;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace xai::toy
