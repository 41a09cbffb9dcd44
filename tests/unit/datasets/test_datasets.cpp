// Dataset readers (SQuAD v1.1/v2.0, JSONL) and the registry: the samples they build (prompt,
// target, explain and evidence spans in bytes) and the one-line errors for bad input.
#include <gtest/gtest.h>

#include "datasets/dataset.h"
#include "datasets/prompt_template.h"
#include "datasets/squad.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;
using test::TempDir;

std::string slice(const std::string& s, const ByteSpan& sp) {
  return s.substr(static_cast<size_t>(sp.begin), static_cast<size_t>(sp.end - sp.begin));
}

// "Zürich" and "café" put multi-byte characters before the answer: answer_start counts
// characters, the spans count bytes.
const char* kSquadV2 = R"({"version": "v2.0", "data": [
  {"title": "Cities", "paragraphs": [
    {"context": "Zürich has a café. Mara lives in Oslo.",
     "qas": [
       {"id": "q1", "question": "Where does Mara live?",
        "answers": [{"text": "Oslo", "answer_start": 33}, {"text": "in Oslo", "answer_start": 30}],
        "is_impossible": false},
       {"id": "q2", "question": "Where does Ben live?", "answers": [], "is_impossible": true,
        "plausible_answers": [{"text": "Oslo", "answer_start": 33}]},
       {"id": "q3", "question": "What has a café?",
        "answers": [{"text": "Zürich", "answer_start": 0}]}
     ]}]},
  {"title": "Bad", "paragraphs": [
    {"context": "Ben works in Lima.",
     "qas": [
       {"id": "b1", "question": "Where?", "answers": [{"text": "Lima", "answer_start": 12}]},
       {"id": "b2", "answers": [{"text": "Lima", "answer_start": 13}]},
       {"question": "Where?", "answers": [{"text": "Lima", "answer_start": 13}]},
       {"id": "b4", "question": "Where?", "answers": [{"text": "Lima", "answer_start": 99}]}
     ]}]}
]})";

struct SquadFile {
  TempDir dir;
  std::string path = dir.file("dev-v2.0.json");
  explicit SquadFile(const std::string& text) { test::write_file(path, text); }
};

TEST(SquadReader, BuildsPromptTargetAndByteSpans) {
  SquadFile f(kSquadV2);
  DatasetOptions o;
  o.path = f.path;
  auto ds = open_dataset("squad", o);
  ASSERT_EQ(ds->size(), 6);
  EXPECT_EQ(ds->skipped(), 1);  // q2, unanswerable
  EXPECT_NE(ds->skipped_reason().find("is_impossible"), std::string::npos);

  const Sample s = ds->get(0);
  const std::string context = "Zürich has a café. Mara lives in Oslo.";
  EXPECT_EQ(s.id, "q1");
  EXPECT_EQ(s.prompt, context + "\nQuestion: Where does Mara live?\nAnswer:");
  EXPECT_EQ(s.target, " Oslo");
  ASSERT_EQ(s.explain.size(), 1u);
  EXPECT_EQ(s.explain[0], (ByteSpan{0, static_cast<int64_t>(context.size())}));
  ASSERT_EQ(s.evidence.size(), 1u);
  EXPECT_EQ(s.evidence[0], (ByteSpan{35, 39}));  // character 33 is byte 35
  EXPECT_EQ(slice(s.prompt, s.evidence[0]), "Oslo");
  EXPECT_EQ(s.meta.at("question"), "Where does Mara live?");
  EXPECT_EQ(s.meta.at("title"), "Cities");

  const Sample z = ds->get(1);
  EXPECT_EQ(z.id, "q3");
  EXPECT_EQ(z.evidence[0], (ByteSpan{0, 7}));
  EXPECT_EQ(z.target, " Zürich");
}

TEST(SquadReader, BadQuestionsThrowFromGetNamingFileIdAndProblem) {
  SquadFile f(kSquadV2);
  DatasetOptions o;
  o.path = f.path;
  auto ds = open_dataset("squad", o);
  expect_error([&] { ds->get(2); }, {"dev-v2.0.json", "question 'b1'",
                                     "answer_start 12 does not point at the answer "
                                     "'Lima'",
                                     "' Lim'"});
  expect_error([&] { ds->get(3); }, {"question 'b2'", "missing field 'question'"});
  EXPECT_EQ(ds->id(4), "dev-v2.0#4");  // no id: made from the position
  expect_error([&] { ds->get(4); }, {"question 'dev-v2.0#4'", "missing field 'id'"});
  expect_error([&] { ds->get(5); }, {"question 'b4'", "answer_start 99", "beyond the end"});
  expect_error([&] { ds->get(6); }, {"index 6 outside [0, 6)"});
}

TEST(SquadReader, MalformedFilesFailAtOpen) {
  SquadFile bad(R"({"data": [ {"title": "x", "paragraphs": [}]})");
  DatasetOptions o;
  o.path = bad.path;
  expect_error([&] { open_dataset("squad", o); }, {"dev-v2.0.json", "malformed JSON"});
  SquadFile no_data(R"({"version": "1.1"})");
  o.path = no_data.path;
  expect_error([&] { open_dataset("squad", o); }, {"data is missing or not a list"});
  o.path = "/no/such/file.json";
  expect_error([&] { open_dataset("squad", o); }, {"/no/such/file.json", "cannot open"});
}

TEST(SquadReader, TemplatesLimitAndExplainOption) {
  SquadFile f(kSquadV2);
  DatasetOptions o;
  o.path = f.path;
  o.prompt_template = "[{title}] Q: {question} C: {context} A:";
  o.target_template = " {answer}.";
  o.explain = "prompt";
  o.limit = 2;
  auto ds = open_dataset("squad", o);
  EXPECT_EQ(ds->size(), 2);
  const Sample s = ds->get(0);
  EXPECT_EQ(s.prompt,
            "[Cities] Q: Where does Mara live? C: Zürich has a café. Mara lives in Oslo. A:");
  EXPECT_EQ(s.target, " Oslo.");
  EXPECT_TRUE(s.explain.empty());
  EXPECT_EQ(slice(s.prompt, s.evidence[0]), "Oslo");

  o.prompt_template = "{context} {qestion}";
  expect_error([&] { open_dataset("squad", o); },
               {"prompt_template", "unknown placeholder '{qestion}'", "{question}"});
  o.prompt_template = "Q: {question}";
  o.explain = "context";
  expect_error([&] { open_dataset("squad", o); }, {"no {context} to explain", "explain: prompt"});
  o.explain = "everything";
  o.prompt_template = "{context}";
  expect_error([&] { open_dataset("squad", o); }, {"explain must be 'context' or 'prompt'"});
}

TEST(PromptTemplate, LiteralBracesStayAndSpansAreRecorded) {
  const PromptTemplate t("{a} {not closed {b}{} {1x} {a}", "t", {"a", "b"});
  EXPECT_TRUE(t.uses("a"));
  EXPECT_FALSE(t.uses("c"));
  const PromptTemplate::Rendered r = t.render({{"a", "AA"}, {"b", "β"}});
  EXPECT_EQ(r.text, "AA {not closed β{} {1x} AA");
  EXPECT_EQ(r.spans.at("a"), (std::vector<ByteSpan>{{0, 2}, {25, 27}}));
  EXPECT_EQ(r.spans.at("b"), (std::vector<ByteSpan>{{15, 17}}));
}

TEST(JsonlReader, ReadsSpansIdsAndReportsBadLinesFromGet) {
  TempDir dir;
  const std::string path = dir.file("qa.jsonl");
  test::write_file(
      path,
      "{\"id\": \"a\", \"prompt\": \"Mara lives in Oslo.\", \"target\": \" Oslo\", "
      "\"evidence\": [[14, 18]], \"explain\": [[0, 19]]}\n"
      "\n"
      "{\"prompt\": \"x\", \"target\": \"y\"}\n"
      "{\"prompt\": \"x\", \"target\": \n"
      "{\"id\": \"d\", \"prompt\": \"abc\", \"target\": \"y\", \"evidence\": [[1, 9]]}\n"
      "{\"id\": \"e\", \"prompt\": \"abc\"}\n");
  DatasetOptions o;
  o.path = path;
  auto ds = open_dataset("jsonl", o);
  ASSERT_EQ(ds->size(), 5);
  const Sample a = ds->get(0);
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.target, " Oslo");
  EXPECT_EQ(a.evidence, (std::vector<ByteSpan>{{14, 18}}));
  EXPECT_EQ(a.explain, (std::vector<ByteSpan>{{0, 19}}));
  EXPECT_EQ(ds->get(1).id, "qa-3");  // line 3: made from the file stem and the line
  EXPECT_TRUE(ds->get(1).evidence.empty());
  expect_error([&] { ds->get(2); }, {"qa.jsonl:4", "malformed JSON"});
  expect_error([&] { ds->get(3); }, {"qa.jsonl:5", "sample 'd'", "evidence[0] = [1, 9]"});
  expect_error([&] { ds->get(4); }, {"qa.jsonl:6", "missing field 'target'"});

  o.explain = "prompt";
  EXPECT_TRUE(open_dataset("jsonl", o)->get(0).explain.empty());
}

// A line's foil (a contrast): text for a language model, a class name or id for a classifier.
TEST(JsonlReader, ReadsAFoil) {
  TempDir dir;
  const std::string path = dir.file("foil.jsonl");
  test::write_file(path,
                   "{\"id\": \"a\", \"prompt\": \"Mara works in\", \"target\": \" Rome\", "
                   "\"foil\": \" Lima\"}\n"
                   "{\"id\": \"b\", \"text\": \"fine\", \"label\": 1, \"foil\": 0}\n"
                   "{\"id\": \"c\", \"prompt\": \"x\", \"target\": \"y\", \"foil\": 3}\n"
                   "{\"id\": \"d\", \"prompt\": \"x\", \"target\": \"y\", \"foil\": \"\"}\n");
  DatasetOptions o;
  o.path = path;
  auto ds = open_dataset("jsonl", o);
  EXPECT_EQ(ds->get(0).foil, " Lima");
  EXPECT_EQ(ds->get(1).foil, "0");
  expect_error([&] { ds->get(2); }, {"foil.jsonl:3", "field 'foil' is a number", "no label"});
  expect_error([&] { ds->get(3); }, {"foil.jsonl:4", "field 'foil' is empty"});
}

// dataset.target: generate marks every sample with what to generate; the keys only it reads are
// refused without it.
TEST(Datasets, GeneratedTargetsCarryTheirSettings) {
  DatasetOptions o;
  o.path = std::string(XAI_SOURCE_DIR) + "/datasets/toy/data/test.json";
  o.limit = 2;
  o.target = "generate";
  o.max_new_tokens = 5;
  o.stop = "\n";
  auto ds = open_dataset("toy", o);
  EXPECT_EQ(ds->generated_tokens(), 5);
  const Sample s = ds->get(1);
  EXPECT_EQ(s.generate.max_new_tokens, 5);
  EXPECT_EQ(s.generate.stop, "\n");
  EXPECT_FALSE(s.target.empty()) << "the dataset's answer, for the exact match";
  o.target = "given";
  EXPECT_EQ(open_dataset("toy", o)->generated_tokens(), 0);
  EXPECT_EQ(open_dataset("toy", o)->get(0).generate.max_new_tokens, 0);
  o.target = "sample";
  expect_error([&] { open_dataset("toy", o); }, {"target must be given or generate"});
}

TEST(DatasetRegistry, UnknownTypeListsTheKnownOnes) {
  expect_error([&] { open_dataset("sqad", DatasetOptions{}); },
               {"dataset type 'sqad'", "squad, jsonl, toy"});
}

TEST(DatasetRegistry, OpensFromAConfigNode) {
  Config c = Config::parse("dataset:\n  type: toy\n  split: test\n  limit: 7\n", "exp.yaml");
  auto ds = open_dataset(c.root().child("dataset"));
  c.finish_all();
  EXPECT_EQ(ds->size(), 7);
  EXPECT_EQ(ds->source(), "toy:test");
  EXPECT_EQ(ds->get(6).id, "toy-test-00006");
}

// Results are keyed by id: two lines with one id were both computed and one silently dropped.
TEST(DatasetRegistry, DuplicateIdsAreAnErrorNamingBothLinesOrAreRenamedWhenAsked) {
  TempDir dir;
  const std::string path = dir.file("dup.jsonl");
  test::write_file(path,
                   "{\"id\": \"a\", \"prompt\": \"one\", \"target\": \" x\"}\n"
                   "{\"id\": \"b\", \"prompt\": \"two\", \"target\": \" y\"}\n"
                   "\n"
                   "{\"id\": \"a\", \"prompt\": \"three\", \"target\": \" z\"}\n"
                   "{\"id\": \"a#2\", \"prompt\": \"four\", \"target\": \" w\"}\n"
                   "{\"id\": \"a\", \"prompt\": \"five\", \"target\": \" v\"}\n");
  DatasetOptions o;
  o.path = path;
  expect_error([&] { open_dataset("jsonl", o); }, {"dup.jsonl", "sample id 'a' is used twice",
                                                   "line 1 and line 4", "duplicate_ids: rename"});
  o.rename_duplicate_ids = true;
  auto ds = open_dataset("jsonl", o);
  ASSERT_EQ(ds->size(), 5);
  // File order; a renamed id skips one the file already uses ("a#2").
  const std::vector<std::string> want = {"a", "b", "a#3", "a#2", "a#4"};
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(ds->id(i), want[static_cast<size_t>(i)]);
    EXPECT_EQ(ds->get(i).id, want[static_cast<size_t>(i)]);
  }
  EXPECT_EQ(ds->get(2).prompt, "three");
  // From YAML: duplicate_ids: rename; anything else is named.
  Config c = Config::parse(
      str_cat("dataset:\n  type: jsonl\n  path: ", path, "\n  duplicate_ids: rename\n"),
      "exp.yaml");
  EXPECT_EQ(open_dataset(c.root().child("dataset"))->id(2), "a#3");
  Config bad = Config::parse(
      str_cat("dataset:\n  type: jsonl\n  path: ", path, "\n  duplicate_ids: keep\n"), "exp.yaml");
  expect_error([&] { open_dataset(bad.root().child("dataset")); },
               {"exp.yaml:4: dataset.duplicate_ids", "error, rename"});
}

TEST(DatasetRegistry, DuplicateIdsInSquadAreNamedByEntry) {
  SquadFile f(R"({"version": "1.1", "data": [{"title": "t", "paragraphs": [
    {"context": "Mara lives in Oslo.", "qas": [
      {"id": "q", "question": "Where?", "answers": [{"text": "Oslo", "answer_start": 14}]},
      {"id": "q", "question": "Who?", "answers": [{"text": "Mara", "answer_start": 0}]}]}]}]})");
  DatasetOptions o;
  o.path = f.path;
  expect_error([&] { open_dataset("squad", o); },
               {"dev-v2.0.json", "sample id 'q' is used twice", "entry 1 and entry 2"});
}

}  // namespace
}  // namespace xai
