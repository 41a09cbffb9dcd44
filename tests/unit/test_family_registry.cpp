// The family registry (family.h, families.cpp): every row reads back what it writes, its tensor
// table is well formed (unique names under the checkpoint prefix, the tied head pointing at the
// embeddings), and the table and the model's own binding agree: a model built from exactly the
// table's tensors runs, and one tensor fewer is refused naming it.
#include <gtest/gtest.h>

#include <set>

#include "framework/common/error.h"
#include "framework/model/arch_registry.h"
#include "framework/model/family.h"
#include "framework/model/model.h"
#include "framework/model/synthetic.h"

namespace xai {
namespace {

ModelSpec small_spec(const FamilyRow& row, int tie) {
  ModelShape shape;
  shape.family = row.name;
  shape.layers = 2;
  shape.hidden = 32;
  shape.heads = 4;
  shape.kv_heads = row.family == Family::kLlama ? 2 : 0;  // GQA where the family has it
  shape.vocab = 300;
  shape.max_positions = 64;
  shape.tie_embeddings = tie;
  return shape_spec(shape, "test: ");
}

TEST(FamilyRegistryTest, EveryModelTypeReadsBackToItsRow) {
  ASSERT_GE(family_rows().size(), 4u);
  std::set<std::string> names;
  for (const FamilyRow& row : family_rows()) {
    EXPECT_TRUE(names.insert(row.name).second) << "two rows named " << row.name;
    EXPECT_EQ(family_by_name(row.name), &row);
    EXPECT_EQ(&family_row(row.family), &row);
    EXPECT_STREQ(family_name(row.family), row.name);
    ASSERT_NE(row.tensors, nullptr) << row.name;
    ASSERT_NE(row.make, nullptr) << row.name;
    for (const char* type : row.model_types) {
      EXPECT_EQ(family_for_model_type(type), &row) << type;
      EXPECT_NE(supported_model_types().find(type), std::string::npos) << type;
    }
    // What the row writes, the row reads: the same family and sizes.
    const ModelSpec s = small_spec(row, -1);
    const ModelSpec back = parse_model_config(model_config_json(s), "round trip");
    EXPECT_EQ(back.family, row.family);
    EXPECT_EQ(back.hidden_size, s.hidden_size);
    EXPECT_EQ(back.num_kv_heads, s.num_kv_heads);
    EXPECT_EQ(back.intermediate_size, s.intermediate_size);
    EXPECT_EQ(back.rotary_dims, s.rotary_dims);
  }
  EXPECT_EQ(family_for_model_type("t5"), nullptr);
  EXPECT_EQ(family_by_name("t5"), nullptr);
  EXPECT_THROW(parse_model_config(R"({"model_type": "t5"})", "x.json"), Error);
}

TEST(FamilyRegistryTest, TablesAreWellFormed) {
  for (const FamilyRow& row : family_rows()) {
    for (int tie : {0, 1}) {
      const ModelSpec s = small_spec(row, tie);
      const auto table = tensor_table(s);
      ASSERT_FALSE(table.empty()) << row.name;
      std::set<std::string> seen;
      int tied = 0;
      for (const TensorEntry& e : table) {
        EXPECT_TRUE(seen.insert(e.name).second) << row.name << ": " << e.name << " twice";
        const bool head = e.name.rfind(row.checkpoint_prefix, 0) != 0;
        if (head && s.classifier()) {  // outside the prefix: only a classifier's head
          EXPECT_EQ(e.name.rfind("classifier.", 0), 0u) << row.name << ": " << e.name;
        } else if (head) {  // or the LM head (and its bias)
          EXPECT_EQ(e.shape.front(), s.vocab_size) << row.name << ": " << e.name;
        }
        for (int64_t d : e.shape) EXPECT_GT(d, 0) << e.name;
        if (e.role == TensorRole::kTied) {
          ++tied;
          EXPECT_EQ(e.tied_to, table.front().name) << row.name << ": the head ties to the "
                                                   << "embeddings, the table's first tensor";
          EXPECT_EQ(e.shape, table.front().shape);
        }
        const int layer = tensor_layer(e.name);
        EXPECT_LT(layer, s.num_layers) << e.name;
      }
      // An encoder has no LM head to tie.
      EXPECT_EQ(tied, row.causal ? tie : 0) << row.name << " tie_word_embeddings " << tie;
    }
  }
}

TEST(FamilyRegistryTest, TheTableIsWhatTheModelBinds) {
  for (const FamilyRow& row : family_rows()) {
    const ModelSpec s = small_spec(row, 0);
    TensorMap weights = init_weights(s, 0.02, 7);
    // init_weights and save_model walk the table; the constructor binds its own slots. A model
    // built from exactly the table's tensors runs ...
    auto model = build_model(s, weights, LoadOptions{});
    ForwardRequest req;
    if (row.images) {
      req.pixel_values = at::randn({1, s.num_channels, s.image_size, s.image_size});
    } else {
      req.input_ids = at::arange(5, at::kLong).unsqueeze(0);
    }
    const at::Tensor logits = model->forward(req, AttentionControl{}).logits;
    EXPECT_EQ(logits.size(-1), s.output_size()) << row.name;
    EXPECT_TRUE(at::isfinite(logits).all().item<bool>()) << row.name;
    // ... and each tensor it holds is one of them: dropping any one is refused, naming it.
    const std::string dropped = tensor_table(s)[3].name;
    weights.erase(dropped);
    try {
      build_model(s, weights, LoadOptions{});
      ADD_FAILURE() << row.name << ": built without " << dropped;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dropped), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace xai
