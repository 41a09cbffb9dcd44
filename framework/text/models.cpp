// Models of tokenizer.json ("model" section): BPE, WordPiece, WordLevel.
#include <algorithm>
#include <climits>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "framework/common/error.h"
#include "framework/text/components.h"

namespace xai::text {

namespace {

constexpr const char* kSupportedModels = "BPE, WordPiece, WordLevel";

// id <-> token tables shared by the models.
struct Vocab {
  std::unordered_map<std::string, int32_t> to_id;
  std::vector<std::string> to_token;  // indexed by id; ids may have gaps
  std::vector<uint8_t> present;

  void load(const JsonNode& node) {
    node.expect_object();
    const size_t n = node.json().size();
    to_id.reserve(n);
    for (auto it = node.json().begin(); it != node.json().end(); ++it) {
      const JsonNode v(it.value(), node.child_path(it.key().c_str()), node.source());
      const int64_t id = v.as_int();
      if (id < 0 || id > INT32_MAX) v.fail(str_cat("token id ", id, " is out of range"));
      // Ids may have gaps, but the table is indexed by id: an id far beyond the entries (a
      // damaged file) would allocate gigabytes for nothing.
      if (static_cast<uint64_t>(id) >= 16 * static_cast<uint64_t>(n) + 65536) {
        v.fail(str_cat("token id ", id, " is far beyond the vocabulary's ", n,
                       " entries (ids must be nearly dense)"));
      }
      to_id[it.key()] = static_cast<int32_t>(id);
      if (static_cast<size_t>(id) >= to_token.size()) {
        to_token.resize(static_cast<size_t>(id) + 1);
        present.resize(static_cast<size_t>(id) + 1, 0);
      }
      to_token[static_cast<size_t>(id)] = it.key();
      present[static_cast<size_t>(id)] = 1;
    }
  }
  std::optional<int32_t> find(const std::string& token) const {
    auto it = to_id.find(token);
    if (it == to_id.end()) return std::nullopt;
    return it->second;
  }
  const std::string* token(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= to_token.size() || !present[id]) return nullptr;
    return &to_token[static_cast<size_t>(id)];
  }
};

// ---- BPE
// -------------------------------------------------------------------------------------------
class BpeModel : public Model {
 public:
  explicit BpeModel(const JsonNode& node) {
    if (node.has("dropout")) {
      const double dropout = node.at("dropout").as_double();
      if (dropout != 0.0) {
        node.at("dropout").fail(
            "BPE dropout is not supported (it makes encoding random). HINT: set it to null");
      }
    }
    vocab_.load(node.at("vocab"));
    unk_token_ = node.get_string_or("unk_token", "");
    prefix_ = node.get_string_or("continuing_subword_prefix", "");
    suffix_ = node.get_string_or("end_of_word_suffix", "");
    fuse_unk_ = node.get_bool_or("fuse_unk", false);
    byte_fallback_ = node.get_bool_or("byte_fallback", false);
    ignore_merges_ = node.get_bool_or("ignore_merges", false);
    if (byte_fallback_) {
      char name[8];
      for (int b = 0; b < 256; ++b) {
        std::snprintf(name, sizeof(name), "<0x%02X>", b);
        auto id = vocab_.find(name);
        byte_ids_[b] = id ? *id : -1;
      }
    }
    load_merges(node.at("merges"));
  }

  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    if (word.empty()) return;
    if (ignore_merges_) {
      if (auto id = vocab_.find(std::string(word))) {
        out.push_back({*id, 0, static_cast<uint32_t>(word.size())});
        return;
      }
    }
    const bool cacheable = word.size() < kMaxCachedWordBytes;
    std::string key;
    if (cacheable) {
      key.assign(word);
      std::shared_lock<std::shared_mutex> lock(cache_mutex_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        emit(it->second, out);
        return;
      }
    }
    std::vector<Symbol> symbols;
    initial_symbols(word, symbols);
    merge_all(symbols);
    std::vector<std::pair<int32_t, uint32_t>> merged;  // (id, byte length)
    merged.reserve(symbols.size());
    for (const Symbol& s : symbols)
      if (s.len > 0) merged.emplace_back(s.id, s.len);
    emit(merged, out);
    if (cacheable) {
      std::unique_lock<std::shared_mutex> lock(cache_mutex_);
      if (cache_.size() < kCacheCapacity) cache_.emplace(std::move(key), std::move(merged));
    }
  }

  std::optional<int32_t> token_to_id(const std::string& token) const override {
    return vocab_.find(token);
  }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.to_token.size()); }

 private:
  static constexpr size_t kMaxCachedWordBytes = 256;
  static constexpr size_t kCacheCapacity = 100000;

  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    uint32_t len;  // bytes of the word it covers; 0 once merged into its left neighbour
  };
  struct MergeInfo {
    uint32_t rank;
    int32_t new_id;
  };
  struct Candidate {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
    // std::push_heap builds a max-heap: the "largest" candidate is the lowest rank, then the
    // leftmost position.
    bool operator<(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };

  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  void load_merges(const JsonNode& merges) {
    merges.expect_array();
    merges_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const JsonNode m = merges.at(i);
      std::string a, b;
      if (m.is_string()) {
        const std::string line = m.as_string();
        const size_t space = line.find(' ');
        if (space == std::string::npos)
          m.fail(str_cat("merge '", line, "' is not two tokens separated by a space"));
        a = line.substr(0, space);
        b = line.substr(space + 1);
      } else if (m.is_array()) {
        if (m.size() != 2) m.fail(str_cat("expected a pair of tokens, got ", m.size(), " items"));
        a = m.at(size_t{0}).as_string();
        b = m.at(size_t{1}).as_string();
      } else {
        m.fail("expected a merge as \"a b\" or [\"a\", \"b\"]");
      }
      auto need = [&](const std::string& t) {
        auto id = vocab_.find(t);
        if (!id) m.fail(str_cat("token '", t, "' is not in model.vocab"));
        return *id;
      };
      const int32_t a_id = need(a);
      const int32_t b_id = need(b);
      std::string merged = a;
      if (!prefix_.empty() && b.compare(0, prefix_.size(), prefix_) == 0) {
        merged.append(b, prefix_.size(), std::string::npos);
      } else {
        merged += b;
      }
      const int32_t new_id = need(merged);
      merges_[pair_key(a_id, b_id)] = {static_cast<uint32_t>(i), new_id};
    }
  }

  // One symbol per character (HF merge_word): prefix/suffix added, byte fallback or unk when the
  // character is not in the vocabulary.
  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
    symbols.reserve(word.size());
    int32_t unk_id = -1;
    uint32_t unk_len = 0;
    auto add = [&](int32_t id, uint32_t len) {
      const auto index = static_cast<int32_t>(symbols.size());
      symbols.push_back({id, index - 1, index + 1, len});
    };
    auto flush_unk = [&] {
      if (unk_id >= 0) add(unk_id, unk_len);
      unk_id = -1;
    };
    std::string s;
    size_t i = 0;
    while (i < word.size()) {
      const size_t start = i;
      i += utf8_length(static_cast<unsigned char>(word[i]));
      const auto byte_len = static_cast<uint32_t>(i - start);
      s.clear();
      if (start > 0) s += prefix_;
      s.append(word.data() + start, byte_len);
      if (i >= word.size()) s += suffix_;
      if (auto id = vocab_.find(s)) {
        flush_unk();
        add(*id, byte_len);
        continue;
      }
      if (byte_fallback_) {
        bool all = true;
        for (char ch : s) all = all && byte_ids_[static_cast<unsigned char>(ch)] >= 0;
        if (all) {
          // Byte tokens cover one byte each (of s, which includes any prefix/suffix, as HF does).
          for (char ch : s) add(byte_ids_[static_cast<unsigned char>(ch)], 1);
          continue;
        }
      }
      if (unk_token_.empty()) continue;  // no unk token: the character is dropped, as in HF
      auto unk = vocab_.find(unk_token_);
      if (!unk) {
        throw Error(str_cat("BPE: unk_token '", unk_token_,
                            "' is not in the vocabulary; cannot encode an unknown character"));
      }
      if (unk_id >= 0 && fuse_unk_) {
        unk_len += byte_len;
      } else {
        flush_unk();
        unk_id = *unk;
        unk_len = byte_len;
      }
    }
    flush_unk();
    if (!symbols.empty()) symbols.back().next = -1;
  }

  // Repeatedly merges the lowest-rank adjacent pair, leftmost first (HF Word::merge_all).
  void merge_all(std::vector<Symbol>& symbols) const {
    std::vector<Candidate> heap;
    heap.reserve(symbols.size());
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merges_.find(pair_key(symbols[i].id, symbols[i + 1].id));
      if (it != merges_.end())
        heap.push_back({it->second.rank, static_cast<uint32_t>(i), it->second.new_id});
    }
    std::make_heap(heap.begin(), heap.end());
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& left = symbols[top.pos];
      if (left.len == 0 || left.next < 0) continue;
      const Symbol right = symbols[static_cast<size_t>(left.next)];
      auto it = merges_.find(pair_key(left.id, right.id));
      if (it == merges_.end() || it->second.new_id != top.new_id) continue;  // stale entry
      const int32_t right_pos = left.next;
      left.id = top.new_id;
      left.len += right.len;
      left.next = right.next;
      symbols[static_cast<size_t>(right_pos)].len = 0;
      if (right.next >= 0)
        symbols[static_cast<size_t>(right.next)].prev = static_cast<int32_t>(top.pos);
      if (left.prev >= 0) {
        auto p = merges_.find(pair_key(symbols[static_cast<size_t>(left.prev)].id, left.id));
        if (p != merges_.end()) {
          heap.push_back({p->second.rank, static_cast<uint32_t>(left.prev), p->second.new_id});
          std::push_heap(heap.begin(), heap.end());
        }
      }
      if (left.next >= 0) {
        auto n = merges_.find(pair_key(left.id, symbols[static_cast<size_t>(left.next)].id));
        if (n != merges_.end()) {
          heap.push_back({n->second.rank, top.pos, n->second.new_id});
          std::push_heap(heap.begin(), heap.end());
        }
      }
    }
  }

  static void emit(const std::vector<std::pair<int32_t, uint32_t>>& merged,
                   std::vector<ModelToken>& out) {
    uint32_t offset = 0;
    for (const auto& [id, len] : merged) {
      out.push_back({id, offset, offset + len});
      offset += len;
    }
  }

  Vocab vocab_;
  std::unordered_map<uint64_t, MergeInfo> merges_;
  std::string unk_token_;
  std::string prefix_;
  std::string suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  int32_t byte_ids_[256] = {};

  // Merged words, so that frequent words are merged once. Bounded; never evicts.
  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::pair<int32_t, uint32_t>>> cache_;
};

// ---- WordPiece
// ---------------------------------------------------------------------------------------
class WordPieceModel : public Model {
 public:
  explicit WordPieceModel(const JsonNode& node) {
    vocab_.load(node.at("vocab"));
    unk_token_ = node.get_string_or("unk_token", "[UNK]");
    prefix_ = node.get_string_or("continuing_subword_prefix", "##");
    max_chars_ = static_cast<size_t>(node.get_int_or("max_input_chars_per_word", 100));
  }

  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    size_t chars = 0;
    for (char ch : word) chars += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
    const size_t first = out.size();
    if (chars <= max_chars_) {
      std::string candidate;
      size_t start = 0;
      while (start < word.size()) {
        size_t end = word.size();
        bool found = false;
        while (start < end) {
          candidate.clear();
          if (start > 0) candidate += prefix_;
          candidate.append(word.data() + start, end - start);
          if (auto id = vocab_.find(candidate)) {
            out.push_back({*id, static_cast<uint32_t>(start), static_cast<uint32_t>(end)});
            found = true;
            break;
          }
          do {  // drop the last character
            --end;
          } while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
        }
        if (!found) break;
        start = end;
      }
      if (start >= word.size()) return;
    }
    out.resize(first);  // too long, or a piece is missing: the whole word is unknown
    out.push_back({unk_id(), 0, static_cast<uint32_t>(word.size())});
  }

  std::optional<int32_t> token_to_id(const std::string& token) const override {
    return vocab_.find(token);
  }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.to_token.size()); }

 private:
  int32_t unk_id() const {
    auto id = vocab_.find(unk_token_);
    if (!id) {
      throw Error(str_cat("WordPiece: unk_token '", unk_token_,
                          "' is not in the vocabulary; cannot encode an unknown word"));
    }
    return *id;
  }

  Vocab vocab_;
  std::string unk_token_;
  std::string prefix_;
  size_t max_chars_ = 100;
};

// ---- WordLevel
// ---------------------------------------------------------------------------------------
class WordLevelModel : public Model {
 public:
  explicit WordLevelModel(const JsonNode& node) {
    vocab_.load(node.at("vocab"));
    unk_token_ = node.get_string_or("unk_token", "<unk>");
  }

  void tokenize(std::string_view word, std::vector<ModelToken>& out) const override {
    auto id = vocab_.find(std::string(word));
    if (!id) id = vocab_.find(unk_token_);
    if (!id) {
      throw Error(str_cat("WordLevel: unk_token '", unk_token_,
                          "' is not in the vocabulary; cannot encode an unknown word"));
    }
    out.push_back({*id, 0, static_cast<uint32_t>(word.size())});
  }

  std::optional<int32_t> token_to_id(const std::string& token) const override {
    return vocab_.find(token);
  }
  const std::string* id_to_token(int32_t id) const override { return vocab_.token(id); }
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.to_token.size()); }

 private:
  Vocab vocab_;
  std::string unk_token_;
};

}  // namespace

std::unique_ptr<Model> make_model(const JsonNode& node) {
  node.expect_object();
  std::string type;
  if (node.has("type")) {
    type = node.type();
  } else if (node.has("merges")) {  // older files leave the type out
    type = "BPE";
  } else if (node.has("vocab") && node.at("vocab").is_array()) {
    type = "Unigram";
  } else if (node.has("max_input_chars_per_word")) {
    type = "WordPiece";
  } else {
    type = "WordLevel";
  }
  if (type == "BPE") return std::make_unique<BpeModel>(node);
  if (type == "WordPiece") return std::make_unique<WordPieceModel>(node);
  if (type == "WordLevel") return std::make_unique<WordLevelModel>(node);
  node.unsupported("model", type, kSupportedModels);
}

}  // namespace xai::text
