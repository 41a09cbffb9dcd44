#include "framework/run/sample_loop.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "framework/common/error.h"
#include "framework/dist/assignment.h"
#include "framework/dist/communicator.h"
#include "framework/dist/device_collectives.h"
#include "framework/dist/progress_board.h"
#include "framework/dist/rank_watchdog.h"
#include "framework/io/shard_writer.h"
#include "framework/metrics/metrics.h"
#include "framework/metrics/segmentation.h"
#include "framework/metrics/statistics.h"
#include "framework/model/generate.h"
#include "framework/model/model.h"
#include "framework/run/memory_meter.h"
#include "framework/run/overlays.h"
#include "framework/run/plan.h"
#include "framework/text/chat.h"
#include "framework/run/progress.h"
#include "framework/run/rank_calls.h"
#include "framework/text/encoded.h"

namespace xai {
namespace fs = std::filesystem;

namespace {

// Set by SIGINT/SIGTERM (Ctrl-C, Slurm's time limit, the launcher ending the job): the loop stops
// after the current sample; what is finished is flushed at once by the stop flusher.
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

std::vector<float> to_vector(const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

ExtraArray to_extra(const at::Tensor& t) {
  ExtraArray a;
  a.shape = t.sizes().vec();
  a.values = to_vector(t);
  return a;
}

// metrics.perturbation: the deletion and insertion curves and ERASER's scores of one explanation,
// as metrics (perturbation_metrics()), the extras "perturbation" (9, steps: deletion MoRF and LeRF
// probability, their argmax hits, insertion probability and hits, then the log-probability of
// MoRF, LeRF and insertion) and "eraser" (3, K: k in %, comprehensiveness, sufficiency), and the
// seconds they took.
void add_perturbation_test(Model& model, const Encoded& enc, const PerturbationSettings& settings,
                           ExplanationRecord& er) {
  const auto t0 = std::chrono::steady_clock::now();
  // At segment granularity whole segments are removed, in the order of their relevance.
  const auto seg = er.extras.find(kSegmentRelevanceExtra);
  const PerturbationCurves c = perturbation_curves(
      model, enc, enc.segments.empty() ? er.relevance : seg->second.values, settings);
  er.metrics["pos_auc"] = c.positive_auc;
  er.metrics["neg_auc"] = c.negative_auc;
  er.metrics["pos_acc"] = c.positive_auc_correct;
  er.metrics["neg_acc"] = c.negative_auc_correct;
  er.metrics["pos_auc_norm"] = c.positive_auc_norm;
  er.metrics["neg_auc_norm"] = c.negative_auc_norm;
  er.metrics["ins_auc_norm"] = c.insertion_auc_norm;
  er.metrics["aopc_morf"] = c.aopc_positive;
  er.metrics["aopc_lerf"] = c.aopc_negative;
  if (!settings.eraser.empty()) {
    er.metrics["comprehensiveness"] = c.comprehensiveness_mean;
    er.metrics["sufficiency"] = c.sufficiency_mean;
  }
  ExtraArray curves;
  curves.shape = {9, static_cast<int64_t>(c.fractions.size())};
  for (const auto* v : {&c.positive_prob, &c.negative_prob, &c.positive_correct,
                        &c.negative_correct, &c.insertion_prob, &c.insertion_correct,
                        &c.positive_logprob, &c.negative_logprob, &c.insertion_logprob})
    for (double x : *v) curves.values.push_back(static_cast<float>(x));
  er.extras["perturbation"] = std::move(curves);
  if (!settings.eraser.empty()) {
    ExtraArray eraser;
    eraser.shape = {3, static_cast<int64_t>(settings.eraser.size())};
    for (int64_t k : settings.eraser) eraser.values.push_back(static_cast<float>(k));
    for (double x : c.comprehensiveness) eraser.values.push_back(static_cast<float>(x));
    for (double x : c.sufficiency) eraser.values.push_back(static_cast<float>(x));
    er.extras["eraser"] = std::move(eraser);
  }
  er.cost["perturbation_seconds"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The rank correlation of every explanation of a sample with the run's leave-one-out reference
// (the first explainer whose method is occlusion), over the explained positions: metrics
// spearman_occlusion and kendall_occlusion of each other explainer's record.
void add_occlusion_correlations(const Plan& plan, const Encoded& enc, SampleRecord& rec) {
  const ExplainerEntry* reference = occlusion_reference(plan);
  if (reference == nullptr) return;
  const auto ref = rec.explanations.find(reference->name);
  if (ref == rec.explanations.end()) return;  // it failed on this sample
  // The scores compared: the explained positions' relevance, or at segment granularity the
  // segments' (compared only with the same segments).
  auto explained = [&](const ExplanationRecord& e) {
    std::vector<double> v;
    if (const auto seg = e.extras.find(kSegmentRelevanceExtra); seg != e.extras.end()) {
      for (float x : seg->second.values) v.push_back(x);
      return v;
    }
    for (size_t i = 0; i < e.relevance.size() && i < enc.explain_mask.size(); ++i) {
      if (enc.explain_mask[i]) v.push_back(e.relevance[i]);
    }
    return v;
  };
  auto segments_of = [](const ExplanationRecord& e) {
    const auto seg = e.extras.find(kSegmentsExtra);
    return seg == e.extras.end() ? std::vector<float>() : seg->second.values;
  };
  const std::vector<double> r = explained(ref->second);
  const std::vector<float> ref_segments = segments_of(ref->second);
  for (auto& [name, er] : rec.explanations) {
    if (name == reference->name) continue;
    const std::vector<double> x = explained(er);
    if (x.size() != r.size() || segments_of(er) != ref_segments) continue;
    er.metrics["spearman_occlusion"] = spearman(x, r);
    er.metrics["kendall_occlusion"] = kendall_tau_b(x, r);
  }
}

// dataset.target: generate: the model's greedy answer replaces the sample's target (the dataset's
// answer kept in meta "answer"); returns its exact match with the dataset's answer. A classifier
// or an image model has no answer to generate: the sample fails, saying so.
double answer_sample(Model& model, const SampleEncoder& encoder, Sample& sample) {
  XAI_CHECK(!encoder.images() && !model.spec().classifier(),
            "dataset.target: generate continues a language model's prompt; this model is a "
            "classifier (HINT: target: given)");
  GenerateOptions o;
  o.max_new_tokens = sample.generate.max_new_tokens;
  const std::string answer = sample.target;
  generate_target(model, encoder.tokenizer(), sample, o, sample.generate.stop);
  sample.meta["answer"] = answer;
  return exact_match(sample.target, answer, sample.generate.stop);
}

// AP and AR of one explanation over the explained positions (|relevance|), and for an image with a
// mask the segmentation metrics of the |relevance| map (its pixel counts into `counts`, set to
// the image's then); empty when there is no evidence. At segment granularity over the segments:
// |segment relevance| against the segment's evidence (the most of its tokens': a sentence holding
// the answer is evidence).
std::map<std::string, double> sample_metrics_of(const ExplanationRecord& er, const Encoded& enc,
                                                ExtraArray* counts) {
  if (enc.evidence_mask.empty()) return {};
  const std::vector<float>& relevance = er.relevance;
  std::map<std::string, double> out;
  if (!enc.evidence_pixels.empty()) {  // an image with a mask: Chefer's segmentation metrics too
    std::vector<double> grid;
    for (size_t t = 1; t < relevance.size(); ++t) grid.push_back(std::abs(relevance[t]));
    SegmentationCounts c;
    out = segmentation_metrics(grid, enc.patch_grid(), enc.evidence_pixels, enc.pixel_shape[1], &c);
    counts->values = c.to_extra();
    counts->shape = {static_cast<int64_t>(counts->values.size())};
  }
  std::vector<double> x, y;
  if (!enc.segments.empty()) {
    const std::vector<float>& seg = er.extras.at(kSegmentRelevanceExtra).values;
    for (size_t s = 0; s < enc.segments.size(); ++s) {
      x.push_back(std::abs(static_cast<double>(seg[s])));
      float e = 0;
      for (int64_t i = enc.segments[s].first; i < enc.segments[s].end; ++i)
        e = std::max(e, enc.evidence_mask[static_cast<size_t>(i)]);
      y.push_back(e);
    }
  }
  for (int64_t i = 0; i < enc.size() && enc.segments.empty(); ++i) {
    if (!enc.explain_mask[i]) continue;
    x.push_back(std::abs(static_cast<double>(relevance[i])));
    y.push_back(enc.evidence_mask[i]);
  }
  out["ap"] = average_precision(x, y);
  out["ar"] = average_recall(x, y);
  const Plausibility p = plausibility(x, y);
  out["token_f1"] = p.token_f1;
  out["token_iou"] = p.token_iou;
  out["pointing"] = p.pointing;
  return out;
}

// Flushes the finished samples within ~50 ms of a stop signal, from its own thread: the sample in
// flight may take minutes, and the launcher (mpirun after a rank died, Slurm at the time limit)
// may follow the signal with SIGKILL long before that.
class StopFlusher {
 public:
  explicit StopFlusher(SampleSaver& w)
      : thread_([this, &w] {
          while (!done_) {
            if (g_stop_signal != 0) {
              w.flush_now(std::chrono::seconds(10));
              return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }) {}
  ~StopFlusher() {
    done_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

void SampleSaver::attach(ShardWriter* writer) {
  std::lock_guard<std::timed_mutex> lock(mu_);
  writer_ = writer;
}

void SampleSaver::add(SampleRecord r) {
  std::lock_guard<std::timed_mutex> lock(mu_);
  XAI_CHECK(writer_ != nullptr, "internal: no shard writer attached");
  writer_->add(std::move(r));
  ++handed_;
}

void SampleSaver::add_failure(Failure f) {
  std::lock_guard<std::timed_mutex> lock(mu_);
  XAI_CHECK(writer_ != nullptr, "internal: no shard writer attached");
  const bool whole = f.explainer.empty();
  writer_->add_failure(std::move(f));
  if (whole) ++handed_;
}

void SampleSaver::close() {
  std::lock_guard<std::timed_mutex> lock(mu_);
  if (writer_ == nullptr) return;
  ShardWriter* w = writer_;
  writer_ = nullptr;
  w->close();
}

std::string SampleSaver::flush_now(std::chrono::milliseconds wait) {
  std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
  if (!lock.try_lock_for(wait)) {
    return "could not save its buffered samples in time (a flush was in progress)";
  }
  if (writer_ == nullptr) return str_cat("had saved its ", handed_, " finished samples");
  try {
    writer_->flush();
    return str_cat("saved its ", handed_, " finished samples");
  } catch (const std::exception& e) {
    return str_cat("could not save its buffered samples: ", e.what());
  }
}

std::unique_ptr<RankWatchdog> start_watchdog(Communicator& comm, const Plan& plan,
                                             SampleSaver& saver) {
  const World world = comm.world();
  if (world.size <= 1 || plan.rank_timeout <= 0) return nullptr;
  // A token of this run for the heartbeats (files of an earlier run in the folder are ignored).
  std::string token;
  if (world.is_root()) {
    token = str_cat(std::hex, ::getpid(), "-",
                    std::chrono::system_clock::now().time_since_epoch().count());
  }
  comm.broadcast(token, 0);
  // The first heartbeat is posted at once: its folder must exist before the shard writer makes it.
  std::error_code ec;
  fs::create_directories(shards_dir(plan.out_dir), ec);
  const int me = world.rank;
  return std::make_unique<RankWatchdog>(
      shards_dir(plan.out_dir), world.rank, world.size, token, plan.rank_timeout,
      [me, &saver](const std::string& why) {
        const std::string saved = saver.flush_now(std::chrono::seconds(10));
        std::fprintf(stderr,
                     "xai run: %s; stopping rank %d too (it %s). HINT: the saved samples are in "
                     "the shards; rerun with --resume to finish\n",
                     why.c_str(), me, saved.c_str());
        std::fflush(stderr);
        std::_Exit(1);  // the launcher then ends every remaining rank
      });
}

RunLayout layout_of(const World& world, int per_group) {
  RunLayout l;
  l.world = world;
  l.per_group = per_group;
  const int unit = per_group * world.tensor;  // ranks per perturbation group
  l.groups = world.size / unit;
  l.group = world.rank / unit;
  l.member = (world.rank % unit) / world.tensor;
  l.runs_every_method = l.member == 0;
  l.group_root = l.member == 0 && world.tp_rank() == 0;
  return l;
}

std::string RunLayout::describe() const {
  return str_cat("rank ", world.rank, "/", world.size, ": group ", group, "/", groups, ", replica ",
                 member, " of ", per_group, ", tensor rank ", world.tp_rank(), " of ",
                 world.tensor);
}

RunLayout make_layout(Communicator& comm, const Plan& plan, at::Device device) {
  const World w = comm.world();
  RunLayout l = layout_of(World::make(w.size, w.rank, w.local_size, w.local_rank,
                                      static_cast<int>(plan.tensor), plan.tensor_where),
                          static_cast<int>(plan.perturbation));
  l.device = device;
  const int k = l.world.tensor, tp = l.world.tp_rank();
  // Every rank makes the same splits in the same order (each is a collective over comm).
  if (l.per_group > 1) l.group_comm = comm.split(l.group * k + tp, l.member);
  if (k > 1) l.tensor_comm = comm.split(l.world.replica(), tp);
  if (l.per_group * k > 1) l.unit_comm = comm.split(l.group, l.world.rank);
  // runtime.collectives: nccl: each perturbation group and each replica also get an NCCL
  // communicator on their ranks' GPUs (id over MPI, or through XAI_NCCL_RENDEZVOUS); every rank
  // learns any failure.
  if (plan.collectives == "nccl" && (l.group_comm || l.tensor_comm)) {
    on_all(comm, [&] {
      if (l.group_comm) {
        l.group_devices = make_nccl_communicator(*l.group_comm, static_cast<int>(device.index()),
                                                 nccl_rendezvous_from_env(l.group * k + tp));
      }
      if (l.tensor_comm) {
        l.tensor_devices =
            make_nccl_communicator(*l.tensor_comm, static_cast<int>(device.index()),
                                   nccl_rendezvous_from_env(l.world.replica(), "nccl-tp-id"));
      }
    });
  }
  if (l.tensor_comm) {
    l.tensor_group = std::make_unique<TensorGroup>(*l.tensor_comm, l.tensor_devices.get());
  }
  return l;
}

SampleWork assign_samples(Communicator& comm, const Plan& plan, const RunLayout& layout,
                          const std::set<SampleKey>& done) {
  SampleWork w;
  w.mine.resize(plan.models.size());
  // Per model, the samples not done yet, balanced by token count over the groups (each rank
  // measures every size-th sample; a sum gathers the lengths). One group takes everything without
  // measuring.
  for (size_t mi = 0; mi < plan.models.size(); ++mi) {
    const auto& m = plan.models[mi];
    const Dataset& data = *m.dataset;
    const int64_t n = data.size();
    w.total += n;
    w.encoders.push_back(entry_encoder(m));
    std::vector<int64_t> todo;
    for (int64_t i = 0; i < n; ++i) {
      if (done.count({m.name, data.id(i)})) {
        ++w.finished;
      } else {
        todo.push_back(i);
      }
    }
    if (layout.groups == 1) {
      w.mine[mi] = todo;
      continue;
    }
    std::vector<int64_t> cost(todo.size(), 0);
    const std::vector<std::string> labels = entry_spec(m).labels;
    for (size_t k = static_cast<size_t>(layout.world.rank); k < todo.size();
         k += layout.world.size) {
      try {
        cost[k] = w.encoders.back().encode(data.get(todo[k]), 0, labels).size();
      } catch (const std::exception&) {
        cost[k] = 1;  // its owner records the failure
      }
    }
    comm.allreduce(cost, ReduceOp::kSum);
    std::vector<WorkItem> items;
    for (size_t k = 0; k < todo.size(); ++k) items.push_back({data.id(todo[k]), cost[k]});
    const std::vector<int> owner = assign_balanced(items, layout.groups);
    for (int64_t j : owned_by(owner, layout.group)) {
      w.mine[mi].push_back(todo[static_cast<size_t>(j)]);
    }
  }
  if (layout.group_root) {
    for (const auto& v : w.mine) w.my_total += static_cast<int64_t>(v.size());
  }
  return w;
}

LoopTotals run_samples(const Plan& plan, RunLayout& layout, const SampleWork& work,
                       const ResultsMeta& meta, std::ostream& log, SampleSaver& writer,
                       RankWatchdog* watchdog) {
  const World& world = layout.world;
  const bool group_root = layout.group_root;
  Communicator* group_comm = layout.group_comm.get();

  g_stop_signal = 0;
  auto old_int = std::signal(SIGINT, on_stop_signal);
  auto old_term = std::signal(SIGTERM, on_stop_signal);
  struct RestoreSignals {
    void (*i)(int);
    void (*t)(int);
    ~RestoreSignals() {
      std::signal(SIGINT, i);
      std::signal(SIGTERM, t);
    }
  } restore{old_int, old_term};

  LoopTotals totals;
  ShardWriter shard(plan.out_dir, world.rank, meta,
                    FlushPolicy(plan.flush_every, plan.flush_seconds),
                    plan.disk_headroom_mb * (int64_t{1} << 20));
  writer.attach(&shard);
  // However the loop ends, the saver never points at a destroyed writer; when it ends by an error
  // (a model that cannot load, a full disk), what is finished is saved first if it can be.
  struct Detach {
    SampleSaver& s;
    ~Detach() {
      if (std::uncaught_exceptions() > 0) s.flush_now(std::chrono::milliseconds(0));
      s.attach(nullptr);
    }
  } detach{writer};
  StopFlusher stop_flusher(writer);
  // Rank 0 shows the whole run: its own count live, the others' from their posts on the progress
  // board (several ranks only; each posts every 2 s at most).
  std::unique_ptr<ProgressBoard> board;
  if (world.size > 1) {
    board = std::make_unique<ProgressBoard>(shards_dir(plan.out_dir), world.rank, world.size);
    board->post(0, work.my_total, false, /*force=*/true);
  }
  Progress progress(log, work.total, "samples",
                    world.is_root() ? plan.progress : Progress::Mode::kOff);
  int64_t others = 0;   // rank 0: samples done by the other ranks, from the board
  bool closed = false;  // this rank's shard is closed and its last post made
  auto last_read = std::chrono::steady_clock::now() - std::chrono::hours(1);
  // Returns whether every other rank has posted that it is finished (rank 0, several ranks).
  auto show = [&](const std::string& note, bool read_now) {
    if (!board) {
      progress.update(work.finished + totals.done_now, note);
      return true;
    }
    if (!closed) board->post(totals.done_now, work.my_total, false);
    if (!world.is_root()) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_read < std::chrono::seconds(1) && !read_now) {
      progress.update(work.finished + totals.done_now + others, note);
      return false;
    }
    last_read = now;
    bool all_finished = true;
    others = 0;
    const auto posts = board->read();
    for (int r = 1; r < world.size; ++r) {
      others += posts[r].done;
      all_finished = all_finished && posts[r].finished;
    }
    progress.update(work.finished + totals.done_now + others, note);
    return all_finished;
  };
  // A line for the user between progress updates: rank 0 prints it; `every_rank`: the other ranks
  // too, on stderr with their rank (their own sample failures).
  auto notice = [&](const std::string& line, bool every_rank) {
    if (world.is_root()) {
      progress.message(line);
    } else if (every_rank) {
      std::cerr << "[rank " << world.rank << "] " << line << "\n" << std::flush;
    }
  };
  std::set<std::pair<std::string, std::string>> told;  // (model, explainer) failures said
  MemoryMeter meter;
  ExplainContext ctx;
  ctx.perturbation_group = group_comm;
  ctx.perturbation_device_group = layout.group_devices.get();
  // Whether to stop before the next sample. A group's ranks decide together (a signal may reach
  // them at different times), else one would wait for the others in AtMan's sum or in the
  // model's own collectives (tensor parallelism).
  bool stop = false;
  Communicator* unit_comm = layout.unit_comm.get();
  auto should_stop = [&] {
    if (!stop) {
      stop = unit_comm ? unit_comm->allreduce_value(int64_t{g_stop_signal != 0}, ReduceOp::kMax) > 0
                       : g_stop_signal != 0;
    }
    return stop;
  };
  for (size_t mi = 0; mi < plan.models.size(); ++mi) {
    if (should_stop()) break;
    if (work.mine[mi].empty()) continue;
    const auto& m = plan.models[mi];
    std::unique_ptr<Model> model =
        load_entry_model(m, layout.device, "models[" + std::to_string(mi) + "]",
                         plan.streamed_models.count(m.name) == 0, layout.tensor_group.get());
    const SampleEncoder& encoder = work.encoders[mi];
    if (!encoder.images()) {
      const Tokenizer& tokenizer = encoder.tokenizer();
      XAI_CHECK(tokenizer.vocab_size() <= model->spec().vocab_size, m.path,
                "/tokenizer.json: ", tokenizer.vocab_size(),
                " tokens, more than the model's vocabulary of ", model->spec().vocab_size,
                " (HINT: the tokenizer does not belong to ", m.path, ")");
    }
    // A method that cannot run on this model at all (a layer it names is not one of the model's,
    // ...) is said once and skipped here; each sample's failure record says why.
    std::vector<std::string> cannot(plan.explainers.size());
    for (size_t k = 0; k < plan.explainers.size(); ++k) {
      try {
        plan.explainers[k].impl->check_model(*model);
      } catch (const std::exception& e) {
        cannot[k] = e.what();
        notice(str_cat("xai run: ", plan.explainers[k].name, " cannot run on ", m.name, ": ",
                       cannot[k], "; skipped there, the other explainers go on"),
               false);
      }
    }

    for (int64_t i : work.mine[mi]) {
      if (should_stop()) break;
      const std::string id = m.dataset->id(i);
      if (watchdog) watchdog->set_current(m.name + "/" + id);
      show(m.name, false);
      Sample sample;
      Encoded enc;
      std::optional<double> matched;  // dataset.target: generate: the answer's exact match
      try {
        sample = m.dataset->get(i);
        // A conversation: rendered once with this model's chat template (stored as the prompt).
        if (!encoder.images()) apply_chat_template(sample, encoder.tokenizer());
        if (sample.generate.max_new_tokens > 0) matched = answer_sample(*model, encoder, sample);
        enc = encoder.encode(sample, model->spec().max_positions, model->spec().labels);
      } catch (const std::exception& e) {
        if (!group_root) continue;  // every member fails alike; the root records it
        writer.add_failure({m.name, id, "", e.what()});
        ++totals.failures_now;
        if (told.insert({m.name, ""}).second) {
          notice(str_cat("xai run: sample ", id, " cannot be read for ", m.name, ": ", e.what(),
                         " (the run goes on; further such samples of ", m.name,
                         " are only recorded under /failures)"),
                 true);
        }
        ++totals.done_now;
        continue;
      }
      SampleRecord rec;
      rec.model = m.name;
      rec.sample_id = id;
      rec.tokens = enc.ids;
      rec.token_offsets = enc.offsets;
      rec.prompt_len = enc.prompt_len;
      rec.explain_mask = enc.explain_mask;
      rec.evidence = enc.evidence_mask;
      rec.prompt = sample.prompt;
      // A classification sample's target is its class (the model's name for it).
      rec.target = enc.classification()
                       ? model->spec().labels[static_cast<size_t>(enc.target_ids[0])]
                       : sample.target;
      for (size_t k = 0; k < plan.explainers.size(); ++k) {
        auto& x = plan.explainers[k];
        if (!layout.runs_every_method && !x.impl->splits_perturbations()) continue;
        if (!cannot[k].empty()) {
          if (!group_root) continue;
          writer.add_failure({m.name, id, x.name, cannot[k]});
          ++totals.failures_now;
          continue;
        }
        try {
          meter.start();
          const auto layer_major = plan.layer_major.find(m.name + "/" + x.name);
          ctx.layer_major = layer_major != plan.layer_major.end();
          if (ctx.layer_major) ctx.layer_major_bytes = layer_major->second;
          // The sample as this explainer sees it: with its segments (granularity) when not token.
          Encoded segmented;
          if (!x.impl->granularity().token())
            segmented = with_segments(*x.impl, sample.prompt, enc);
          const Encoded& xenc = x.impl->granularity().token() ? enc : segmented;
          Explanation ex = x.impl->explain(*model, xenc, ctx);
          if (const std::string why = keep_explained(ex, xenc); !why.empty()) throw Error(why);
          add_segment_scores(ex, xenc, x.impl->perturbs_segments());
          add_contrast(ex, xenc);
          ExplanationRecord er;
          er.relevance = to_vector(ex.relevance);
          er.n_targets = ex.per_target.size(0);
          er.per_target = to_vector(ex.per_target);
          for (const auto& [name, t] : ex.extras) er.extras[name] = to_extra(t);
          ExtraArray counts;
          er.metrics = sample_metrics_of(er, xenc, &counts);
          if (matched) er.metrics[exact_match_metric().name] = *matched;
          if (!counts.values.empty()) er.extras[kSegmentationCounts] = std::move(counts);
          er.cost = {{"seconds", ex.cost.seconds},
                     {"forward_passes", static_cast<double>(ex.cost.forward_passes)},
                     {"sequences", static_cast<double>(ex.cost.sequences)},
                     {"backward_passes", static_cast<double>(ex.cost.backward_passes)},
                     {"peak_bytes", static_cast<double>(meter.peak_extra_bytes())}};
          // Evaluations after the explainer's cost is taken (their time and memory are not its).
          // The perturbation test's forwards are collective under tensor parallelism: every rank
          // of the replica runs them (the same inputs: the relevance is whole on each); the
          // group root records.
          if (plan.perturbation_test.enabled && layout.runs_every_method) {
            add_perturbation_test(*model, xenc, plan.perturbation_test, er);
          }
          if (plan.overlays && sample.is_image() && group_root) {
            write_overlay(overlay_path(plan.out_dir, m.name, x.name, id), sample, enc, er.relevance,
                          encoder);
          }
          if (plan.trees && group_root) {
            write_tree(tree_path(plan.out_dir, m.name, x.name, id), er.extras, enc,
                       model->spec().num_layers, str_cat(x.name, " on ", m.name, ": ", id));
          }
          rec.explanations[x.name] = std::move(er);
        } catch (const std::exception& e) {
          if (!group_root) continue;
          writer.add_failure({m.name, id, x.name, e.what()});
          ++totals.failures_now;
          if (told.insert({m.name, x.name}).second) {
            notice(str_cat("xai run: ", x.name, " failed on ", m.name, ", sample ", id, ": ",
                           e.what(), " (the run goes on; further failures of ", x.name, " on ",
                           m.name, " are only recorded under /failures)"),
                   true);
          }
        }
      }
      if (!group_root) continue;
      add_occlusion_correlations(plan, enc, rec);
      writer.add(std::move(rec));
      ++totals.done_now;
    }
  }
  if (watchdog) watchdog->set_current("");
  writer.close();
  if (board) {
    board->post(totals.done_now, work.my_total, /*finished=*/true);
    closed = true;
    // Rank 0 keeps the display going until every rank has posted that it is finished; a rank that
    // dies ends the whole job (the watchdog's or the launcher's doing), so this cannot wait
    // forever.
    while (world.is_root() && !show("waiting for the other ranks", true)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  progress.finish(world.size == 1 ? str_cat(totals.done_now, " samples this run, ",
                                            totals.failures_now, " failure(s)")
                                  : str_cat(totals.done_now + others, " samples this run on ",
                                            world.size, " ranks (rank 0: ", totals.done_now, ", ",
                                            totals.failures_now, " failure(s))"));
  totals.stopped = g_stop_signal != 0;
  return totals;
}

}  // namespace xai
