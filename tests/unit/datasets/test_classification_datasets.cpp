// Classification datasets: the toy text classification task (deterministic, splits disjoint, the
// cue phrase's bytes are the evidence and decide the class), JSONL classification lines ({text,
// label} and pairs {text_a, text_b, label}), GLUE TSV files, and how a pair is encoded (token
// types, offsets into the joined text).
#include <gtest/gtest.h>

#include <set>

#include "datasets/dataset.h"
#include "datasets/toy/toy_classify.h"
#include "framework/config/config.h"
#include "framework/text/encoded.h"
#include "tests/unit/test_util.h"

namespace xai {
namespace {

using test::expect_error;
using test::TempDir;

TEST(ToyClassify, DeterministicDisjointSplitsWithTheCueAsEvidence) {
  toy::ToyClassOptions o;
  o.n = 300;
  const std::vector<Sample> a = toy::generate_toy_classification(o);
  const std::vector<Sample> b = toy::generate_toy_classification(o);
  ASSERT_EQ(a.size(), 300u);
  o.split = "train";
  o.n = 1500;
  std::set<std::string> train;
  for (const Sample& s : toy::generate_toy_classification(o)) train.insert(s.prompt);
  EXPECT_EQ(train.size(), 1500u);  // no text twice within a split
  std::map<std::string, int> per_class;
  const auto& labels = toy::toy_class_labels();
  for (size_t i = 0; i < a.size(); ++i) {
    const Sample& s = a[i];
    EXPECT_EQ(s.prompt, b[i].prompt);
    EXPECT_EQ(s.id, b[i].id);
    EXPECT_EQ(train.count(s.prompt), 0u) << s.prompt;
    ASSERT_EQ(s.evidence.size(), 1u);
    const ByteSpan e = s.evidence[0];
    const std::string cue = s.prompt.substr(e.begin, e.end - e.begin);
    EXPECT_EQ(cue, s.meta.at("cue"));
    EXPECT_NE(std::find(labels.begin(), labels.end(), s.label), labels.end());
    ++per_class[s.label];
  }
  for (const std::string& l : labels) EXPECT_GT(per_class[l], 60) << l;  // about 100 each
  EXPECT_EQ(a[17].id, "toy-cls-test-00017");
}

TEST(ToyClassify, TheAdjectiveOfTheCueDecidesTheClassAlone) {
  // Every adjective appears in texts of one class only, and only inside the cue: a perfect
  // classifier exists, and the evidence holds what it must read.
  toy::ToyClassOptions o;
  o.n = 500;
  std::map<std::string, std::set<std::string>> classes_of_adjective;
  for (const Sample& s : toy::generate_toy_classification(o)) {
    const std::string cue = s.meta.at("cue");
    const std::string adjective = cue.substr(cue.find(' ') + 1);
    classes_of_adjective[adjective].insert(s.label);
    const std::string rest = s.prompt.substr(0, s.evidence[0].begin) +
                             s.prompt.substr(static_cast<size_t>(s.evidence[0].end));
    EXPECT_EQ(rest.find(adjective), std::string::npos) << s.prompt;
  }
  EXPECT_EQ(classes_of_adjective.size(), 9u);
  for (const auto& [adj, cls] : classes_of_adjective) EXPECT_EQ(cls.size(), 1u) << adj;
}

TEST(ToyClassify, OpensAsADatasetType) {
  Config c = Config::parse("dataset:\n  type: toy_classify\n  limit: 9\n", "exp.yaml");
  auto ds = open_dataset(c.root().child("dataset"));
  c.finish_all();
  EXPECT_EQ(ds->size(), 9);
  EXPECT_EQ(ds->source(), "toy_classify:test");
  EXPECT_FALSE(ds->get(3).label.empty());
  expect_error([&] { ds->get(9); }, {"toy_classify:test", "index 9"});
}

TEST(JsonlReader, ClassificationLinesGiveATextAndItsClass) {
  TempDir dir;
  const std::string path = dir.file("cls.jsonl");
  test::write_file(path,
                   "{\"id\": \"a\", \"text\": \"truly wonderful film\", \"label\": \"positive\", "
                   "\"evidence\": [[0, 15]]}\n"
                   "{\"text\": \"a dull plot\", \"label\": 0}\n"
                   "{\"text\": \"x\", \"label\": -1}\n"
                   "{\"text\": \"x\", \"label\": \"pos\", \"evidence\": [[0, 5]]}\n"
                   "{\"text_a\": \"a cat\", \"text_b\": \"it sat\", \"label\": 1, "
                   "\"evidence\": [[6, 12]]}\n"
                   "{\"label\": 1}\n"
                   "{\"text_a\": \"x\", \"label\": 1}\n");
  DatasetOptions o;
  o.path = path;
  auto ds = open_dataset("jsonl", o);
  const Sample a = ds->get(0);
  EXPECT_EQ(a.prompt, "truly wonderful film");
  EXPECT_EQ(a.label, "positive");
  EXPECT_TRUE(a.target.empty());
  EXPECT_EQ(a.evidence, (std::vector<ByteSpan>{{0, 15}}));
  EXPECT_EQ(ds->get(1).label, "0");  // a class id
  expect_error([&] { ds->get(2); }, {"cls.jsonl:3", "'label'", "class name or a class id"});
  expect_error([&] { ds->get(3); }, {"cls.jsonl:4", "evidence[0]", "of the text"});
  const Sample pair = ds->get(4);
  EXPECT_EQ(pair.prompt, "a cat\nit sat");
  EXPECT_EQ(pair.pair_split, 6);
  EXPECT_EQ(pair.label, "1");
  expect_error([&] { ds->get(5); }, {"cls.jsonl:6", "missing field 'text'"});
  expect_error([&] { ds->get(6); }, {"cls.jsonl:7", "missing field 'text_b'"});
}

TEST(EncodeSample, APairGetsTokenTypesAndOffsetsIntoTheJoinedText) {
  const Tokenizer tok = Tokenizer::from_file(test::fixture("models/bert/tokenizer.json"));
  Sample s;
  s.id = "p";
  s.prompt = "the cat\nit sat";
  s.pair_split = 8;
  s.label = "entailment";
  s.evidence = {{8, 10}};  // "it", in text b
  const Encoded e = encode_sample(s, tok, 64, {"contradiction", "entailment", "neutral"});
  // [CLS] the cat [SEP] it sat [SEP]: types 0 up to the first [SEP], then 1.
  const Encoding a = tok.encode("the cat", false), b = tok.encode("it sat", false);
  const size_t na = a.size(), nb = b.size();
  ASSERT_EQ(e.size(), static_cast<int64_t>(na + nb + 3));
  std::vector<int64_t> types(na + 2, 0);
  types.resize(na + nb + 3, 1);
  EXPECT_EQ(e.token_types, types);
  EXPECT_EQ(e.offsets[na + 2].begin, 8 + b.offsets[0].begin);  // b's first token, past a + '\n'
  EXPECT_EQ(s.prompt.substr(e.offsets[na + 2].begin, 2), "it");
  EXPECT_EQ(e.evidence_mask[na + 2], 1.0f);
  EXPECT_EQ(e.explain_mask[na + 1], 0);  // the middle [SEP]: special, not explained
  EXPECT_EQ(e.target_ids, std::vector<int64_t>{1});
  // Case aside, a class name matches its one class.
  s.label = "ENTAILMENT";
  EXPECT_EQ(encode_sample(s, tok, 64, {"contradiction", "entailment", "neutral"}).target_ids,
            std::vector<int64_t>{1});
  // A language model does not read pairs.
  s.label = "";
  s.target = " x";
  expect_error([&] { encode_sample(s, tok, 64); }, {"sample 'p'", "text pair", "classifier"});
}

TEST(GlueReader, ReadsTheTaskFormatsAsDownloaded) {
  TempDir dir;
  // RTE: index, sentence1, sentence2, label.
  test::write_file(dir.file("rte.tsv"),
                   "index\tsentence1\tsentence2\tlabel\n"
                   "0\tA cat sat.\tAn animal sat.\tentailment\n"
                   "1\tIt rained.\tIt was dry.\tnot_entailment\r\n"
                   "2\tA.\tB.\t-\n"
                   "3\tShort.\n");
  DatasetOptions o;
  o.path = dir.file("rte.tsv");
  auto rte = open_dataset("glue", o);
  ASSERT_EQ(rte->size(), 4);
  const Sample r0 = rte->get(0);
  EXPECT_EQ(r0.id, "0");
  EXPECT_EQ(r0.prompt, "A cat sat.\nAn animal sat.");
  EXPECT_EQ(r0.pair_split, 11);
  EXPECT_EQ(r0.label, "entailment");
  EXPECT_EQ(rte->get(1).label, "not_entailment");  // the CR of a CRLF line is not the label's
  expect_error([&] { rte->get(2); }, {"rte.tsv:4", "sample '2'", "no label"});
  expect_error([&] { rte->get(3); }, {"rte.tsv:5", "2 fields", "no second text"});
  // SST-2: sentence, label (an id).
  test::write_file(dir.file("sst2.tsv"), "sentence\tlabel\nit 's a charming film \t1\n");
  o.path = dir.file("sst2.tsv");
  const Sample s0 = open_dataset("glue", o)->get(0);
  EXPECT_EQ(s0.prompt, "it 's a charming film ");
  EXPECT_EQ(s0.pair_split, -1);
  EXPECT_EQ(s0.label, "1");
  EXPECT_EQ(s0.id, "sst2-2");
  // MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String.
  test::write_file(dir.file("mrpc.tsv"),
                   "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t11\t12\tOne.\tUno.\n");
  o.path = dir.file("mrpc.tsv");
  const Sample m0 = open_dataset("glue", o)->get(0);
  EXPECT_EQ(m0.prompt, "One.\nUno.");
  EXPECT_EQ(m0.label, "1");
  // MNLI: gold_label wins over label1; pairID is the id.
  test::write_file(dir.file("mnli.tsv"),
                   "index\tpairID\tsentence1\tsentence2\tlabel1\tgold_label\n"
                   "0\t31193n\tA.\tB.\tneutral\tcontradiction\n");
  o.path = dir.file("mnli.tsv");
  const Sample n0 = open_dataset("glue", o)->get(0);
  EXPECT_EQ(n0.label, "contradiction");
  EXPECT_EQ(n0.id, "0");
  // No text column: an error at open naming the columns it looks for.
  test::write_file(dir.file("bad.tsv"), "a\tb\n1\t2\n");
  o.path = dir.file("bad.tsv");
  expect_error([&] { open_dataset("glue", o); }, {"bad.tsv:1", "no text column", "sentence1"});
}

}  // namespace
}  // namespace xai
