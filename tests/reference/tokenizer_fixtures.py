#!/usr/bin/env python3
"""Writes the tokenizer fixtures under tests/fixtures/tokenizers/ (run once, from the repo root).

Every tokenizer is trained here with the Hugging Face `tokenizers` library on the small corpus
below (nothing is downloaded), saved as tokenizer.json, and encoded on a list of test strings.
The outputs (ids, tokens, byte offsets, decoded text) go to golden.json beside it; the C++ tests
in tests/unit/text/ compare against them exactly.

    /opt/fixenv/bin/python tests/reference/tokenizer_fixtures.py

Re-running reproduces the same files byte for byte (training is deterministic; no randomness).
The library reports character offsets; they are converted to byte offsets of the UTF-8 text.
"""

import json
import os
import sys
from collections import Counter

import tokenizers
from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models, normalizers,
                        pre_tokenizers, processors, trainers)

ROOT = os.path.join("tests", "fixtures", "tokenizers")

# ---- training corpus ------------------------------------------------------------------------------
# General English prose (written for this file), then the facts the demo asks about, then a little
# non-ASCII text. CJK and emoji are left out on purpose so that Llama-2 style byte fallback is hit.
PROSE = """\
The quick brown fox jumps over the lazy dog. A small town sits at the edge of the river, and every
morning the people of the town walk to the market to buy bread, milk and fresh fruit. The market
opens at seven and closes at noon. Children play in the square while their parents talk about the
weather, the harvest and the news from the city.
In the evening the sun sets behind the hills and the sky turns red, then purple, then dark blue.
People say that the river was much wider a hundred years ago. Nobody knows whether that is true,
but the old stories are told again and again, because stories are how a town remembers itself.
Science is the careful study of the world. We observe, we measure, we make a guess, and then we
test the guess against new observations. If the guess fails, we change it. If it holds, we keep
testing it. A model is useful when it predicts what we have not yet seen.
Language models read text as a sequence of tokens. A tokenizer splits the text into pieces that
are common enough to have their own entry in the vocabulary. Rare words are broken into smaller
pieces, and in the worst case into single bytes, so that any input can be represented.
It's a simple idea, but it's not always obvious: they're counting pairs, we'll merge the most
frequent pair, and you've seen the result when the word doesn't split. I'm sure I'd do it again.
Numbers such as 2024, 3.14, 1,000 and 42 appear in reports; dates like 12/05/1999 too.
Questions? Answers! Lists: apples, pears, plums; and (sometimes) quotes "like this".
Where is the station? The station is near the bridge, about ten minutes from the hotel.
"""

NAMES = ["Mara", "Ben", "Ada", "Omar", "Lena", "Ivan", "Yuki", "Sara", "Tom", "Nina"]
CITIES = ["Oslo", "Lima", "Paris", "Rome", "Cairo", "Tokyo", "Berlin", "Madrid", "Delhi", "Quito"]
VERBS = [("lives", "live"), ("works", "work"), ("studies", "study")]


def demo_facts():
    """Sentences like "Mara lives in Oslo. Where does Mara live?" for every name/verb/city."""
    lines = []
    for i, name in enumerate(NAMES):
        for j, (verb, base) in enumerate(VERBS):
            city = CITIES[(i + 3 * j) % len(CITIES)]
            lines.append(f"{name} {verb} in {city}. Where does {name} {base}? {name} {verb} in {city}.")
            lines.append(f"In {city}, {name} {verb} with a friend. Does {name} {base} in {city}? Yes.")
    return "\n".join(lines) + "\n"


NON_ASCII = """\
Café au lait, crème brûlée, naïve résumé, façade, déjà vu. Über die Brücke nach Zürich, schön.
El niño comió piñata en España. São Paulo é grande. Ελληνικά γράμματα. Русский язык и текст.
"""

CORPUS = PROSE + demo_facts() * 3 + NON_ASCII


def corpus_lines():
    return [line for line in CORPUS.split("\n") if line]


# ---- test strings -----------------------------------------------------------------------------------
LONG_PARAGRAPH = (
    "Mara lives in Oslo. Ben works in Lima. Where does Mara live? "
    "The history of the river town is long: in 1887 the first bridge was built, and by 1923 a "
    "second one, 340 metres long, connected the market to the station. Today about 12,500 people "
    "live there; many of them work in the city, others study at the college. "
    "It's quiet, they're friendly, and you'll find that the bakery (open 07:00-12:00!) sells the "
    "best bread in the region... Visitors from Zürich, São Paulo and 東京 often say: \"We'll be "
    "back!\" \U0001F600  Prices: $3.50, €4,20 — not bad.\n\nThe end.\n"
)

COMMON_STRINGS = [
    "",
    "Hello world",
    "Mara lives in Oslo. Ben works in Lima. Where does Mara live?",
    "Ada studies in Paris. Where does Ada study?",
    " ",
    "   leading spaces",
    "trailing spaces   ",
    "  both sides  ",
    "multiple    spaces   between words",
    "tab\tseparated\tvalues",
    "\t\tleading tabs and a trailing tab\t",
    "line one\r\nline two\n\nline four\r\n",
    "\n",
    "\r\n\r\n",
    "    ",
    "digits 0123456789 and 3.14159 and 1,000,000",
    "long number 12345678901234567890 and 007",
    "CJK: 你好世界，東京は日本の首都です。",
    "한국어 텍스트",
    "emoji \U0001F600 \U0001F44D\U0001F3FD family \U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 flag \U0001F3F3\uFE0F\u200D\U0001F308",
    "new emoji \U0001F970 and \U0001FAE0",
    "café naïve résumé Zürich",
    "cafe\u0301 nai\u0308ve",
    "a\u0301\u0323 q\u0307\u0323",
    "I'm sure it's what they're saying, we'll see, don't you think? I've, I'd",
    "IT'S SHOUTING, THEY'RE LOUD, WE'LL SEE",
    "'s at start and a lone ' quote",
    "!!! ??? ... --- ((())) [[]] {{}} @#$%^&*",
    "ﬁ ligature ① ＡＢＣ ｶﾀｶﾅ Ⅻ ℃ ½",
    "İstanbul ΣΊΣΥΦΟΣ ǅ",
    "nbsp\u00a0here ideographic\u3000space nel\u0085char",
    "zero\u200bwidth and control\u0007char and null\u0000byte",
    "हिन्दी पाठ",
    "مرحبا بالعالم",
    "supercalifragilisticexpialidocious" * 4,
    "a",
    "x" * 40,
    LONG_PARAGRAPH,
]


def byte_offsets(text, char_offsets):
    """Character offsets (what the Python library reports) -> UTF-8 byte offsets."""
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + len(ch.encode("utf-8")))
    return [[prefix[b], prefix[e]] for b, e in char_offsets]


def flat(pairs):
    return [x for pair in pairs for x in pair]


def golden_cases(tok, strings):
    """One case per string: ids/tokens/offsets with add_special_tokens=True, and ids/offsets
    ("plain_*") with False. Offsets are flat [begin0, end0, begin1, end1, ...] byte offsets.
    decode() results are stored when they differ from the text (skip_special_tokens=True), and
    the skip_special_tokens=False variant when it differs from that."""
    cases = []
    for text in strings:
        enc = tok.encode(text, add_special_tokens=True)
        plain = tok.encode(text, add_special_tokens=False)
        case = {"text": text, "ids": enc.ids, "tokens": enc.tokens,
                "offsets": flat(byte_offsets(text, enc.offsets)),
                "plain_ids": plain.ids, "plain_offsets": flat(byte_offsets(text, plain.offsets))}
        for key, ids in (("", enc.ids), ("plain_", plain.ids)):
            decoded = tok.decode(ids, skip_special_tokens=True)
            with_special = tok.decode(ids, skip_special_tokens=False)
            if decoded != text:
                case[key + "decoded"] = decoded
            if with_special != decoded:
                case[key + "decoded_with_special"] = with_special
        cases.append(case)
    return cases


def write_json(path, obj, indent=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent, sort_keys=False)
        f.write("\n")


def save(name, tok, extra_strings=(), base_strings=None):
    """tokenizer.json (compact, to keep the fixtures small) + golden.json for one tokenizer."""
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"), pretty=False)
    # Golden outputs come from the saved file, so the C++ reads exactly what was checked here.
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    strings = list(COMMON_STRINGS if base_strings is None else base_strings) + list(extra_strings)
    golden = {
        "generated_by": "tests/reference/tokenizer_fixtures.py",
        "tokenizers_version": tokenizers.__version__,
        "format": golden_cases.__doc__.replace("\n   ", "").replace("  ", " "),
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "cases": golden_cases(tok, strings),
    }
    write_json(os.path.join(d, "golden.json"), golden, indent=None)
    return tok


# ---- tokenizers ------------------------------------------------------------------------------------
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def bpe_trainer(vocab_size, special_tokens=(), byte_level=False):
    return trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special_tokens), show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if byte_level else [])


def byte_level_bpe():
    """GPT-2 style: ByteLevel pre-tokenizer/decoder/post-processor, <|endoftext|>."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(corpus_lines(),
                            trainer=bpe_trainer(560, ["<|endoftext|>"], byte_level=True))
    return tok


def check_demo_words(tok):
    """The demo's names, verbs and cities must be whole tokens (after a space)."""
    words = NAMES + CITIES + [v for v, _ in VERBS] + [b for _, b in VERBS] + ["Where", "does", "in"]
    for w in words:
        enc = tok.encode(" " + w, add_special_tokens=False)
        if len(enc.ids) != 1:
            sys.exit(f"byte_level_bpe: ' {w}' is not a single token: {enc.tokens}")


def llama3_style():
    """Llama-3 style: Split(regex) + ByteLevel(no regex), ignore_merges, BOS template."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus_lines(), trainer=bpe_trainer(600, byte_level=True))
    # A vocabulary entry no merge sequence reaches: only ignore_merges finds it whole.
    j = json.loads(tok.to_str())
    j["model"]["vocab"]["Ġxyzzy"] = len(j["model"]["vocab"])
    tok = Tokenizer.from_str(json.dumps(j))
    tok.add_special_tokens(["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return tok


def llama2_metaspace():
    """Llama-2 style: Prepend/Replace normalizer, no pre-tokenizer, BPE with byte fallback.

    ids 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then pieces trained here.
    """
    trained = Tokenizer(models.BPE())
    trained.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                               normalizers.Replace(" ", "▁")])
    trained.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never", split=True)
    trained.train_from_iterator(corpus_lines(), trainer=bpe_trainer(700))
    j = json.loads(trained.to_str())
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = 3 + b
    for piece, _ in sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1]):
        if piece not in vocab:
            vocab[piece] = len(vocab)
    merges = [tuple(m) for m in j["model"]["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True,
                               fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"),
                                           normalizers.Replace(" ", "▁")])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                            for t in ("<unk>", "<s>", "</s>")])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    return tok


def metaspace_pretok():
    """Metaspace pre-tokenizer (prepend_scheme first), NFKC, BPE with a fused unk token."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first",
                                                 split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    tok.train_from_iterator(corpus_lines(), trainer=bpe_trainer(500, ["<unk>", "<s>", "</s>"]))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
        special_tokens=[("<s>", 1), ("</s>", 2)])
    tok.add_tokens([AddedToken("[MARK]", normalized=True)])
    return tok


def word_counts(normalizer, pre_tokenizer):
    """Pre-tokenized words of the corpus and their counts."""
    counts = Counter()
    for line in corpus_lines():
        text = normalizer.normalize_str(line) if normalizer else line
        counts.update(w for w, _ in pre_tokenizer.pre_tokenize_str(text))
    return counts


def learn_bpe(counts, num_merges, prefix="", suffix=""):
    """A small deterministic BPE learner: merges the most frequent pair, ties broken by the pair's
    strings. (The library's trainer assigns ids in hash-map order when a subword prefix or suffix
    is set, so its output changes from run to run.) Returns (tokens in id order, merges)."""
    splits = {}
    for word in counts:
        last = len(word) - 1
        splits[word] = [(prefix if i > 0 else "") + ch + (suffix if i == last else "")
                        for i, ch in enumerate(word)]
    tokens = sorted({sym for syms in splits.values() for sym in syms})
    known = set(tokens)
    merges = []
    for _ in range(num_merges):
        pairs = Counter()
        for word, syms in splits.items():
            for a, b in zip(syms, syms[1:]):
                pairs[(a, b)] += counts[word]
        if not pairs:
            break
        (a, b), n = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if n < 2:
            break
        new = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
        merges.append((a, b))
        if new not in known:
            known.add(new)
            tokens.append(new)
        for word, syms in splits.items():
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            splits[word] = out
    return tokens, merges


def wordpiece_bert():
    """BERT uncased style: BertNormalizer + BertPreTokenizer + WordPiece + [CLS] ... [SEP]."""
    norm = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    pieces, _ = learn_bpe(word_counts(norm, pre), 450, prefix="##")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials)}
    chars = sorted({p[-1] for p in pieces if len(p.replace("##", "")) == 1})
    for t in chars + ["##" + c for c in chars] + pieces:  # every character in both positions
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=30))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(specials)
    tok.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]),
                                                   ("[CLS]", vocab["[CLS]"]))
    tok.add_tokens([AddedToken("[NOTE]", single_word=True)])
    return tok


def roberta_style():
    """RoBERTa style: ByteLevel with a prefix space, RobertaProcessing trimming offsets, <mask>
    with lstrip."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    specials = ["<s>", "<pad>", "</s>", "<unk>", AddedToken("<mask>", lstrip=True)]
    tok.train_from_iterator(corpus_lines(), trainer=bpe_trainer(500, specials, byte_level=True))
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                      add_prefix_space=True)
    tok.add_tokens([AddedToken("[R]", rstrip=True, normalized=False)])  # a right-stripping token
    return tok


def bpe_suffix_prefix():
    """Other components: NFKD/StripAccents/Lowercase/Replace(regex)/Strip, WhitespaceSplit +
    Punctuation + Digits, BPE with "##" prefix and "</w>" suffix, BPEDecoder."""
    norm = normalizers.Sequence([
        normalizers.NFKD(), normalizers.StripAccents(), normalizers.Lowercase(),
        normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()])
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.Digits(individual_digits=True)])
    pieces, merges = learn_bpe(word_counts(norm, pre), 300, prefix="##", suffix="</w>")
    vocab = {"<unk>": 0}
    for t in pieces:
        vocab.setdefault(t, len(vocab))
    tok = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", continuing_subword_prefix="##",
                               end_of_word_suffix="</w>"))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    tok.add_special_tokens(["<unk>"])
    return tok


def word_level():
    """WordLevel with Lowercase + Whitespace pre-tokenizer and no decoder (tokens joined by ' ')."""
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus_lines(), trainer=trainers.WordLevelTrainer(
        vocab_size=300, special_tokens=["[UNK]"], show_progress=False))
    return tok


# ---- component goldens -------------------------------------------------------------------------------
# Short strings for the component tests: each feature once, to keep the files small.
COMPONENT_STRINGS = [
    "", " ", "Hello, World! 3.14 x2", "  leading and trailing  ", "a  b\t\tc\r\n\nd",
    "I'm they're 'S WE'LL", "café naïve", "cafe\u0301 e\u0301\u0301 \u1e69 q\u0307\u0323",
    "ﬁ ① Ａｂｃ１２３ ℃ ½", "İstanbul ΣΊΣ ǅungla", "CJK 你好，世界。 한국어",
    "emoji \U0001F600 \U0001F468\u200D\U0001F469\u200D\U0001F467 \U0001FAE0",
    "nbsp\u00a0x\u3000y nel\u0085z zw\u200bj ctl\u0007 nul\u0000", "हिन्दी", "12345678 007",
    "!!! ...--- (())", "▁already▁metaspace ▁", "Ġbyte",
]


def state(component):
    return json.loads(component.__getstate__())


def normalizer_golden():
    """For each normalizer: normalized text and the original byte span of each character."""
    configs = [
        normalizers.NFC(), normalizers.NFD(), normalizers.NFKC(), normalizers.NFKD(),
        normalizers.Lowercase(), normalizers.Strip(), normalizers.Strip(left=True, right=False),
        normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()]),
        normalizers.Replace(" ", "▁"), normalizers.Replace("ab", "X"),
        normalizers.Replace(Regex(r"\s+"), " "), normalizers.Replace(Regex(r"[aeiou]"), ""),
        normalizers.Prepend("▁"),
        normalizers.BertNormalizer(),
        normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False,
                                   strip_accents=True, lowercase=False),
        normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]),
        normalizers.ByteLevel(),
    ]
    out = []
    for norm in configs:
        probe = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
        probe.normalizer = norm
        probe.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
        cases = []
        for text in COMPONENT_STRINGS:
            normalized = norm.normalize_str(text)
            enc = probe.encode(text)
            assert len(enc.offsets) == len(normalized), (state(norm), text)
            cases.append({"text": text, "normalized": normalized,
                          "spans": flat(byte_offsets(text, enc.offsets))})
        out.append({"normalizer": state(norm), "cases": cases})
    return out


def pre_tokenizer_golden():
    """For each pre-tokenizer: the pieces and their original byte spans."""
    rx = Regex(r"\s+|[,.!?]")
    configs = [
        pre_tokenizers.ByteLevel(add_prefix_space=False),
        pre_tokenizers.ByteLevel(add_prefix_space=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated"),
        pre_tokenizers.Metaspace(prepend_scheme="always"),
        pre_tokenizers.Metaspace(prepend_scheme="first"),
        pre_tokenizers.Metaspace(prepend_scheme="never"),
        pre_tokenizers.Metaspace(prepend_scheme="always", split=False),
        pre_tokenizers.Whitespace(), pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.BertPreTokenizer(),
        pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.Digits(individual_digits=False),
        pre_tokenizers.Punctuation(), pre_tokenizers.Punctuation(behavior="contiguous"),
        pre_tokenizers.CharDelimiterSplit("a"),
        pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Digits()]),
    ]
    for behavior in ("removed", "isolated", "merged_with_previous", "merged_with_next",
                     "contiguous"):
        for invert in (False, True):
            configs.append(pre_tokenizers.Split(rx, behavior=behavior, invert=invert))
        configs.append(pre_tokenizers.Split(" ", behavior=behavior))
    out = []
    for pt in configs:
        cases = []
        for text in COMPONENT_STRINGS:
            pieces = pt.pre_tokenize_str(text)
            spans = byte_offsets(text, [o for _, o in pieces])
            cases.append({"text": text, "pieces": [p for p, _ in pieces], "spans": flat(spans)})
        out.append({"pre_tokenizer": state(pt), "cases": cases})
    return out


def decoder_golden():
    """For each decoder: token lists and the decoded text."""
    token_lists = [
        [], ["▁Hello", "▁world"], ["▁▁a", "b▁", "▁"], ["▁"], ["Hello", "▁", "▁there"],
        ["<0xE4>", "<0xBD>", "<0xA0>", "a"], ["<0xE4>", "b"], ["<0x41>", "<0xZZ>", "<0x4>", "<0x0a>"],
        ["<0xFF>"], ["hello", "##world", "!", "do", "not", "'", "s", "you", "'", "re", "n't"],
        ["hel", "lo</w>", "wor", "ld</w>"], ["  a  ", " b", "c "], ["ĠHello", "Ġw", "Ã"],
        ["Ã©", "ĠcafÃ©"], ["<|endoftext|>", "Ġx"], ["ä½", "ł", "å¥½"],
    ]
    configs = [
        decoders.ByteLevel(), decoders.Metaspace(), decoders.Metaspace(prepend_scheme="never"),
        decoders.Metaspace(prepend_scheme="first"), decoders.Replace("▁", " "),
        decoders.Replace(Regex(r"l+"), "L"), decoders.ByteFallback(), decoders.Fuse(),
        decoders.Strip(" ", 1, 0), decoders.Strip(" ", 2, 1), decoders.WordPiece(),
        decoders.WordPiece(cleanup=False), decoders.BPEDecoder(),
        decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                           decoders.Strip(" ", 1, 0)]),
    ]
    out = []
    for dec in configs:
        cases = []
        for tokens in token_lists:
            try:
                decoded = dec.decode(tokens)
            except BaseException:  # the library panics on some inputs (e.g. BPEDecoder on [])
                continue
            cases.append({"tokens": tokens, "decoded": decoded})
        out.append({"decoder": state(dec), "cases": cases})
    return out


# ---- malformed files for the error tests --------------------------------------------------------------
DELETE = object()  # marks a field that bad_files() removes


def bad_files():
    """Small broken tokenizer.json files; the C++ tests check that errors name file and field."""
    base = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
        "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]},
    }

    def variant(**changes):
        j = json.loads(json.dumps(base))
        for path, value in changes.items():
            node = j
            keys = path.split("__")
            for k in keys[:-1]:
                node = node[k]
            if value is DELETE:
                del node[keys[-1]]
            else:
                node[keys[-1]] = value
        return j

    d = os.path.join(ROOT, "bad")
    os.makedirs(d, exist_ok=True)
    files = {
        "valid_minimal.json": base,
        "missing_model.json": variant(model=DELETE),
        "unigram_model.json": variant(model={"type": "Unigram", "unk_id": 0,
                                             "vocab": [["a", -1.0]], "byte_fallback": False}),
        "precompiled_normalizer.json": variant(normalizer={
            "type": "Sequence", "normalizers": [{"type": "Precompiled",
                                                 "precompiled_charsmap": "AAAA"}]}),
        "unicode_scripts_pre_tokenizer.json": variant(pre_tokenizer={"type": "UnicodeScripts"}),
        "ctc_decoder.json": variant(decoder={"type": "CTC", "pad_token": "<pad>",
                                             "word_delimiter_token": "|", "cleanup": True}),
        "merge_wrong_type.json": variant(model__merges=[["a", "b"], 12]),
        "merge_unknown_token.json": variant(model__merges=[["a", "b"], ["a", "zz"]]),
        "vocab_wrong_type.json": variant(model__vocab=["a", "b"]),
        "byte_fallback_wrong_type.json": variant(model__byte_fallback="yes"),
        "missing_vocab.json": variant(model__vocab=DELETE),
        "added_token_missing_id.json": variant(added_tokens=[{"content": "<s>", "special": True}]),
        "bad_split_regex.json": variant(pre_tokenizer={
            "type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated",
            "invert": False}),
        "bad_split_behavior.json": variant(pre_tokenizer={
            "type": "Split", "pattern": {"String": " "}, "behavior": "Sideways", "invert": False}),
        "template_unknown_special.json": variant(post_processor={
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [], "special_tokens": {}}),
    }
    for name, j in files.items():
        write_json(os.path.join(d, name), j)
    with open(os.path.join(d, "syntax_error.json"), "w", encoding="utf-8") as f:
        f.write('{\n  "version": "1.0",\n  "model": {"type": "BPE", "vocab": {"a": 0,}\n}\n')
    # The library itself must reject what we reject, and accept the valid file.
    Tokenizer.from_file(os.path.join(d, "valid_minimal.json"))



def check_coverage():
    """The fixtures must exercise what they are meant to; fail loudly if training drifts."""
    def cases(name):
        with open(os.path.join(ROOT, name, "golden.json"), encoding="utf-8") as f:
            return json.load(f)["cases"]

    def tokens(name):
        return [t for c in cases(name) for t in c["tokens"]]

    assert any(t.startswith("<0x") for t in tokens("llama2_metaspace")), "no byte fallback"
    assert "<unk>" in tokens("metaspace_pretok"), "no unknown token"
    assert "[UNK]" in tokens("wordpiece_bert"), "no unknown word"
    assert " <mask>" in tokens("roberta_style"), "no lstrip on <mask>"
    assert "[R]  " in tokens("roberta_style"), "no rstrip on [R]"
    assert "[note]" in tokens("wordpiece_bert"), "no normalized added token"
    # ignore_merges must matter: the same file without it splits " xyzzy" differently.
    with open(os.path.join(ROOT, "llama3_style", "tokenizer.json"), encoding="utf-8") as f:
        j = json.load(f)
    j["model"]["ignore_merges"] = False
    plain = Tokenizer.from_str(json.dumps(j)).encode(" xyzzy", add_special_tokens=False).tokens
    assert plain != ["Ġxyzzy"] and "Ġxyzzy" in tokens("llama3_style"), "ignore_merges unused"




def main():
    if not os.path.isdir(os.path.join("tests", "fixtures")):
        sys.exit("run from the repository root")
    # First: the GPT-2 style tokenizer that the model fixtures size their vocabulary from.
    tok = byte_level_bpe()
    check_demo_words(tok)
    eot = ["<|endoftext|>", "Hello<|endoftext|>world", " <|endoftext|> spaced ",
           "<|endoftext|><|endoftext|>", "<|endoftext", "Mara lives in Oslo.<|endoftext|>Ben works"]
    tok = save("byte_level_bpe", tok, eot)
    vocab_size = tok.get_vocab_size(with_added_tokens=True)
    assert vocab_size == 1 + max(tok.get_vocab(with_added_tokens=True).values())
    write_json(os.path.join(ROOT, "byte_level_bpe", "meta.json"), {"vocab_size": vocab_size})

    save("llama3_style", llama3_style(), [
        "<|begin_of_text|>Hello", "a<|eot_id|>b <|end_of_text|>", " xyzzy and xyzzyx",
        "12345 1234567 x1y22z333", "word\n\n\nnext  \n  last", "Don'T WE'LL", "¿Qué? ¡Sí!",
    ])
    save("llama2_metaspace", llama2_metaspace(), [
        "<s>Hello</s>", "Hello <s> world</s>", "<unk>", " ▁ literal metaspace ▁▁",
        "日本語のテキスト", "\U0001F600\U0001F600",
    ])
    save("metaspace_pretok", metaspace_pretok(), [
        "<s>Hello", "Hello</s> world", "a [MARK] b[MARK]c", "▁already", "Ｆｕｌｌ　ｗｉｄｔｈ",
    ])
    save("wordpiece_bert", wordpiece_bert(), [
        "[CLS] Hello [SEP]", "see [NOTE] here", "x[NOTE]y", "[note] lower", "[NOTE]",
        "unaffable unbelievable", "Ünïcödé ÀÉÎÕÜ", "[MASK]ed word",
    ])
    save("roberta_style", roberta_style(), [
        "Hello <mask> world", "Hello<mask>world", "<mask>", "  <mask>  two", "<s>Oslo</s>",
        "a <mask>", "\u00e9 <mask>", "x  y   z", "a [R]  b [R]", "[R]\t\nend",
    ])
    # These two cover more components; the short component strings are enough for them.
    save("bpe_suffix_prefix", bpe_suffix_prefix(), [LONG_PARAGRAPH], base_strings=COMPONENT_STRINGS)
    save("word_level", word_level(), [LONG_PARAGRAPH], base_strings=COMPONENT_STRINGS)

    write_json(os.path.join(ROOT, "components", "normalizers.json"), normalizer_golden())
    write_json(os.path.join(ROOT, "components", "pre_tokenizers.json"), pre_tokenizer_golden())
    write_json(os.path.join(ROOT, "components", "decoders.json"), decoder_golden())
    bad_files()
    check_coverage()


if __name__ == "__main__":
    main()
