// Slurm batch scripts: {{placeholder}} templates (jobs/*.sbatch), cluster profiles
// (jobs/profiles/*.yaml) and the #SBATCH options they and the command line set.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace xai {

class ConfigNode;

// Replaces every {{name}} in `text` with vars[name]. An unknown or unclosed placeholder is an
// xai::Error naming `source`, the line and the nearest known name. No other syntax.
std::string render_template(const std::string& text, const std::map<std::string, std::string>& vars,
                            const std::string& source);

// `s` as one POSIX shell word: unchanged when it has only safe characters, else single-quoted.
std::string shell_quote(const std::string& s);

// #SBATCH options, in a fixed order. Keys are the YAML spelling (ntasks_per_node); the rendered
// option uses dashes (--ntasks-per-node). Empty values and gpus_per_node 0 are left out.
struct SbatchOptions {
  static const std::vector<std::string>& keys();  // job_name, partition, account, ...
  std::map<std::string, std::string> values;
  std::vector<std::string> extra;  // raw options, e.g. "--exclusive"

  void set(const std::string& key, const std::string& value);  // throws for an unknown key
  // Reads the known keys (and `extra`) of a YAML mapping on top of this; unknown keys are errors.
  void merge_from(const ConfigNode& node);
  // "#SBATCH --partition=debug\n..."; a value with whitespace is an error naming its key.
  std::string render() const;
};

// A site's settings: which templates, how ranks are launched, default #SBATCH options.
struct Profile {
  std::string name, path;                                      // path of the YAML file
  std::string run_template, array_template, collect_template;  // resolved paths, existing
  std::string launcher = "srun";                               // srun | mpirun | none
  std::vector<std::string> srun_args{"--mpi=pmix"};
  std::vector<std::string> mpirun_args;
  std::string setup;             // shell lines run before the launch (module load, ...)
  SbatchOptions sbatch;          // for the experiment jobs
  SbatchOptions collect_sbatch;  // for the collect job (one task)

  // The command prefix that starts the ranks: "srun --mpi=pmix", "mpirun ...", or "".
  std::string launch_prefix() const;
};

// Finds the jobs folder: $XAI_JOBS_DIR, ./jobs, or jobs/ beside the folder holding the xai binary.
std::string find_jobs_dir();
// `name_or_path`: a file path (has a '/' or ends in .yaml) or a name under JOBS/profiles/. Empty:
// $XAI_PROFILE, else "local". Errors name the profile file and the field.
Profile load_profile(const std::string& name_or_path);

std::string read_text_file(const std::string& path, const std::string& what);
void write_text_file(const std::string& path, const std::string& text);

}  // namespace xai
