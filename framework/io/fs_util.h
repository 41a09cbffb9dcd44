// Small POSIX file helpers for crash-safe outputs: durable appends, directory fsync, trimming a
// half-written last line. Internal to framework/io.
#pragma once

#include <string>

namespace xai::fsutil {

// Appends text to the file (created if missing) and fsyncs it before returning.
void append_durably(const std::string& path, const std::string& text);
// Cuts a missing-or-complete text file back to its last '\n' (a crash may leave half a line).
void drop_partial_line(const std::string& path);
// fsyncs a directory so a created or renamed entry survives a crash (no-op where unsupported).
void sync_dir(const std::string& dir);
// fsyncs a file by path.
void sync_file(const std::string& path);

}  // namespace xai::fsutil
