"""Chat-template fixtures: each template rendered by transformers' own Jinja environment
(transformers.utils.chat_template_utils._compile_jinja_template: trim_blocks, lstrip_blocks,
raise_exception, tojson, strftime_now) for a few conversations, with and without the generation
prompt. framework/text/jinja.cpp must give the same bytes (tests/unit/text/test_jinja.cpp).

The templates are those of the models' tokenizer_config.json (Llama 3 Instruct, Qwen2 Instruct,
Mistral Instruct v0.1, Gemma Instruct, SmolLM2 Instruct), written out here, plus one that uses the
rest of the subset (namespace, loop fields, filters, tests, slices, tojson).

    /usr/bin/python3 tests/reference/chat_template_fixtures.py   # needs transformers and jinja2
"""
import json
import os

from transformers.utils.chat_template_utils import _compile_jinja_template

TEMPLATES = {
    "llama3": (
        "{% set loop_messages = messages %}{% for message in loop_messages %}"
        "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
        "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
        "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
        "{% endif %}"
    ),
    "qwen2": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    "mistral": (
        "{{ bos_token }}{% for message in messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
        "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
        "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
        "{% endif %}{% endfor %}"
    ),
    "gemma": (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}"
        "{% else %}{% set role = message['role'] %}{% endif %}"
        "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
        "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
    ),
    "smollm2": (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n' }}{% endif %}"
        "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    ),
    # The rest of the subset, written in the multi-line style of Llama 3.1's template.
    "features": """{%- set ns = namespace(system='', turns=0) %}
{#- a comment #}
{%- if messages[0]['role'] == 'system' %}
    {%- set ns.system = messages[0]['content'] | trim %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- bos_token }}
{%- if ns.system %}
    {{- 'SYSTEM: ' ~ ns.system ~ '\\n' }}
{%- endif %}
{%- for message in loop_messages if message.content is string %}
    {%- set ns.turns = ns.turns + 1 %}
    {%- if message.role not in ['user', 'assistant'] %}
        {{- raise_exception('unknown role ' + message.role) }}
    {%- endif %}
    [{{ loop.index }}/{{ loop.length }}{% if loop.first %} first{% endif %}{% if loop.last %} last{% endif %}] {{ message.role | upper }}: {{ message.content.strip() }}
    {%- if message.get('name') is defined and message.get('name') is not none %} ({{ message['name'] }}){% endif %}
{% endfor %}
{{- 'turns=' ~ ns.turns ~ ' words=' ~ (loop_messages | map(attribute='content') | join(' ')).split() | length }}
{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ (messages | last)['content'][:5] }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 3 }} {{ 1.5 * 2 }} {{ 'a' if messages | length > 2 else 'b' }}
{{ {'k': messages[-1]['role'], 'n': [1, 2.5, none, true]} | tojson }}
{{ messages[0] | tojson(indent=2) }}
{%- if add_generation_prompt %}
{{ 'ASSISTANT:' }}
{%- endif %}""",
}

CONVERSATIONS = {
    "one_turn": [{"role": "user", "content": "Where does Mara work?"}],
    "system": [
        {"role": "system", "content": "  Answer briefly.  "},
        {"role": "user", "content": "Mara lives in Oslo. Mara works in Rome.\nWhere does Mara work?"},
    ],
    "multi_turn": [
        {"role": "user", "content": "Hi! "},
        {"role": "assistant", "content": "Hello, how can I help?"},
        {"role": "user", "content": "Say \"déjà vu\" twice, with a tab\tand a newline\n."},
    ],
}


def main():
    out_dir = os.path.join(os.path.dirname(__file__), "..", "fixtures", "chat_templates")
    cases = []
    for name, template in TEMPLATES.items():
        compiled = _compile_jinja_template(template)
        for conv_name, messages in CONVERSATIONS.items():
            for gen in (False, True):
                context = {"messages": messages, "add_generation_prompt": gen,
                           "bos_token": "<s>", "eos_token": "</s>"}
                try:
                    rendered, error = compiled.render(**context), None
                except Exception as e:  # raise_exception in the template
                    rendered, error = None, str(e)
                cases.append({"template": name, "conversation": conv_name, "context": context,
                              "rendered": rendered, "error": error})
    with open(os.path.join(out_dir, "rendered.json"), "w", encoding="utf-8") as f:
        json.dump({"templates": TEMPLATES, "cases": cases}, f, ensure_ascii=False, indent=1)
    print(len(cases), "cases")


if __name__ == "__main__":
    main()
