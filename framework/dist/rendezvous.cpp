#include "framework/dist/rendezvous.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "framework/common/error.h"

namespace xai {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[] = "xai-rendezvous-1\n";
constexpr size_t kMagicSize = sizeof(kMagic) - 1;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// Keeps a tag usable as part of a file name.
std::string file_safe(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '_';
  return out;
}

std::string file_in(const RendezvousOptions& o) { return (fs::path(o.dir) / o.name).string(); }

}  // namespace

std::string rendezvous_file_name(const std::string& what, int group) {
  std::string tag;
  if (const char* job = std::getenv("SLURM_JOB_ID")) {
    tag = str_cat(job, "-", env_or("SLURM_STEP_ID", "0"));
  } else {
    tag = env_or("PMIX_NAMESPACE", env_or("OMPI_MCA_ess_base_jobid", "local"));
  }
  return str_cat("xai-", what, ".", file_safe(tag), ".", group);
}

void publish_blob(const std::string& file, const std::string& blob) {
  const std::string tmp = str_cat(file, ".tmp-", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  XAI_CHECK(fd >= 0, file, ": cannot write the rendezvous file: ", std::strerror(errno),
            " (HINT: the directory must exist and be writable by every rank)");
  const std::string bytes = kMagic + blob;
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(str_cat(file, ": write failed: ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  XAI_CHECK(::rename(tmp.c_str(), file.c_str()) == 0, file, ": rename from ", tmp,
            " failed: ", std::strerror(errno));
}

std::string wait_for_blob(const std::string& file, double timeout_seconds, double poll_seconds) {
  const auto start = std::chrono::steady_clock::now();
  const auto poll = std::chrono::duration<double>(poll_seconds > 0 ? poll_seconds : 0.05);
  while (true) {
    std::ifstream in(file, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      const std::string bytes = ss.str();
      XAI_CHECK(bytes.compare(0, kMagicSize, kMagic) == 0, file,
                ": is not an xai rendezvous file (HINT: remove it; XAI_NCCL_RENDEZVOUS must name "
                "a directory used only for rendezvous)");
      return bytes.substr(kMagicSize);
    }
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited >= timeout_seconds) {
      throw Error(str_cat(file, ": the group root did not publish its rendezvous file within ",
                          timeout_seconds,
                          " s (HINT: check that every rank sees the same shared directory "
                          "(XAI_NCCL_RENDEZVOUS) and that the root rank started)"));
    }
    std::this_thread::sleep_for(poll);
  }
}

std::string share_through_file(bool is_root, const std::string& blob,
                               const RendezvousOptions& options) {
  XAI_CHECK(!options.dir.empty(), "rendezvous: no directory given");
  XAI_CHECK(fs::is_directory(options.dir), options.dir,
            ": the rendezvous directory does not exist (HINT: create it on a file system every "
            "rank sees, or unset XAI_NCCL_RENDEZVOUS to use MPI)");
  const std::string file = file_in(options);
  if (is_root) {
    publish_blob(file, blob);
    return blob;
  }
  return wait_for_blob(file, options.timeout_seconds, options.poll_seconds);
}

std::string share_from_root(Communicator& comm, int root, const std::string& blob,
                            const RendezvousOptions& options) {
  if (options.dir.empty()) {
    std::string bytes = comm.rank() == root ? blob : std::string();
    comm.broadcast(bytes, root);
    return bytes;
  }
  return share_through_file(comm.rank() == root, blob, options);
}

void remove_blob(const RendezvousOptions& options) {
  if (options.dir.empty()) return;
  std::error_code ec;
  fs::remove(file_in(options), ec);
}

}  // namespace xai
