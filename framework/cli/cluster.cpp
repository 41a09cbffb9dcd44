// xai submit / sweep / status / collect: experiments and sweeps as Slurm jobs, and their results
// gathered back into one table.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/run/experiment.h"
#include "framework/slurm/job_script.h"
#include "framework/slurm/slurm_client.h"
#include "framework/slurm/sweep.h"

namespace xai::cli {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Command-line #SBATCH options shared by submit and sweep: --ntasks-per-node -> ntasks_per_node.
const std::vector<std::string> kSbatchFlags = {
    "job-name",      "partition",     "account", "qos",  "nodes",     "ntasks-per-node",
    "cpus-per-task", "gpus-per-node", "mem",     "time", "constraint"};

std::set<std::string> with_sbatch_flags(std::set<std::string> s) {
  for (const auto& f : kSbatchFlags) s.insert(f);
  s.insert("sbatch");
  return s;
}

void apply_sbatch_flags(const Args& args, SbatchOptions& o) {
  for (const auto& f : kSbatchFlags) {
    if (auto v = args.get(f)) {
      std::string key = f;
      std::replace(key.begin(), key.end(), '-', '_');
      o.set(key, *v);
    }
  }
  for (const auto& e : args.get_all("sbatch")) o.extra.push_back(e);
}

SbatchOptions merged(const SbatchOptions& base, const SbatchOptions& top) {
  SbatchOptions o = base;
  for (const auto& [k, v] : top.values) o.values[k] = v;
  for (const auto& e : top.extra) o.extra.push_back(e);
  return o;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  XAI_CHECK(n > 0, "cannot find the xai binary's path (/proc/self/exe)");
  buf[n] = 0;
  return buf;
}

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

std::map<std::string, std::string> common_vars(const Profile& p) {
  return {{"workdir", shell_quote(fs::current_path().string())},
          {"xai", shell_quote(self_exe())},
          {"launch", p.launch_prefix()},
          {"setup", p.setup},
          {"profile", p.name}};
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return json();
  try {
    return json::parse(in);
  } catch (const std::exception&) {
    return json();
  }
}

int64_t journal_lines(const std::string& dir) {
  int64_t n = 0;
  std::error_code ec;
  const fs::path shards = fs::path(dir) / "shards";
  if (!fs::is_directory(shards, ec)) return -1;
  for (const auto& e : fs::directory_iterator(shards, ec)) {
    if (e.path().extension() != ".journal") continue;
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) ++n;
  }
  return n;
}

// The last line of a Slurm log that says what went wrong, or its last line.
std::string log_reason(const std::string& log) {
  std::ifstream in(log);
  if (!in) return "";
  std::string line, last, err;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.find("error") != std::string::npos || line.find("CANCELLED") != std::string::npos ||
        line.find("DUE TO TIME LIMIT") != std::string::npos ||
        line.find("stopped by a signal") != std::string::npos)
      err = line;
  }
  return err.empty() ? last : err;
}

}  // namespace

int submit(const std::vector<std::string>& argv) {
  Args args("submit", argv, with_sbatch_flags({"profile", "set", "out"}), {"dry-run"});
  XAI_CHECK(args.positional().size() == 1,
            "submit: give exactly one experiment YAML (HINT: xai submit configs/demo.yaml "
            "--profile local)");
  const std::string exp = args.positional()[0];
  const std::vector<std::string> overrides = args.get_all("set");
  // What `xai run` would refuse fails here, not in the queued job.
  const ExperimentOutline outline = check_experiment_file(exp, overrides);
  const std::string name = outline.name;
  std::string out = outline.output;
  if (auto o = args.get("out")) out = *o;
  const Profile profile = load_profile(args.get_or("profile", ""));
  SbatchOptions opts = profile.sbatch;
  apply_sbatch_flags(args, opts);
  if (!opts.values.count("job_name") || opts.values["job_name"].empty())
    opts.values["job_name"] = "xai-" + name;
  const std::string out_abs = absolute(out);
  std::string sbatch_lines = opts.render();
  sbatch_lines += "#SBATCH --output=" + shell_quote(out_abs + "/logs/slurm-%j.out") + "\n";
  auto vars = common_vars(profile);
  vars["sbatch_options"] = sbatch_lines;
  vars["experiment"] = shell_quote(exp);
  vars["out"] = shell_quote(out);
  std::string run_args;
  for (const auto& o : overrides) run_args += " --set " + shell_quote(o);
  vars["run_args"] = run_args;
  const std::string script = render_template(
      read_text_file(profile.run_template, "profile " + profile.name + ": templates.run"), vars,
      profile.run_template);
  if (args.flag("dry-run")) {
    std::cout << script;
    return 0;
  }
  const std::string script_path = out_abs + "/jobs/run.sbatch";
  write_text_file(script_path, script);
  fs::create_directories(out_abs + "/logs");
  const std::string id = sbatch_submit(script_path, {}, "submit " + exp);
  json job = {{"job_id", id},
              {"submitted_at", now_utc()},
              {"experiment", exp},
              {"profile", profile.name},
              {"script", script_path}};
  write_text_file(out_abs + "/job.json", job.dump(2) + "\n");
  std::cout << "submitted job " << id << " (profile " << profile.name << ")\n"
            << "results: " << out << "/results.h5 and results.json\n"
            << "log:     " << out << "/logs/slurm-" << id << ".out\n"
            << "status:  xai status " << out << "\n";
  return 0;
}

int sweep(const std::vector<std::string>& argv) {
  Args args("sweep", argv, with_sbatch_flags({"profile", "set", "max-concurrent"}), {"dry-run"});
  XAI_CHECK(args.positional().size() == 1,
            "sweep: give exactly one sweep YAML (HINT: xai sweep configs/sweeps/toy.yaml)");
  const Sweep s = load_sweep(args.positional()[0], args.get_all("set"));
  const Profile profile = load_profile(args.get_or("profile", s.profile));
  SbatchOptions opts = merged(profile.sbatch, s.sbatch);
  apply_sbatch_flags(args, opts);
  if (!opts.values.count("job_name") || opts.values["job_name"].empty())
    opts.values["job_name"] = "xai-" + s.name;
  int64_t cap = args.get_int("max-concurrent", s.max_concurrent);
  if (cap == 0 && opts.values.count("array_limit") && !opts.values["array_limit"].empty())
    cap = std::stoll(opts.values["array_limit"]);

  std::vector<const SweepPoint*> todo;
  int64_t done = 0;
  for (const auto& p : s.points) {
    if (point_done(point_dir(s, p))) {
      ++done;
    } else {
      todo.push_back(&p);
    }
  }
  // Every point to submit must be an experiment `xai run` accepts: a misspelt explainer
  // parameter or a missing model folder fails here, before anything is queued.
  int64_t bad = 0;
  std::string first_error;
  for (const auto* p : todo) {
    try {
      check_experiment(p->experiment_yaml, point_dir(s, *p) + "/experiment.yaml");
    } catch (const Error& e) {
      if (bad++ == 0) first_error = e.what();
    }
  }
  if (bad > 0) {
    throw Error(
        str_cat("sweep ", s.name, ": ", bad, " of ", todo.size(),
                " points are not valid experiments, nothing submitted; the first: ", first_error));
  }
  std::cout << "sweep " << s.name << ": " << s.points.size() << " points, " << done << " done, "
            << todo.size() << " to submit (profile " << profile.name << ")\n";
  if (todo.empty() && !args.flag("dry-run")) {
    write_sweep_points(s);
    std::cout << "nothing to submit. HINT: xai collect " << s.output << "\n";
    return 0;
  }
  const std::string out_abs = absolute(s.output);
  const json old = read_json(out_abs + "/submissions.json");
  const int n = old.is_array() ? static_cast<int>(old.size()) + 1 : 1;
  const std::string tag = std::to_string(n);
  const std::string list_path = out_abs + "/jobs/array-" + tag + ".points";
  const std::string array_range =
      todo.empty() ? std::string("0-0")
                   : str_cat("0-", todo.size() - 1, cap > 0 ? str_cat("%", cap) : "");

  auto vars = common_vars(profile);
  std::string lines = opts.render();
  lines += "#SBATCH --array=" + array_range + "\n";
  lines += "#SBATCH --output=" + shell_quote(out_abs + "/logs/%A_%a.out") + "\n";
  vars["sbatch_options"] = lines;
  vars["point_list"] = shell_quote(list_path);
  vars["points_dir"] = shell_quote(out_abs + "/points");
  vars["out"] = shell_quote(out_abs);
  vars["run_args"] = "";
  const std::string array_script = render_template(
      read_text_file(profile.array_template, "profile " + profile.name + ": templates.array"), vars,
      profile.array_template);

  SbatchOptions copts = profile.collect_sbatch;
  for (const char* k : {"partition", "account", "qos"})
    if (!copts.values.count(k) && opts.values.count(k)) copts.values[k] = opts.values[k];
  copts.values["job_name"] = opts.values["job_name"] + "-collect";
  std::string clines = copts.render();
  clines += "#SBATCH --output=" + shell_quote(out_abs + "/logs/collect-%j.out") + "\n";
  vars["sbatch_options"] = clines;
  const std::string collect_script = render_template(
      read_text_file(profile.collect_template, "profile " + profile.name + ": templates.collect"),
      vars, profile.collect_template);

  if (args.flag("dry-run")) {
    for (size_t i = 0; i < todo.size(); ++i) std::cout << "  [" << i << "] " << todo[i]->id << "\n";
    std::cout << "\n# ---- job array (" << list_path << " lists the points) ----\n"
              << array_script << "\n# ---- collect job (--dependency=afterok:<array job>) ----\n"
              << collect_script;
    return 0;
  }
  write_sweep_points(s);
  std::string list;
  for (const auto* p : todo) list += p->id + "\n";
  write_text_file(list_path, list);
  const std::string array_path = out_abs + "/jobs/array-" + tag + ".sbatch";
  const std::string collect_path = out_abs + "/jobs/collect-" + tag + ".sbatch";
  write_text_file(array_path, array_script);
  write_text_file(collect_path, collect_script);
  fs::create_directories(out_abs + "/logs");
  const std::string array_id = sbatch_submit(array_path, {}, "sweep " + s.name);
  std::string collect_id;
  try {
    // An array task that fails or is cancelled makes afterok unsatisfiable: drop the collect job
    // rather than leave it pending forever.
    collect_id = sbatch_submit(collect_path,
                               {"--dependency=afterok:" + array_id, "--kill-on-invalid-dep=yes"},
                               "sweep " + s.name + " (collect job)");
  } catch (const Error&) {
    run_command("scancel " + array_id);
    throw;
  }
  json subs = old.is_array() ? old : json::array();
  json points = json::array();
  for (const auto* p : todo) points.push_back(p->id);
  subs.push_back({{"submission", n},
                  {"submitted_at", now_utc()},
                  {"array_job_id", array_id},
                  {"collect_job_id", collect_id},
                  {"profile", profile.name},
                  {"point_list", list_path},
                  {"points", points}});
  write_text_file(out_abs + "/submissions.json", subs.dump(2) + "\n");
  std::cout << "submitted job array " << array_id << " (" << todo.size()
            << (todo.size() == 1 ? " task" : " tasks") << ", --array=" << array_range
            << ") and collect job " << collect_id << " (afterok:" << array_id << ")\n"
            << "points:  " << s.output << "/points/<id>/\n"
            << "table:   " << s.output << "/results.csv and results.txt (after the collect job)\n"
            << "status:  xai status " << s.output << "\n";
  return 0;
}

namespace {

struct PointRef {
  std::string id, dir;
  json meta;
};

// The points of OUT_DIR: a sweep's manifest, or the folder itself as one experiment.
std::vector<PointRef> points_of(const std::string& out_dir, bool* is_sweep) {
  std::vector<PointRef> out;
  const json manifest = read_json(out_dir + "/points.json");
  *is_sweep = manifest.is_object() && manifest.contains("points");
  if (*is_sweep) {
    for (const auto& p : manifest["points"]) {
      out.push_back({p.value("id", ""), p.value("dir", ""), p});
    }
  } else {
    std::error_code ec;
    XAI_CHECK(fs::exists(out_dir + "/results.json", ec) || fs::exists(out_dir + "/job.json", ec) ||
                  fs::is_directory(out_dir + "/shards", ec),
              out_dir,
              ": neither a sweep folder (points.json) nor a run folder (results.json, "
              "job.json or shards/). HINT: the folder xai sweep or xai submit printed");
    out.push_back({fs::path(out_dir).filename().string(), out_dir, json::object()});
  }
  return out;
}

std::string fmt(const json& v, int precision = 4) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isnan(d)) return "";
    std::ostringstream os;
    os << std::setprecision(precision) << d;
    return os.str();
  }
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_null()) return "";
  return v.dump();
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < rows[r].size(); ++i) {
      line += rows[r][i] + std::string(w[i] - rows[r][i].size(), ' ');
      if (i + 1 < rows[r].size()) line += " | ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (r == 0) {
      std::string sep;
      for (size_t i = 0; i < w.size(); ++i)
        sep += std::string(w[i], '-') + (i + 1 < w.size() ? "-+-" : "");
      out += sep + "\n";
    }
  }
  return out;
}

}  // namespace

int status(const std::vector<std::string>& argv) {
  Args args("status", argv, {}, {"json"});
  XAI_CHECK(args.positional().size() == 1,
            "status: give the output folder (HINT: xai status out/sweeps/toy)");
  const std::string out_dir = args.positional()[0];
  bool is_sweep = false;
  const std::vector<PointRef> points = points_of(out_dir, &is_sweep);
  const bool slurm = have_command("squeue");
  const auto queue = squeue_states();

  // point id -> (job key for squeue, log file) from the latest submission that ran it.
  std::map<std::string, std::pair<std::string, std::string>> job_of;
  if (is_sweep) {
    const json subs = read_json(out_dir + "/submissions.json");
    if (subs.is_array()) {
      for (const auto& s : subs) {
        const std::string a = s.value("array_job_id", "");
        int i = 0;
        for (const auto& p : s["points"]) {
          job_of[p.get<std::string>()] = {
              a + "_" + std::to_string(i),
              out_dir + "/logs/" + a + "_" + std::to_string(i) + ".out"};
          ++i;
        }
      }
    }
  } else {
    const json job = read_json(out_dir + "/job.json");
    if (job.is_object()) {
      const std::string id = job.value("job_id", "");
      job_of[points[0].id] = {id, out_dir + "/logs/slurm-" + id + ".out"};
    }
  }

  std::vector<std::vector<std::string>> rows = {{"point", "state", "slurm", "progress", "note"}};
  std::map<std::string, int> counts;
  for (const auto& p : points) {
    std::string state, slurm_state, note;
    const json res = read_json(p.dir + "/results.json");
    const auto job = job_of.find(p.id);
    if (job != job_of.end()) {
      auto q = queue.find(job->second.first);
      if (q != queue.end()) slurm_state = q->second + " (" + job->second.first + ")";
    }
    const int64_t journaled = journal_lines(p.dir);
    if (res.is_object() && res.value("complete", json()) == true) {
      state = "done";
      const int64_t f = res.value("failures", int64_t{0});
      if (f > 0)
        note = std::to_string(f) + " sample failure(s), see /failures in " + p.dir + "/results.h5";
    } else if (!slurm_state.empty()) {
      state = slurm_state.rfind("RUNNING", 0) == 0 || slurm_state.rfind("COMPLETING", 0) == 0
                  ? "running"
                  : "pending";
    } else if (job != job_of.end()) {
      // Submitted, no longer queued, not finished: it failed, was cancelled or hit its limit.
      state = slurm ? "failed" : "unknown";
      note = log_reason(job->second.second);
      if (note.empty()) note = "no log " + job->second.second;
    } else {
      state = "not submitted";
    }
    ++counts[state];
    rows.push_back({p.id, state, slurm_state,
                    journaled < 0 ? "" : std::to_string(journaled) + " samples", note});
  }
  std::cout << aligned(rows);
  std::cout << points.size() << " point(s):";
  for (const auto& [k, v] : counts) std::cout << " " << v << " " << k << ";";
  std::cout << (slurm ? "" : " (squeue not found: Slurm states unknown)") << "\n";
  return 0;
}

int collect(const std::vector<std::string>& argv) {
  Args args("collect", argv, {}, {});
  XAI_CHECK(args.positional().size() == 1,
            "collect: give the output folder (HINT: xai collect out/sweeps/toy)");
  const std::string out_dir = args.positional()[0];
  bool is_sweep = false;
  const std::vector<PointRef> points = points_of(out_dir, &is_sweep);

  std::vector<std::string> param_keys;
  for (const auto& p : points)
    if (p.meta.contains("params"))
      for (const auto& [k, v] : p.meta["params"].items())
        if (std::find(param_keys.begin(), param_keys.end(), k) == param_keys.end())
          param_keys.push_back(k);

  const std::vector<std::string> metric_keys = {
      "samples", "failures",           "mAP",     "mAP_IQ",         "mAR",
      "mAR_IQ",  "seconds_per_sample", "peak_mb", "forward_passes", "backward_passes"};
  std::vector<std::string> header = {"point", "model", "explainer"};
  for (const auto& k : param_keys) header.push_back(k);
  for (const auto& k : metric_keys) header.push_back(k);
  header.push_back("results_h5");
  std::vector<std::vector<std::string>> csv = {header};
  std::vector<std::vector<std::string>> table = {
      {"point", "model", "explainer", "mAP", "mAP_IQ", "mAR", "s/sample", "samples", "failed"}};
  json index = {{"out_dir", out_dir}, {"collected_at", now_utc()}, {"points", json::array()}};
  int missing = 0;
  for (const auto& p : points) {
    const json res = read_json(p.dir + "/results.json");
    const bool complete = res.is_object() && res.value("complete", json()) == true;
    json entry = {{"id", p.id},
                  {"dir", p.dir},
                  {"complete", complete},
                  {"experiment", p.dir + "/experiment.yaml"}};
    if (!complete) {
      ++missing;
      entry["results_h5"] = nullptr;
      index["points"].push_back(entry);
      std::cerr << "xai collect: point " << p.id << ": no finished results in " << p.dir << "\n";
      continue;
    }
    const std::string h5 = res.value("results_h5", p.dir + "/results.h5");
    entry["results_h5"] = h5;
    entry["results_json"] = p.dir + "/results.json";
    index["points"].push_back(entry);
    for (const auto& row : res["summary"]) {
      std::vector<std::string> r = {p.id, fmt(row["model"]), fmt(row["explainer"])};
      for (const auto& k : param_keys)
        r.push_back(p.meta.contains("params") && p.meta["params"].contains(k)
                        ? fmt(p.meta["params"][k])
                        : "");
      for (const auto& k : metric_keys) r.push_back(row.contains(k) ? fmt(row[k], 10) : "");
      r.push_back(h5);
      csv.push_back(r);
      table.push_back({p.id, fmt(row["model"]), fmt(row["explainer"]), fmt(row["mAP"]),
                       fmt(row["mAP_IQ"]), fmt(row["mAR"]), fmt(row["seconds_per_sample"], 3),
                       fmt(row["samples"]), fmt(row["failures"])});
    }
  }
  std::string csv_text;
  for (const auto& r : csv) {
    for (size_t i = 0; i < r.size(); ++i) csv_text += (i ? "," : "") + csv_field(r[i]);
    csv_text += "\n";
  }
  const std::string text = aligned(table);
  write_text_file(out_dir + "/results.csv", csv_text);
  write_text_file(out_dir + "/results.txt", text);
  write_text_file(out_dir + "/index.json", index.dump(2) + "\n");
  std::cout << text << "\n"
            << "table: " << out_dir << "/results.csv, " << out_dir << "/results.txt\n"
            << "index: " << out_dir << "/index.json (" << points.size() - missing << " of "
            << points.size() << " points finished)\n";
  if (missing > 0) {
    std::cerr << "xai collect: " << missing << " point(s) without finished results. HINT: xai "
              << "status " << out_dir << ", then re-run the sweep to submit them\n";
    return 1;
  }
  return 0;
}

}  // namespace xai::cli
