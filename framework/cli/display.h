// Small text helpers the xai subcommands share for terminal output.
#pragma once

#include <string>

namespace xai::cli {

// Printable form of a token's text: \n, \r and \t as escapes, other control bytes as \xNN, the
// rest as is.
std::string printable(const std::string& s);

}  // namespace xai::cli
