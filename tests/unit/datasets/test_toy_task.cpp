// The toy task generator: determinism, the grammar's guarantees (one answering fact, distractors
// that share the person, the verb and sometimes the city), disjoint splits, and the committed
// test split being exactly the generator's output.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "datasets/dataset.h"
#include "datasets/toy/toy_task.h"

namespace xai::toy {
namespace {

std::vector<ToyQuestion> gen(const std::string& split, int64_t n, uint64_t seed = 0) {
  ToyOptions o;
  o.split = split;
  o.n = n;
  o.seed = seed;
  return generate_toy(o);
}

TEST(ToyTask, SameOptionsGiveTheSameQuestions) {
  const auto a = gen("train", 300, 7), b = gen("train", 300, 7);
  ASSERT_EQ(a.size(), 300u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].context, b[i].context);
    EXPECT_EQ(a[i].question, b[i].question);
    EXPECT_EQ(a[i].answer_start, b[i].answer_start);
  }
  EXPECT_NE(gen("train", 5, 8)[0].context, a[0].context);
  EXPECT_EQ(a[42].id, "toy-train-00042");
}

TEST(ToyTask, EveryQuestionHasExactlyOneAnsweringFactAndItsDistractors) {
  int same_city = 0;
  const auto qs = gen("test", 500);
  for (const ToyQuestion& q : qs) {
    SCOPED_TRACE(q.id + ": " + q.context + " | " + q.question);
    ASSERT_GE(q.facts.size(), 3u);
    ASSERT_LE(q.facts.size(), 8u);
    const ToyFact& t = q.facts[static_cast<size_t>(q.answer_fact)];
    EXPECT_EQ(q.question,
              "Where does " + toy_names()[t.name] + " " + toy_verbs()[t.verb].base + "?");
    EXPECT_EQ(q.answer, toy_cities()[t.city]);
    EXPECT_EQ(q.context.substr(static_cast<size_t>(q.answer_start), q.answer.size()), q.answer);
    int matching = 0, same_person = 0, same_verb = 0, city_elsewhere = 0;
    for (size_t i = 0; i < q.facts.size(); ++i) {
      const ToyFact& f = q.facts[i];
      matching += f.name == t.name && f.verb == t.verb;
      if (static_cast<int>(i) == q.answer_fact) continue;
      same_person += f.name == t.name && f.city != t.city;
      same_verb += f.verb == t.verb && f.name != t.name;
      city_elsewhere += f.city == t.city && f.name != t.name;
    }
    EXPECT_EQ(matching, 1);
    EXPECT_GE(same_person, 1);
    EXPECT_GE(same_verb, 1);
    same_city += city_elsewhere > 0;
    // The answer's span is inside the answering fact, which reads as the grammar says.
    const std::string fact =
        toy_names()[t.name] + " " + toy_verbs()[t.verb].third + " in " + q.answer + ".";
    const size_t at = static_cast<size_t>(q.answer_start) + q.answer.size() + 1 - fact.size();
    EXPECT_EQ(q.context.substr(at, fact.size()), fact);
  }
  EXPECT_GT(same_city, 150);  // about half
  EXPECT_LT(same_city, 350);
}

TEST(ToyTask, TrainingStreamOptionsKeepEveryQuestionAnswerable) {
  ToyOptions o;
  o.split = "train";
  o.n = 600;
  o.questions_per_context = 3;
  o.single_attribute_share = 0.5;
  int shared_context = 0, one_person = 0, one_verb = 0;
  const auto qs = generate_toy(o);
  for (size_t k = 0; k < qs.size(); ++k) {
    const ToyQuestion& q = qs[k];
    SCOPED_TRACE(q.id + ": " + q.context + " | " + q.question);
    const ToyFact& t = q.facts[static_cast<size_t>(q.answer_fact)];
    int matching = 0;
    std::set<int> names, verbs;
    for (const ToyFact& f : q.facts) {
      matching += f.name == t.name && f.verb == t.verb;
      names.insert(f.name);
      verbs.insert(f.verb);
    }
    EXPECT_EQ(matching, 1);
    EXPECT_EQ(q.context.substr(static_cast<size_t>(q.answer_start), q.answer.size()), q.answer);
    EXPECT_EQ(q.answer, toy_cities()[t.city]);
    EXPECT_EQ(toy_split_of(q.context, q.question), "train");
    shared_context += k > 0 && qs[k - 1].context == q.context;
    one_person += names.size() == 1;
    one_verb += verbs.size() == 1;
  }
  EXPECT_GT(shared_context, 300);  // up to three questions per context, consecutive
  EXPECT_GT(one_person, 50);
  EXPECT_GT(one_verb, 50);
}

TEST(ToyTask, SplitsAreDisjointWhateverTheSeeds) {
  std::set<std::string> test;
  for (const auto& q : gen("test", 500)) test.insert(q.context + "|" + q.question);
  EXPECT_EQ(test.size(), 500u);  // no repeats within a split
  for (uint64_t seed : {0u, 1u}) {
    for (const auto& q : gen("train", 5000, seed)) {
      EXPECT_EQ(test.count(q.context + "|" + q.question), 0u) << q.id;
      EXPECT_EQ(toy_split_of(q.context, q.question), "train");
    }
  }
}

TEST(ToyTask, CommittedTestSplitIsTheGeneratorsOutput) {
  // datasets/toy/data/test.json = toy_to_squad(generate_toy({test, 500, seed 0}), "toy-test").
  std::ifstream in(std::string(XAI_SOURCE_DIR) + "/datasets/toy/data/test.json");
  ASSERT_TRUE(in.good()) << "HINT: xai make-toy-data datasets/toy/data/test.json";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(nlohmann::json::parse(ss.str()), toy_to_squad(gen("test", 500), "toy-test"));
}

TEST(ToyTask, DatasetTypeToyMatchesTheSquadReaderOnTheCommittedFile) {
  DatasetOptions o;
  o.split = "test";
  o.limit = 50;
  auto toy = open_dataset("toy", o);
  o.path = std::string(XAI_SOURCE_DIR) + "/datasets/toy/data/test.json";
  auto squad = open_dataset("squad", o);
  ASSERT_EQ(toy->size(), 50);
  ASSERT_EQ(squad->size(), 50);
  for (int64_t i = 0; i < 50; ++i) {
    const Sample a = toy->get(i), b = squad->get(i);
    EXPECT_EQ(a.id, b.id);
    EXPECT_EQ(a.prompt, b.prompt);
    EXPECT_EQ(a.target, b.target);
    EXPECT_EQ(a.evidence, b.evidence);
  }
  const Sample s = toy->get(3);
  EXPECT_EQ(s.id, "toy-test-00003");
  EXPECT_EQ(s.target, " " + s.meta.at("answer"));
  EXPECT_EQ(s.prompt.substr(static_cast<size_t>(s.evidence[0].begin),
                            static_cast<size_t>(s.evidence[0].end - s.evidence[0].begin)),
            s.meta.at("answer"));
}

}  // namespace
}  // namespace xai::toy
