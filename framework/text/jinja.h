// The subset of Jinja2 that Hugging Face chat templates use (tokenizer_config.json's
// `chat_template`), rendered as transformers' apply_chat_template renders it: trim_blocks and
// lstrip_blocks on, no autoescaping, `raise_exception(msg)`, `strftime_now(fmt)`, `namespace()`,
// `range()`, and a `tojson` that writes what Python's json.dumps(ensure_ascii=False) writes.
//
// Supported: text, {{ expr }}, {% for %} (loop.index, index0, first, last, length, revindex,
// revindex0; tuple targets; an inline `if` filter; else), {% if %}/{% elif %}/{% else %},
// {% set name = expr %} and {% set ns.attr = expr %}, {% generation %} (rendered as its body),
// {# comments #}, whitespace control with '-' and '+'; expressions with Python's values (none,
// booleans, integers, floats, strings, lists, dicts), attribute and item access, slices, the
// operators of Jinja2 (or and not, comparisons, in, is [not] test, + - * / // % ** ~, the inline
// if-else), filters (trim, tojson, length/count, upper, lower, capitalize, title, default/d,
// first, last, join, replace, string, int, float, list, items, reverse, abs, round, safe,
// selectattr/rejectattr, map(attribute=)), tests (defined, undefined, none, string, number,
// integer, float, boolean, mapping, iterable, sequence, true, false, odd, even, eq/equalto/==,
// in), and the string and dict methods templates call (strip, lstrip, rstrip, startswith,
// endswith, split, upper, lower, title, capitalize, replace; items, keys, values, get).
// Anything else is an xai::Error naming the template's line.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace xai::jinja {

// Renders `source` with the variables of `context` (a JSON object: messages,
// add_generation_prompt, bos_token, ...). Throws xai::Error for a syntax error or an unsupported
// construct (with the line), for a `raise_exception` (its message), or for an invalid operation
// (adding a string to a number).
std::string render(const std::string& source, const nlohmann::ordered_json& context);

// Python's json.dumps(value, ensure_ascii=False, indent=indent) (indent < 0: None), as the
// templates' tojson filter writes it.
std::string python_json(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace xai::jinja
