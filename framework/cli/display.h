// Small helpers the xai subcommands share: terminal text and common options.
#pragma once

#include <string>

namespace xai {
struct ModelSpec;
}

namespace xai::cli {

// Printable form of a token's text: \n, \r and \t as escapes, other control bytes as \xNN, the
// rest as is.
std::string printable(const std::string& s);

class Args;
// Applies --threads N when given: at least 1 (else an error naming `command`'s option), cut to the
// cores this process may use with a warning on stderr.
void apply_threads_option(const Args& args, const std::string& command);

// Throws a one-line xai::Error when `spec` (the model in `dir`) is an image family's (ViT):
// `command` reads text, and image files are not read yet.
void refuse_image_model(const ModelSpec& spec, const std::string& dir, const std::string& command);

}  // namespace xai::cli
