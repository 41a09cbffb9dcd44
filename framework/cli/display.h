// Small helpers the xai subcommands share: terminal text and common options.
#pragma once

#include <string>

namespace xai::cli {

// Printable form of a token's text: \n, \r and \t as escapes, other control bytes as \xNN, the
// rest as is.
std::string printable(const std::string& s);

class Args;
// Applies --threads N when given: at least 1 (else an error naming `command`'s option), cut to the
// cores this process may use with a warning on stderr.
void apply_threads_option(const Args& args, const std::string& command);

}  // namespace xai::cli
