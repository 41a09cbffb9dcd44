// See toy_task.h.
#include "datasets/toy/toy_task.h"

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include "datasets/toy/toy_rng.h"
#include "framework/common/error.h"

namespace xai::toy {
namespace {

uint64_t split_seed(uint64_t seed, const std::string& split) {
  return fnv1a(split, seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull);
}

bool has_pair(const std::vector<ToyFact>& facts, int name, int verb) {
  for (const ToyFact& f : facts)
    if (f.name == name && f.verb == verb) return true;
  return false;
}

int other_than(Rng& rng, int n, int avoid) {
  int x = rng.below(n - 1);
  return x >= avoid ? x + 1 : x;
}

// The facts in a random order (Fisher-Yates); where[k] = the new position of facts[k].
std::vector<ToyFact> shuffled(Rng& rng, const std::vector<ToyFact>& facts,
                              std::vector<int>& where) {
  std::vector<int> order(facts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  for (int i = static_cast<int>(order.size()) - 1; i > 0; --i)
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng.below(i + 1))]);
  std::vector<ToyFact> out(facts.size());
  where.assign(facts.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) {
    out[i] = facts[static_cast<size_t>(order[i])];
    where[static_cast<size_t>(order[i])] = static_cast<int>(i);
  }
  return out;
}

// One context: the answering fact (drawn first), the required distractors, random fill, then
// shuffled. Returns the facts in context order; *where[k] is the position of drawn fact k.
std::vector<ToyFact> draw_context(Rng& rng, const ToyOptions& o, std::vector<int>& where) {
  const int n_names = static_cast<int>(toy_names().size());
  const int n_verbs = static_cast<int>(toy_verbs().size());
  const int n_cities = static_cast<int>(toy_cities().size());
  const int n_facts = o.min_facts + rng.below(o.max_facts - o.min_facts + 1);

  const ToyFact target{rng.below(n_names), rng.below(n_verbs), rng.below(n_cities)};
  std::vector<ToyFact> facts{target};
  // The same person doing something else somewhere else.
  facts.push_back(
      {target.name, other_than(rng, n_verbs, target.verb), other_than(rng, n_cities, target.city)});
  // Someone else with the same verb, somewhere else.
  const int other = other_than(rng, n_names, target.name);
  facts.push_back({other, target.verb, other_than(rng, n_cities, target.city)});
  // Half the time someone else is in the answer's city too.
  if (rng.coin()) {
    if (n_facts == 3) {
      facts.back().city = target.city;
    } else {
      int name = other_than(rng, n_names, target.name), verb = rng.below(n_verbs);
      while (has_pair(facts, name, verb)) {
        name = other_than(rng, n_names, target.name);
        verb = rng.below(n_verbs);
      }
      facts.push_back({name, verb, target.city});
    }
  }
  // Fill: people already named half the time, so names repeat with different verbs.
  while (static_cast<int>(facts.size()) < n_facts) {
    ToyFact f;
    do {
      f.name = rng.coin()
                   ? facts[static_cast<size_t>(rng.below(static_cast<int>(facts.size())))].name
                   : rng.below(n_names);
      f.verb = rng.below(n_verbs);
    } while (has_pair(facts, f.name, f.verb));
    f.city = rng.below(n_cities);
    facts.push_back(f);
  }
  return shuffled(rng, facts, where);
}

// A context where one attribute alone decides: every fact about one person (3 or 4 facts, one per
// verb), or every fact with one verb (3 to max_facts people).
std::vector<ToyFact> draw_single_attribute_context(Rng& rng, const ToyOptions& o,
                                                   std::vector<int>& where) {
  const int n_names = static_cast<int>(toy_names().size());
  const int n_verbs = static_cast<int>(toy_verbs().size());
  const int n_cities = static_cast<int>(toy_cities().size());
  std::vector<ToyFact> facts;
  if (rng.coin()) {
    const int name = rng.below(n_names);
    const int n = std::min(n_verbs, o.min_facts + rng.below(2));
    std::vector<int> verbs(static_cast<size_t>(n_verbs));
    for (int v = 0; v < n_verbs; ++v) verbs[static_cast<size_t>(v)] = v;
    for (int i = n_verbs - 1; i > 0; --i)
      std::swap(verbs[static_cast<size_t>(i)], verbs[static_cast<size_t>(rng.below(i + 1))]);
    for (int i = 0; i < n; ++i)
      facts.push_back({name, verbs[static_cast<size_t>(i)], rng.below(n_cities)});
  } else {
    const int verb = rng.below(n_verbs);
    const int n = o.min_facts + rng.below(o.max_facts - o.min_facts + 1);
    while (static_cast<int>(facts.size()) < n) {
      const int name = rng.below(n_names);
      if (!has_pair(facts, name, verb)) facts.push_back({name, verb, rng.below(n_cities)});
    }
  }
  return shuffled(rng, facts, where);
}

// The question about facts[answer_fact] (whose (name, verb) pair is unique in the context).
ToyQuestion make_question(const std::vector<ToyFact>& facts, int answer_fact) {
  ToyQuestion q;
  q.facts = facts;
  q.answer_fact = answer_fact;
  for (size_t i = 0; i < facts.size(); ++i) {
    const ToyFact& f = facts[i];
    if (i > 0) q.context += ' ';
    q.context += toy_names()[f.name] + " " + toy_verbs()[f.verb].third + " in ";
    if (static_cast<int>(i) == answer_fact) q.answer_start = static_cast<int64_t>(q.context.size());
    q.context += toy_cities()[f.city] + ".";
  }
  const ToyFact& t = facts[static_cast<size_t>(answer_fact)];
  q.question = "Where does " + toy_names()[t.name] + " " + toy_verbs()[t.verb].base + "?";
  q.answer = toy_cities()[t.city];
  return q;
}

}  // namespace

const std::vector<std::string>& toy_names() {
  static const std::vector<std::string> kNames = {"Mara", "Ben",  "Omar", "Lena", "Ivan", "Sofia",
                                                  "Noah", "Emma", "Liam", "Zoe",  "Hugo", "Nina",
                                                  "Theo", "Ada",  "Leo",  "Maya", "Finn", "Iris",
                                                  "Yuki", "Ravi", "Tara", "Milo", "Nora", "Eli"};
  return kNames;
}

const std::vector<std::string>& toy_cities() {
  static const std::vector<std::string> kCities = {
      "Oslo",  "Lima",  "Paris", "Rome",   "Cairo", "Tokyo", "Delhi", "Seoul",
      "Quito", "Dakar", "Bern",  "Kyiv",   "Accra", "Hanoi", "Doha",  "Riga",
      "Baku",  "Minsk", "Porto", "Vienna", "Lyon",  "Milan", "Perth", "Dublin"};
  return kCities;
}

const std::vector<ToyVerb>& toy_verbs() {
  static const std::vector<ToyVerb> kVerbs = {
      {"live", "lives"}, {"work", "works"}, {"study", "studies"}, {"teach", "teaches"}};
  return kVerbs;
}

std::string toy_split_of(const std::string& context, const std::string& question) {
  return fnv1a(context + "\x1f" + question) % 5 == 0 ? "test" : "train";
}

std::vector<ToyQuestion> generate_toy(const ToyOptions& o) {
  XAI_CHECK(o.split == "train" || o.split == "test", "toy: split must be 'train' or 'test' (got '",
            o.split, "')");
  XAI_CHECK(o.n >= 0, "toy: the number of questions must not be negative (got ", o.n, ")");
  XAI_CHECK(o.min_facts >= 3 && o.max_facts >= o.min_facts && o.max_facts <= 12,
            "toy: facts per context must satisfy 3 <= min_facts <= max_facts <= 12 (got ",
            o.min_facts, ", ", o.max_facts, ")");
  XAI_CHECK(o.single_attribute_share >= 0 && o.single_attribute_share <= 1,
            "toy: single_attribute_share must be in [0, 1] (got ", o.single_attribute_share, ")");
  XAI_CHECK(o.questions_per_context >= 1, "toy: questions_per_context must be positive (got ",
            o.questions_per_context, ")");
  Rng rng(split_seed(o.seed, o.split));
  std::vector<ToyQuestion> out;
  out.reserve(static_cast<size_t>(o.n));
  std::unordered_set<uint64_t> seen;
  std::vector<int> where;
  while (static_cast<int64_t>(out.size()) < o.n) {
    const bool single = o.single_attribute_share > 0 && rng.unit() < o.single_attribute_share;
    const std::vector<ToyFact> facts =
        single ? draw_single_attribute_context(rng, o, where) : draw_context(rng, o, where);
    // In drawing order: the answering fact, the same person's other fact, the same verb's other
    // person, then the rest.
    const int k_max = std::min(o.questions_per_context, static_cast<int>(facts.size()));
    for (int k = 0; k < k_max && static_cast<int64_t>(out.size()) < o.n; ++k) {
      ToyQuestion q = make_question(facts, where[static_cast<size_t>(k)]);
      if (toy_split_of(q.context, q.question) != o.split) continue;
      if (!seen.insert(fnv1a(q.context + "\x1f" + q.question)).second) continue;
      char id[64];
      std::snprintf(id, sizeof(id), "toy-%s-%05lld", o.split.c_str(),
                    static_cast<long long>(out.size()));
      q.id = id;
      out.push_back(std::move(q));
    }
  }
  return out;
}

nlohmann::json toy_to_squad(const std::vector<ToyQuestion>& questions, const std::string& title) {
  nlohmann::json paragraphs = nlohmann::json::array();
  for (const ToyQuestion& q : questions) {
    nlohmann::json qa = {{"id", q.id},
                         {"question", q.question},
                         {"answers", {{{"text", q.answer}, {"answer_start", q.answer_start}}}}};
    paragraphs.push_back({{"context", q.context}, {"qas", nlohmann::json::array({qa})}});
  }
  return {{"version", "1.1"},
          {"data", nlohmann::json::array({{{"title", title}, {"paragraphs", paragraphs}}})}};
}

}  // namespace xai::toy
