// The toy text classification task: short texts of filler words with one planted cue phrase (an
// adverb and an adjective) that decides the class, among distractor adverbs of the other classes.
// The adjective alone decides (it occurs only in cues); the cue phrase's bytes are the evidence.
// The toy encoders in datasets/toy/models/ (toy_bert, ...) are trained on it (`xai train` with
// task: classify).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/text/encoded.h"

namespace xai::toy {

// The classes, in class-id order: negative, neutral, positive.
const std::vector<std::string>& toy_class_labels();
// Every word a toy text may hold (filler, adverbs, adjectives), for a word-level vocabulary.
std::vector<std::string> toy_classification_words();

struct ToyClassOptions {
  std::string split = "test";  // "train" or "test"
  int64_t n = 500;             // samples to generate
  uint64_t seed = 0;           // base seed; each split draws its own stream from it
  int min_words = 8;           // filler words around the cue
  int max_words = 16;
  int max_distractors = 2;  // lone adverbs of other classes
};

// Deterministic for given options on every platform. The splits partition the texts by a hash
// (one in five is a test text), so no text is in both; within a split no text repeats. Samples
// carry prompt (the text), label (the class name), evidence (the cue phrase's bytes) and meta
// {"cue": phrase}; ids "toy-cls-<split>-00042".
std::vector<Sample> generate_toy_classification(const ToyClassOptions& options);

}  // namespace xai::toy
