// See sample_encoder.h.
#include "framework/text/sample_encoder.h"

#include "framework/text/chat.h"

#include "framework/common/error.h"

namespace xai {

SampleEncoder::SampleEncoder(Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}

SampleEncoder::SampleEncoder(ImageProcessor processor, ImageGeometry geometry)
    : processor_(std::move(processor)), geometry_(geometry) {}

const Tokenizer& SampleEncoder::tokenizer() const {
  XAI_CHECK(tokenizer_.has_value(), "internal: an image model has no tokenizer");
  return *tokenizer_;
}

const ImageProcessor& SampleEncoder::image_processor() const {
  XAI_CHECK(processor_.has_value(), "internal: a text model has no image processor");
  return *processor_;
}

Encoded SampleEncoder::encode(const Sample& sample, int64_t max_tokens,
                              const std::vector<std::string>& labels) const {
  if (processor_) return encode_image_sample(sample, *processor_, geometry_, labels);
  XAI_CHECK(!sample.is_image(), "sample '", sample.id, "' is an image (", sample.image_path,
            "), and the model reads text (HINT: an image classifier such as ViT)");
  if (!sample.messages.empty() && !sample.chat) {  // a conversation: the model's chat template
    Sample rendered = sample;
    apply_chat_template(rendered, *tokenizer_);
    return encode_sample(rendered, *tokenizer_, max_tokens, labels);
  }
  return encode_sample(sample, *tokenizer_, max_tokens, labels);
}

}  // namespace xai
