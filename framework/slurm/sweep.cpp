#include "framework/slurm/sweep.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "framework/common/args.h"
#include "framework/common/error.h"
#include "framework/config/config.h"
#include "framework/config/config_tree.h"

namespace xai {
namespace fs = std::filesystem;
using config_detail::Entry;
using config_detail::Value;

namespace {

const Value* find(const Value& mapping, const std::string& key) {
  if (mapping.kind != Value::Kind::kMapping) return nullptr;
  const Entry* e = config_detail::find_entry(mapping, key);
  return e ? &e->value : nullptr;
}

void set_entry(Value& mapping, const std::string& key, Value v) {
  if (mapping.kind != Value::Kind::kMapping) {
    mapping = Value();
    mapping.kind = Value::Kind::kMapping;
  }
  for (Entry& e : mapping.entries) {
    if (e.key == key) {
      e.value = std::move(v);
      return;
    }
  }
  Entry e;
  e.key = key;
  e.value = std::move(v);
  mapping.entries.push_back(std::move(e));
}

Value scalar(const std::string& text, bool quoted) {
  Value v;
  v.kind = Value::Kind::kScalar;
  v.text = text;
  v.quoted = quoted;
  return v;
}

Value list_of(Value item) {
  Value v;
  v.kind = Value::Kind::kSequence;
  v.items.push_back(std::move(item));
  return v;
}

// A scalar as YAML text that parses back to the same value.
std::string yaml_scalar(const Value& v) {
  if (!v.quoted) return v.text;
  YAML::Emitter e;
  e << YAML::DoubleQuoted << v.text;
  return e.c_str();
}

void emit(YAML::Emitter& e, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      e << YAML::Null;
      break;
    case Value::Kind::kScalar:
      if (v.quoted) {
        e << YAML::DoubleQuoted << v.text;
      } else {
        e << v.text;
      }
      break;
    case Value::Kind::kSequence:
      e << YAML::BeginSeq;
      for (const Value& i : v.items) emit(e, i);
      e << YAML::EndSeq;
      break;
    case Value::Kind::kMapping:
      e << YAML::BeginMap;
      for (const Entry& en : v.entries) {
        e << YAML::Key << en.key << YAML::Value;
        emit(e, en.value);
      }
      e << YAML::EndMap;
      break;
  }
}

std::string where(const Value& v, const std::string& path) {
  return config_detail::where(v.origin, v.line, path);
}

// One item of an axis: its name (for ids and rules) and the YAML it contributes.
struct AxisItem {
  std::string name;
  Value value;
};

std::vector<AxisItem> read_axis(const Value* axis, const std::string& path, bool strip_name) {
  std::vector<AxisItem> out;
  if (!axis) return out;
  if (axis->kind != Value::Kind::kSequence) {
    throw Error(
        str_cat(where(*axis, path), "expected a list, got ", config_detail::describe(*axis)));
  }
  if (axis->items.empty()) {
    throw Error(str_cat(where(*axis, path),
                        "empty list: the grid has no points. HINT: remove "
                        "the key to keep the base experiment's value"));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < axis->items.size(); ++i) {
    const Value& item = axis->items[i];
    const std::string ip = str_cat(path, "[", i, "]");
    AxisItem a;
    if (item.kind == Value::Kind::kScalar && !strip_name) {  // "- atman" for explainers
      a.name = item.text;
      a.value.kind = Value::Kind::kMapping;
      set_entry(a.value, "name", item);
    } else if (item.kind == Value::Kind::kMapping) {
      const Value* n = find(item, "name");
      if (!n || n->kind != Value::Kind::kScalar || n->text.empty()) {
        throw Error(str_cat(where(item, ip + ".name"), "missing: every grid item needs a name"));
      }
      a.name = n->text;
      a.value = item;
      if (strip_name) {
        auto& en = a.value.entries;
        en.erase(
            std::remove_if(en.begin(), en.end(), [](const Entry& e) { return e.key == "name"; }),
            en.end());
      }
    } else {
      throw Error(str_cat(where(item, ip), "expected a mapping with a name, got ",
                          config_detail::describe(item)));
    }
    if (!seen.insert(a.name).second) {
      throw Error(str_cat(where(item, ip + ".name"), "duplicate point: '", a.name,
                          "' appears twice in ", path));
    }
    out.push_back(std::move(a));
  }
  return out;
}

struct ParamAxis {
  std::string path, short_name;
  std::vector<Value> values;
};

std::string sanitize(const std::string& s, bool* changed) {
  std::string out;
  for (char c : s) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '=';
    out += ok ? c : '_';
    if (!ok) *changed = true;
  }
  if (out.empty() || out[0] == '.' || out[0] == '-') {
    out = "_" + out;
    *changed = true;
  }
  return out;
}

std::string fnv_hex(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%08llx", static_cast<unsigned long long>(h & 0xffffffffull));
  return buf;
}

// Whether a rule value (scalar or list of scalars) matches `text`.
bool rule_matches(const Value& rule, const std::string& text) {
  if (rule.kind == Value::Kind::kSequence) {
    for (const Value& i : rule.items)
      if (i.kind == Value::Kind::kScalar && i.text == text) return true;
    return false;
  }
  return rule.kind == Value::Kind::kScalar && rule.text == text;
}

}  // namespace

std::string point_dir(const Sweep& s, const SweepPoint& p) {
  return (fs::path(s.output) / "points" / p.id).string();
}

bool point_done(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "results.json");
  if (!in) return false;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    return j.value("complete", nlohmann::json()) == true;
  } catch (const std::exception&) {
    return false;
  }
}

Sweep load_sweep(const std::string& path, const std::vector<std::string>& overrides) {
  // Strict reading of the fixed keys through Config; the grid's items (whole experiment pieces)
  // are copied as YAML trees and checked when each point runs.
  const Config cfg = Config::load(path, overrides);
  const ConfigNode root = cfg.root();
  Sweep s;
  s.path = path;
  s.name = root.get_string("name", fs::path(path).stem().string());
  s.output = root.get_string("output", "out/sweeps/" + s.name);
  s.profile = root.get_string("profile", "");
  s.max_concurrent = root.get_int("max_concurrent", 0);
  XAI_CHECK(s.max_concurrent >= 0, path, ": max_concurrent: must be >= 0 (0 = no cap)");
  const std::string base = root.get_string("base", "");
  s.sbatch.merge_from(root.child("sbatch"));
  const ConfigNode grid = root.child("grid");
  // has() marks a key as asked for, so finish() flags only misspelt ones; the values are read
  // from the tree below.
  for (const char* k : {"models", "datasets", "explainers", "params", "include", "exclude"})
    (void)grid.has(k);
  (void)root.has("set");
  grid.finish();
  root.finish();

  Value tree = config_detail::load_file(path);
  for (const auto& o : overrides) config_detail::apply_override(tree, o);
  const Value* g = find(tree, "grid");
  XAI_CHECK(g && g->kind == Value::Kind::kMapping, path,
            ": grid: missing. HINT: grid: {models: [...], explainers: [...]}");

  Value base_tree;
  base_tree.kind = Value::Kind::kMapping;
  if (!base.empty()) {
    const fs::path b =
        fs::path(base).is_absolute() ? fs::path(base) : fs::path(path).parent_path() / base;
    try {
      base_tree = config_detail::load_file(b.lexically_normal().string());
    } catch (const Error& e) {
      throw Error(str_cat(path, ": base: ", e.what()));
    }
  }

  // set: {path: value}, applied to every point (not an axis, so not part of the ids).
  if (const Value* sv = find(tree, "set")) {
    if (sv->kind != Value::Kind::kMapping) {
      throw Error(str_cat(where(*sv, "set"),
                          "expected a mapping of override path -> value, e.g. "
                          "{runtime.threads: 1}"));
    }
    // Nested mappings ({runtime: {threads: 1}}, as --set set.runtime.threads=1 makes) are paths.
    std::function<void(const Value&, const std::string&)> apply = [&](const Value& m,
                                                                      const std::string& prefix) {
      for (const Entry& e : m.entries) {
        const std::string key = prefix.empty() ? e.key : prefix + "." + e.key;
        if (e.value.kind == Value::Kind::kMapping) {
          apply(e.value, key);
          continue;
        }
        if (e.value.kind != Value::Kind::kScalar) {
          throw Error(str_cat(where(e.value, "set." + key), "expected one value"));
        }
        try {
          config_detail::apply_override(base_tree, key + "=" + yaml_scalar(e.value));
        } catch (const Error& err) {
          throw Error(str_cat(path, ": set.", key, ": ", err.what()));
        }
      }
    };
    apply(*sv, "");
  }

  const auto models = read_axis(find(*g, "models"), "grid.models", false);
  const auto datasets = read_axis(find(*g, "datasets"), "grid.datasets", true);
  const auto explainers = read_axis(find(*g, "explainers"), "grid.explainers", false);

  std::vector<ParamAxis> params;
  if (const Value* pv = find(*g, "params")) {
    if (pv->kind != Value::Kind::kMapping) {
      throw Error(str_cat(where(*pv, "grid.params"),
                          "expected a mapping of override path -> list "
                          "of values, e.g. {explainers[0].factor: [0.1, 0.2]}"));
    }
    std::map<std::string, int> short_count;
    for (const Entry& e : pv->entries) {
      ParamAxis a;
      a.path = e.key;
      const std::string p = "grid.params." + e.key;
      const Value& v = e.value;
      if (v.kind == Value::Kind::kScalar) {
        a.values.push_back(v);
      } else if (v.kind == Value::Kind::kSequence && !v.items.empty()) {
        std::set<std::string> seen;
        for (const Value& i : v.items) {
          if (i.kind != Value::Kind::kScalar) {
            throw Error(
                str_cat(where(i, p), "expected a scalar value, got ", config_detail::describe(i)));
          }
          if (!seen.insert(i.text).second) {
            throw Error(str_cat(where(i, p), "duplicate point: value '", i.text, "' given twice"));
          }
          a.values.push_back(i);
        }
      } else {
        throw Error(str_cat(where(v, p), v.kind == Value::Kind::kSequence
                                             ? "empty list: the grid has no points"
                                             : "expected a list of values"));
      }
      std::string sn = e.key.substr(
          e.key.find_last_of('.') == std::string::npos ? 0 : e.key.find_last_of('.') + 1);
      sn = sn.substr(0, sn.find('['));
      a.short_name = sn.empty() ? e.key : sn;
      ++short_count[a.short_name];
      params.push_back(std::move(a));
    }
    for (auto& a : params)
      if (short_count[a.short_name] > 1) a.short_name = a.path;
  }
  XAI_CHECK(!models.empty() || !datasets.empty() || !explainers.empty() || !params.empty(), path,
            ": grid: no axes, so no points. HINT: give grid.models, grid.datasets, "
            "grid.explainers or grid.params");

  struct Choice {
    int m = -1, d = -1, e = -1;
    std::vector<Value> values;  // one per param axis
    std::string origin;         // for duplicate messages
  };
  std::vector<Choice> choices;
  {
    const size_t nm = std::max<size_t>(1, models.size()), nd = std::max<size_t>(1, datasets.size()),
                 ne = std::max<size_t>(1, explainers.size());
    for (size_t m = 0; m < nm; ++m)
      for (size_t d = 0; d < nd; ++d)
        for (size_t e = 0; e < ne; ++e) {
          std::vector<size_t> idx(params.size(), 0);
          while (true) {
            Choice c;
            c.m = models.empty() ? -1 : int(m);
            c.d = datasets.empty() ? -1 : int(d);
            c.e = explainers.empty() ? -1 : int(e);
            for (size_t k = 0; k < params.size(); ++k) c.values.push_back(params[k].values[idx[k]]);
            c.origin = "grid";
            choices.push_back(std::move(c));
            size_t k = params.size();
            while (k > 0) {
              --k;
              if (++idx[k] < params[k].values.size()) break;
              idx[k] = 0;
              if (k == 0) k = size_t(-1);
              if (k == size_t(-1)) break;
            }
            if (k == size_t(-1) || params.empty()) break;
          }
        }
  }

  // Rules name axes by "model", "dataset", "explainer" or a parameter's override path.
  std::vector<std::string> rule_keys;
  if (!models.empty()) rule_keys.push_back("model");
  if (!datasets.empty()) rule_keys.push_back("dataset");
  if (!explainers.empty()) rule_keys.push_back("explainer");
  for (const auto& a : params) rule_keys.push_back(a.path);
  auto check_rule = [&](const Value& rule, const std::string& rp) {
    if (rule.kind != Value::Kind::kMapping || rule.entries.empty()) {
      throw Error(str_cat(where(rule, rp),
                          "expected a mapping of axis -> value, e.g. {model: "
                          "toy_gpt2, explainer: chefer}"));
    }
    for (const Entry& en : rule.entries) {
      if (std::find(rule_keys.begin(), rule_keys.end(), en.key) == rule_keys.end()) {
        const std::string near = cli::nearest(en.key, rule_keys);
        throw Error(str_cat(config_detail::where(en.origin, en.line, rp + "." + en.key),
                            "unknown axis", near.empty() ? "" : " (did you mean '" + near + "'?)"));
      }
    }
  };
  auto axis_value = [&](const Choice& c, const std::string& key) -> std::string {
    if (key == "model") return c.m < 0 ? "" : models[c.m].name;
    if (key == "dataset") return c.d < 0 ? "" : datasets[c.d].name;
    if (key == "explainer") return c.e < 0 ? "" : explainers[c.e].name;
    for (size_t k = 0; k < params.size(); ++k)
      if (params[k].path == key) return c.values[k].text;
    return "";
  };

  if (const Value* ex = find(*g, "exclude")) {
    XAI_CHECK(ex->kind == Value::Kind::kSequence, where(*ex, "grid.exclude"),
              "expected a list of rules");
    for (size_t r = 0; r < ex->items.size(); ++r) {
      const Value& rule = ex->items[r];
      check_rule(rule, str_cat("grid.exclude[", r, "]"));
      choices.erase(std::remove_if(choices.begin(), choices.end(),
                                   [&](const Choice& c) {
                                     for (const Entry& en : rule.entries)
                                       if (!rule_matches(en.value, axis_value(c, en.key)))
                                         return false;
                                     return true;
                                   }),
                    choices.end());
    }
  }
  if (const Value* inc = find(*g, "include")) {
    XAI_CHECK(inc->kind == Value::Kind::kSequence, where(*inc, "grid.include"),
              "expected a list of points");
    for (size_t r = 0; r < inc->items.size(); ++r) {
      const Value& rule = inc->items[r];
      const std::string rp = str_cat("grid.include[", r, "]");
      check_rule(rule, rp);
      Choice c;
      c.origin = rp;
      auto pick = [&](const std::vector<AxisItem>& axis, const std::string& key) {
        if (axis.empty()) return -1;
        const Value* v = find(rule, key);
        if (!v) {
          if (axis.size() == 1) return 0;
          throw Error(str_cat(where(rule, rp + "." + key), "missing: the grid has several"));
        }
        for (size_t i = 0; i < axis.size(); ++i)
          if (axis[i].name == v->text) return int(i);
        std::vector<std::string> names;
        for (const auto& a : axis) names.push_back(a.name);
        const std::string near = cli::nearest(v->text, names);
        throw Error(str_cat(where(*v, rp + "." + key), "no grid item named '", v->text, "'",
                            near.empty() ? "" : " (did you mean '" + near + "'?)"));
      };
      c.m = pick(models, "model");
      c.d = pick(datasets, "dataset");
      c.e = pick(explainers, "explainer");
      for (const auto& a : params) {
        const Value* v = find(rule, a.path);
        if (v && v->kind != Value::Kind::kScalar) {
          throw Error(str_cat(where(*v, rp + "." + a.path), "expected one value"));
        }
        c.values.push_back(v ? *v : a.values.front());
      }
      choices.push_back(std::move(c));
    }
  }
  XAI_CHECK(!choices.empty(), path, ": grid: no points left after grid.exclude");

  std::map<std::string, std::string> seen_canon, seen_id;
  for (const Choice& c : choices) {
    SweepPoint p;
    std::vector<std::string> parts;
    std::string canon;
    bool changed = false;
    if (c.m >= 0) p.model = models[c.m].name, parts.push_back(sanitize(p.model, &changed));
    if (c.d >= 0) p.dataset = datasets[c.d].name, parts.push_back(sanitize(p.dataset, &changed));
    if (c.e >= 0)
      p.explainer = explainers[c.e].name, parts.push_back(sanitize(p.explainer, &changed));
    canon = p.model + '\x1f' + p.dataset + '\x1f' + p.explainer;
    for (size_t k = 0; k < params.size(); ++k) {
      p.params.emplace_back(params[k].path, yaml_scalar(c.values[k]));
      parts.push_back(sanitize(params[k].short_name + "=" + c.values[k].text, &changed));
      canon += '\x1f' + params[k].path + '=' + c.values[k].text;
    }
    std::string id;
    for (const auto& part : parts) id += (id.empty() ? "" : "-") + part;
    if (changed || id.size() > 100) id = id.substr(0, 100) + "-" + fnv_hex(canon);
    if (seen_canon.count(canon)) {
      throw Error(str_cat(path, ": ", c.origin, ": duplicate point '", id, "' (also from ",
                          seen_canon[canon], ")"));
    }
    if (seen_id.count(id)) {
      throw Error(str_cat(path, ": ", c.origin, ": two points have the id '", id,
                          "'. HINT: give grid items distinct names"));
    }
    seen_canon[canon] = c.origin;
    seen_id[id] = c.origin;
    p.id = id;

    Value exp = base_tree;
    set_entry(exp, "name", scalar(s.name + "-" + id, true));
    set_entry(exp, "output", scalar((fs::path(s.output) / "points" / id).string(), true));
    if (c.m >= 0) set_entry(exp, "models", list_of(models[c.m].value));
    if (c.d >= 0) set_entry(exp, "dataset", datasets[c.d].value);
    if (c.e >= 0) set_entry(exp, "explainers", list_of(explainers[c.e].value));
    for (const auto& [k, v] : p.params) {
      try {
        config_detail::apply_override(exp, k + "=" + v);
      } catch (const Error& e) {
        throw Error(str_cat(path, ": grid.params.", k, ": ", e.what()));
      }
    }
    YAML::Emitter em;
    emit(em, exp);
    p.experiment_yaml = str_cat("# xai sweep ", s.name, ", point ", id,
                                " (written by xai sweep from ", path, ")\n", em.c_str(), "\n");
    s.points.push_back(std::move(p));
  }
  return s;
}

void write_sweep_points(const Sweep& s) {
  nlohmann::json manifest;
  manifest["sweep"] = s.name;
  manifest["sweep_file"] = s.path;
  nlohmann::json points = nlohmann::json::array();
  for (size_t i = 0; i < s.points.size(); ++i) {
    const SweepPoint& p = s.points[i];
    const std::string dir = point_dir(s, p);
    write_text_file((fs::path(dir) / "experiment.yaml").string(), p.experiment_yaml);
    nlohmann::json j;
    j["index"] = i;
    j["id"] = p.id;
    j["dir"] = dir;
    j["model"] = p.model;
    j["dataset"] = p.dataset;
    j["explainer"] = p.explainer;
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : p.params) params[k] = v;
    j["params"] = params;
    points.push_back(j);
  }
  manifest["points"] = points;
  write_text_file((fs::path(s.output) / "points.json").string(), manifest.dump(2) + "\n");
}

}  // namespace xai
