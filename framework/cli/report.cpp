// xai report: a run's (or a sweep's) results as one self-contained HTML page (framework/report).
#include <iostream>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/report/report.h"

namespace xai::cli {

int report(const std::vector<std::string>& argv) {
  Args args("report", argv, {"out", "samples"}, {});
  XAI_CHECK(args.positional().size() == 1,
            "report: give exactly one output folder (HINT: xai report out/demo)");
  ReportOptions o;
  o.output = args.get_or("out", "");
  o.max_samples = args.get_int("samples", o.max_samples);
  XAI_CHECK(o.max_samples >= 0, "report: --samples must be >= 0 (got ", o.max_samples, ")");
  const std::string page = write_report(args.positional()[0], o);
  std::cout << "report: " << page << "\n";
  return 0;
}

}  // namespace xai::cli
