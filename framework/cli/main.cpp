// xai: the command-line entry point.
#include <ATen/Parallel.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "framework/cli/commands.h"
#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/common/host_memory.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>&);
  const char* usage;
};

const Command kCommands[] = {
    {"run", xai::cli::run,
     "run EXPERIMENT.yaml [--set key=value]... [--out DIR] [--resume [--allow-changed]]\n"
     "      models x dataset x explainers -> OUT/results.h5, results.json and a summary table;\n"
     "      under mpirun/srun each rank computes its share and rank 0 merges"},
    {"plan", xai::cli::plan,
     "plan EXPERIMENT.yaml [--set key=value]... [--ranks-per-node N] [--measure] [--json]\n"
     "      memory per rank of each (model, explainer) on the longest sample against\n"
     "      runtime.memory_budget, without loading weights; exits 1 naming what cannot fit.\n"
     "      --measure: then runs one explanation of each and prints the measured peak;\n"
     "      --json: the plan (and measurements) as JSON, in bytes, with each row's units"},
    {"merge", xai::cli::merge,
     "merge OUT_DIR\n"
     "      merge OUT_DIR/shards into results.h5 and results.json by hand (a run whose ranks "
     "died)"},
    {"report", xai::cli::report,
     "report OUT_DIR [--out FILE] [--samples N]\n"
     "      one self-contained HTML page of a run's (or a sweep's) results: tables with\n"
     "      confidence intervals, per-sample heat maps, plots, paired tests, provenance;\n"
     "      OUT_DIR/report.html (a sweep: and each point's); N samples per model shown (500)"},
    {"submit", xai::cli::submit,
     "submit EXPERIMENT.yaml [--profile P] [--nodes N] [--ntasks-per-node K] [--gpus-per-node G]\n"
     "        [--time HH:MM:SS] [--partition P] [--account A] [--set key=value]... [--dry-run]\n"
     "      render a Slurm batch script (jobs/, jobs/profiles/P.yaml) and sbatch it"},
    {"sweep", xai::cli::sweep,
     "sweep SWEEP.yaml [--profile P] [--max-concurrent M] [sbatch options] [--dry-run]\n"
     "      one experiment per grid point, submitted as a job array + a dependent collect job;\n"
     "      re-running submits only the points without finished results"},
    {"status", xai::cli::status,
     "status OUT_DIR\n"
     "      each point (or the run): done / running / pending / failed, progress, failures"},
    {"collect", xai::cli::collect,
     "collect OUT_DIR\n"
     "      every point's results.json -> OUT_DIR/results.csv, results.txt and index.json"},
    {"explain", xai::cli::explain,
     "explain --model DIR --prompt TEXT [--text-b TEXT] --target TEXT [--method atman]\n"
     "        [--set param=value]... [--json] [--no-color]\n"
     "explain --model DIR --prompt TEXT --generate N [--temperature T] [--seed S] [--stop STR]\n"
     "        [...]  (the model's own answer, greedy unless --temperature, explained)\n"
     "explain --model DIR --image PATH --target LABEL [--overlay OUT.png] [...]\n"
     "        [--tree OUT.svg|OUT.json]  (attattr with --set tree=true: the attribution tree)\n"
     "      relevance of every prompt token (an image: every patch) for the target, one\n"
     "      method (a classifier's target: a class, by label or id)"},
    {"inspect-model", xai::cli::inspect_model,
     "inspect-model DIR [--seq-len T] [--batch B] [--dtype float32|bfloat16|float16]\n"
     "      family, sizes, parameters, and memory estimates for a checkpoint folder"},
    {"predict", xai::cli::predict,
     "predict --model DIR (--prompt TEXT [--text-b TEXT] | --image PATH) [--top K]\n"
     "        [--device cpu|cuda] [--threads N] [--json]\n"
     "      the prompt's tokens and the top-K next tokens with probabilities (a classifier:\n"
     "      every class with its probability; an image classifier: --image, PNG or JPEG)"},
    {"train", xai::cli::train,
     "train CONFIG [--set key=value]... [--out DIR]\n"
     "      train a toy model and its tokenizer (configs/train/*.yaml)"},
    {"make-model", xai::cli::make_model,
     "make-model OUT_DIR --family gpt2|llama|gpt_neox|gptj --layers L --hidden D --heads H\n"
     "        [--kv-heads K] [--head-dim E] [--intermediate F] [--vocab V] [--max-positions P]\n"
     "        [--dtype float32|bfloat16|float16] [--seed S] [--shard-size 2GB]\n"
     "      a synthetic model (seeded random weights of that shape) as a Hugging Face folder"},
    {"make-toy-data", xai::cli::make_toy_data,
     "make-toy-data OUT [--split train|test] [--n N] [--seed S] [--task qa|shapes]\n"
     "        [--image-size PX]\n"
     "      write toy task questions as SQuAD JSON (datasets/toy/data/test.json), or with\n"
     "      --task shapes the toy images and masks into the folder OUT with OUT/index.jsonl"},
};

void usage(std::ostream& os) {
  os << "usage: xai COMMAND [options]\n\ncommands:\n";
  for (const auto& c : kCommands) os << "  " << c.usage << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  xai::tune_host_allocator();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    usage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const xai::Error& e) {
      std::cerr << "xai " << name << ": error: " << e.what() << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "xai " << name << ": internal error: " << e.what() << "\n";
      return 3;
    }
  }
  std::vector<std::string> known;
  for (const auto& c : kCommands) known.push_back(c.name);
  const std::string near = xai::cli::nearest(name, known);
  std::cerr << "xai: unknown command '" << name << "'"
            << (near.empty() ? "" : " (did you mean '" + near + "'?)") << "\n";
  usage(std::cerr);
  return 2;
}
