#include "framework/slurm/slurm_client.h"

#include <sys/wait.h>

#include <cstdio>
#include <sstream>

#include "framework/common/error.h"
#include "framework/slurm/job_script.h"

namespace xai {

CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) r.output.append(buf, n);
  const int st = pclose(pipe);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return r;
}

bool have_command(const std::string& name) {
  return run_command("command -v " + shell_quote(name) + " >/dev/null").status == 0;
}

namespace {
std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  // sbatch repeats itself ("error: invalid partition ...\nerror: Batch job submission failed");
  // the first line says what was wrong.
  const size_t nl = s.find('\n');
  std::string first = s.substr(0, nl);
  if (nl != std::string::npos) {
    std::string rest = s.substr(nl + 1);
    for (char& c : rest)
      if (c == '\n') c = ' ';
    first += " | " + rest;
  }
  return first;
}
}  // namespace

std::string sbatch_submit(const std::string& script, const std::vector<std::string>& args,
                          const std::string& what) {
  XAI_CHECK(have_command("sbatch"), what,
            ": sbatch not found (not on a Slurm login node?). HINT: --dry-run prints the script");
  std::string cmd = "sbatch --parsable";
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " " + shell_quote(script);
  const CommandResult r = run_command(cmd);
  std::string out = r.output;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  // --parsable prints "id" or "id;cluster"; warnings may come before it.
  const std::string last =
      out.substr(out.find_last_of('\n') == std::string::npos ? 0 : out.find_last_of('\n') + 1);
  const std::string id = last.substr(0, last.find(';'));
  const bool numeric = !id.empty() && id.find_first_not_of("0123456789") == std::string::npos;
  if (r.status != 0 || !numeric) {
    throw Error(str_cat(what, ": sbatch rejected the job: ", one_line(r.output),
                        " (nothing was submitted)"));
  }
  return id;
}

std::vector<std::string> expand_squeue_id(const std::string& id) {
  const size_t us = id.find('_');
  if (us == std::string::npos) return {id};
  const std::string job = id.substr(0, us);
  std::string rest = id.substr(us + 1);
  if (rest.empty() || rest[0] != '[') return {id};
  rest = rest.substr(1, rest.find(']') - 1);
  rest = rest.substr(0, rest.find('%'));
  std::vector<std::string> out;
  std::stringstream ss(rest);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const size_t dash = part.find('-');
    try {
      const long a = std::stol(part.substr(0, dash));
      const long b = dash == std::string::npos ? a : std::stol(part.substr(dash + 1));
      for (long i = a; i <= b && i - a < 100000; ++i) out.push_back(job + "_" + std::to_string(i));
    } catch (const std::exception&) {
    }
  }
  return out;
}

std::map<std::string, std::string> squeue_states() {
  std::map<std::string, std::string> out;
  if (!have_command("squeue")) return out;
  const CommandResult r = run_command("squeue -h -o '%i %T'");
  if (r.status != 0) return out;
  std::stringstream ss(r.output);
  std::string id, state;
  while (ss >> id >> state) {
    for (const auto& k : expand_squeue_id(id)) out[k] = state;
  }
  return out;
}

}  // namespace xai
