// See display.h.
#include "framework/cli/display.h"

#include <ATen/Parallel.h>

#include <cstdio>
#include <iostream>

#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/common/threads.h"

namespace xai::cli {

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void apply_threads_option(const Args& args, const std::string& command) {
  if (!args.get("threads")) return;
  const ThreadChoice c = choose_threads(args.get_int("threads", 0), command + ": --threads");
  if (!c.warning.empty()) std::cerr << "xai " << command << ": warning: " << c.warning << "\n";
  at::set_num_threads(c.threads);
}

}  // namespace xai::cli
