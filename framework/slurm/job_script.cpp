#include "framework/slurm/job_script.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config.h"

namespace xai {
namespace fs = std::filesystem;

std::string render_template(const std::string& text, const std::map<std::string, std::string>& vars,
                            const std::string& source) {
  std::string out;
  out.reserve(text.size() + 256);
  size_t pos = 0;
  while (true) {
    const size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      out.append(text, pos, std::string::npos);
      return out;
    }
    out.append(text, pos, open - pos);
    const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + open, '\n'));
    const size_t close = text.find("}}", open + 2);
    const size_t newline = text.find('\n', open);
    if (close == std::string::npos || (newline != std::string::npos && newline < close)) {
      throw Error(str_cat(source, ":", line, ": unclosed placeholder '{{' (HINT: write {{name}})"));
    }
    std::string name = text.substr(open + 2, close - open - 2);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    auto it = vars.find(name);
    if (it == vars.end()) {
      std::vector<std::string> known;
      for (const auto& [k, v] : vars) known.push_back(k);
      const std::string near = cli::nearest(name, known);
      throw Error(str_cat(source, ":", line, ": unknown placeholder {{", name, "}}",
                          near.empty() ? "" : " (did you mean {{" + near + "}}?)"));
    }
    out += it->second;
    pos = close + 2;
  }
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_-./:=,+@%") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

const std::vector<std::string>& SbatchOptions::keys() {
  static const std::vector<std::string> k = {
      "job_name",      "partition",     "account", "qos",  "nodes",      "ntasks_per_node",
      "cpus_per_task", "gpus_per_node", "mem",     "time", "constraint", "array_limit"};
  return k;
}

void SbatchOptions::set(const std::string& key, const std::string& value) {
  const auto& k = keys();
  if (std::find(k.begin(), k.end(), key) == k.end()) {
    const std::string near = cli::nearest(key, k);
    throw Error(str_cat("sbatch.", key, ": unknown option",
                        near.empty() ? "" : " (did you mean '" + near + "'?)"));
  }
  values[key] = value;
}

void SbatchOptions::merge_from(const ConfigNode& node) {
  for (const std::string& key : keys()) {
    if (node.has(key)) values[key] = node.get_string(key, "");
  }
  if (node.has("extra")) {
    for (const auto& e : node.get_string_list("extra", {})) extra.push_back(e);
  }
  node.finish();
}

std::string SbatchOptions::render() const {
  std::string out;
  for (const std::string& key : keys()) {
    auto it = values.find(key);
    if (key == "array_limit" || it == values.end() || it->second.empty()) continue;
    if (key == "gpus_per_node" && it->second == "0") continue;
    if (it->second.find_first_of(" \t\n\r'\"") != std::string::npos) {
      throw Error(
          str_cat("sbatch.", key, ": value '", it->second, "' may not contain spaces or quotes"));
    }
    std::string opt = key;
    std::replace(opt.begin(), opt.end(), '_', '-');
    out += "#SBATCH --" + opt + "=" + it->second + "\n";
  }
  for (const std::string& e : extra) {
    if (e.find('\n') != std::string::npos || e.rfind("-", 0) != 0) {
      throw Error(str_cat("sbatch.extra: '", e, "' is not one option (HINT: --exclusive)"));
    }
    out += "#SBATCH " + e + "\n";
  }
  return out;
}

std::string Profile::launch_prefix() const {
  std::string out;
  const std::vector<std::string>* args = nullptr;
  if (launcher == "srun") {
    out = "srun";
    args = &srun_args;
  } else if (launcher == "mpirun") {
    out = "mpirun";
    args = &mpirun_args;
  } else {
    return "";
  }
  for (const auto& a : *args) out += " " + shell_quote(a);
  return out;
}

std::string find_jobs_dir() {
  if (const char* env = std::getenv("XAI_JOBS_DIR"); env && *env) return env;
  std::error_code ec;
  if (fs::is_directory("jobs/profiles", ec)) return "jobs";
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n > 0) {
    buf[n] = 0;
    const fs::path near = fs::path(buf).parent_path().parent_path() / "jobs";
    if (fs::is_directory(near / "profiles", ec)) return near.string();
  }
  return "jobs";
}

std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(str_cat(what, ": cannot read '", path, "' (no such file?)"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_file(const std::string& path, const std::string& text) {
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(str_cat("cannot write '", path, "'"));
    out << text;
    if (!out.flush()) throw Error(str_cat("cannot write '", path, "' (disk full?)"));
  }
  fs::rename(tmp, path, ec);
  if (ec) throw Error(str_cat("cannot write '", path, "': ", ec.message()));
}

Profile load_profile(const std::string& name_or_path) {
  std::string name = name_or_path;
  if (name.empty()) {
    const char* env = std::getenv("XAI_PROFILE");
    name = env && *env ? env : "local";
  }
  Profile p;
  const bool is_path = name.find('/') != std::string::npos ||
                       (name.size() > 5 && name.compare(name.size() - 5, 5, ".yaml") == 0);
  p.path = is_path ? name : (fs::path(find_jobs_dir()) / "profiles" / (name + ".yaml")).string();
  p.name = fs::path(p.path).stem().string();
  std::error_code ec;
  if (!fs::is_regular_file(p.path, ec)) {
    std::vector<std::string> known;
    const fs::path dir = fs::path(p.path).parent_path();
    for (const auto& e : fs::directory_iterator(dir.empty() ? "." : dir, ec)) {
      if (e.path().extension() == ".yaml") known.push_back(e.path().stem().string());
    }
    std::sort(known.begin(), known.end());
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error(str_cat("profile '", name, "': no file ", p.path,
                        list.empty() ? "" : " (profiles there: " + list + ")",
                        ". HINT: --profile NAME or a path, or set XAI_PROFILE"));
  }
  const Config cfg = Config::load(p.path);
  const ConfigNode root = cfg.root();
  const fs::path dir = fs::path(p.path).parent_path();
  const ConfigNode templates = root.child("templates");
  auto template_path = [&](const std::string& key, const std::string& fallback) {
    const std::string t = templates.get_string(key, fallback);
    const fs::path resolved = fs::path(t).is_absolute() ? fs::path(t) : dir / t;
    if (!fs::is_regular_file(resolved, ec)) {
      throw Error(str_cat(p.path, ": templates.", key, ": template '", t,
                          "' not found (looked for ", resolved.lexically_normal().string(), ")"));
    }
    return resolved.lexically_normal().string();
  };
  p.run_template = template_path("run", "../run.sbatch");
  p.array_template = template_path("array", "../array.sbatch");
  p.collect_template = template_path("collect", "../collect.sbatch");
  templates.finish();
  p.launcher = root.get_choice("launcher", "srun", {"srun", "mpirun", "none"});
  p.srun_args = root.get_string_list("srun_args", {"--mpi=pmix"});
  p.mpirun_args = root.get_string_list("mpirun_args", {});
  p.setup = root.get_string("setup", "");
  p.sbatch.merge_from(root.child("sbatch"));
  p.collect_sbatch.merge_from(root.child("collect_sbatch"));
  cfg.finish_all();
  return p;
}

}  // namespace xai
