// What this binary was built from, for the provenance of every result.
#pragma once

namespace xai {

const char* build_git_commit();     // short commit, "-dirty" with uncommitted changes, or "unknown"
const char* build_torch_version();  // LibTorch version found at configure time
const char* build_xai_version();

}  // namespace xai
