#!/usr/bin/env python3
"""Writes template_fixture.json: templates and documents rendered by jinja2 as
lm-evaluation-harness sets it up (StrictUndefined, keep_trailing_newline, a regex_replace
filter), for tests/tasks/test_template.cpp to compare Strata's renderer against.

Run with the .venv python (jinja2 comes with lm_eval): .venv/bin/python tests/tasks/make_template_fixture.py
"""
import json
import os
import re

import jinja2


def regex_replace(string, pattern, repl, count=0):
    return re.sub(pattern, repl, string, count=count)


env = jinja2.Environment(loader=jinja2.BaseLoader(), undefined=jinja2.StrictUndefined,
                         keep_trailing_newline=True)
env.filters["regex_replace"] = regex_replace

DOC = {
    "question": "  What is 2 + 3?  ",
    "answer": 5,
    "label": 1,
    "ratio": 2.5,
    "choices": ["four", "five", "six"],
    "ctx": {"a": "first", "b": {"c": "deep"}},
    "doc": {"x": [10, 20, 30]},
    "flag": True,
    "empty": "",
    "none": None,
    "words": "alpha beta  gamma",
    "sentence": "The Cat's hat",
    # Python measures and indexes characters, not UTF-8 bytes (core/utf8.h).
    "jp": "日本語のテキスト",
    "fr": "\u3000 élève Français ",
}

TEMPLATES = [
    "{{question}}",
    "Question: {{question.strip()}}\nAnswer:",
    "{{ctx.a}} {{ctx.b.c}} {{ctx['a']}}",
    "{{choices[0]}}|{{choices[2]}}|{{choices[-1]}}",
    "{{doc.x[1]}}",
    "{{choices[label]}}",
    "{{ 'lit' }} {{ \"dq\" }} {{ 3 }} {{ 1.5 }} {{ true }} {{ none }}",
    "{{question + '!'}}",
    "{{answer ~ ' apples'}}",
    "{{answer + 1}} {{answer * 2}} {{answer - 7}} {{answer // 2}} {{answer % 3}} {{answer / 2}}",
    "{{question | trim}}",
    "{{question | trim | lower}}|{{sentence | upper}}",
    "{{sentence | replace('a', 'o')}}",
    "{{choices | join(', ')}}",
    "{{choices | join}}",
    "{{answer | string}}{{ratio | string}}",
    "{{'42' | int + 1}} {{ratio | int}} {{'x' | int}}",
    "{{choices | length}} {{sentence | length}}",
    "{{choices | first}} {{choices | last}}",
    "{{sentence | capitalize}} {{words | title}} {{sentence | title}}",
    "{% if flag %}yes{% else %}no{% endif %}",
    "{% if empty %}yes{% else %}no{% endif %}",
    "{% if answer > 3 %}big{% elif answer > 1 %}mid{% else %}small{% endif %}",
    "{% if 'five' in choices %}in{% endif %}{% if 'ten' not in choices %} out{% endif %}",
    "{% if none is none and not empty %}ok{% endif %}",
    "{% if missing is defined %}has{% else %}lacks{% endif %}",
    "{{ missing | default('fallback') }}",
    "{% for c in choices %}{{loop.index}}. {{c}}\n{% endfor %}Answer:",
    "{% for c in choices %}{{c}}{% if not loop.last %}, {% endif %}{% endfor %}",
    "{%- for c in choices -%}\n  [{{ c }}]\n{%- endfor %}",
    "A {# a comment #}B",
    "  {{- ' trimmed ' -}}  \nend",
    "{{choices}}",
    "{{ctx}}",
    "{{ratio}} {{answer}} {{flag}}",
    "{{words.split()}} {{words.split(' ')}}",
    "{{'yes' if flag else 'no'}} {{'yes' if empty else 'no'}}",
    "{{sentence.replace('Cat', 'Dog')}} {{sentence.startswith('The')}}",
    "{{ sentence | regex_replace('[aeiou]', '_') }}",
    "{{ (answer + 1) * 2 }}",
    "{{ [1, 2, 3] | length }}",
    "line one\nline two\n",
    "{{ choices[0] == 'four' }} {{ answer != 5 }} {{ answer >= 5 }}",
    "{{jp | length}} {{jp[1]}} {{jp[-1]}} {{jp | first}} {{jp | last}} {{fr | length}}",
    "{{fr | upper}}|{{fr | lower}}|{{fr.strip()}}|{{fr | trim}}|{{fr.upper().strip()}}",
    "{{fr.strip() | capitalize}} {{fr | title}} {{jp | list | join('-')}}",
]

ERRORS = [
    "{{answr}}",
    "{{ctx.z}}",
    "{{choices[7]}}",
    "{{doc.y[0]}}",
]


def main():
    cases = [{"template": t, "expected": env.from_string(t).render(**DOC)} for t in TEMPLATES]
    errors = []
    for t in ERRORS:
        try:
            env.from_string(t).render(**DOC)
            raise SystemExit(f"expected an error from {t!r}")
        except jinja2.UndefinedError as e:
            errors.append({"template": t, "jinja2_message": str(e)})
    out = {"doc": DOC, "cases": cases, "errors": errors}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "template_fixture.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}: {len(cases)} renderings, {len(errors)} errors")


if __name__ == "__main__":
    main()
