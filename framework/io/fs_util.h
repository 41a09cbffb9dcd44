// Small POSIX file helpers for crash-safe outputs: durable appends, directory fsync, trimming a
// half-written last line. Internal to framework/io.
#pragma once

#include <cstdint>
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
// Bytes an unprivileged writer may still use on the file system holding `path` (a file or a
// folder); -1 when it cannot be told.
int64_t free_bytes(const std::string& path);
// When the file system holding `path` has less than `need` bytes free (by default 1 MiB, which
// after a failed write means it is full): "no space left on device (12 KB free where PATH is)";
// else "".
std::string no_space_note(const std::string& path, int64_t need = int64_t{1} << 20);

}  // namespace xai::fsutil
