"""ember's chat templates against Python's jinja2 (the engine Hugging Face
renders them with), on templates generated from the subset ember supports.

Usage: chat_vs_jinja2.py HARNESS [SEED [COUNT]]; HARNESS is
build/tests/test_chat_template (its --render-batch mode). Every template
jinja2 renders must come out of ember byte for byte; templates jinja2
rejects are not judged (ember is more lenient in places). Prints PASS/FAIL
lines for tests/run.sh."""
import json, random, subprocess, sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


# Hugging Face's settings (transformers' chat template rendering)
ENV = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
ENV.filters["tojson"] = tojson
ENV.globals["raise_exception"] = raise_exception
# CONV of tests/test_chat_template.c
MESSAGES = [{"role": "system", "content": "You are kind."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "How are you?"}]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def pick(self, *xs):
        return self.r.choice(xs)

    def expr(self, d=0, pure=False):
        """an expression; pure: none of the variables the template changes
        (jinja2 evaluates loop filters lazily, between body runs)"""
        c = self.pick
        if d > 3:
            return c("'a'", "1", "m.role", "m.content", "messages|length")
        e = lambda: self.expr(d + 1, pure)
        k = self.r.randrange(23)
        if k == 0: return c("'a'", "'Hi'", "' x '", "'user'", "'a,b'", "''", "'\\n'", '"q"')
        if k == 1: return c("0", "1", "2", "-1", "3", "10")
        if k == 2: return c("m.role", "m.content", "m['content']", "messages[0].content", "messages[-1].role") if pure else \
            c("m.role", "m.content", "x", "ns.v", "messages[-1].role")
        if k == 3: return f"({e()} ~ {e()})"
        if k == 4: return f"({e()} {c('==', '!=', 'and', 'or', '<', '>=')} {e()})"
        if k == 5: return f"(not {e()})"
        if k == 6: return f"({e()} if {e()} else {e()})"
        if k == 7: return f"({e()} | {c('trim', 'upper', 'lower', 'title', 'capitalize', 'length', 'string')})"
        if k == 8: return f"([{e()}, {e()}] | {c('join', 'first', 'last', 'length', 'reverse|join', 'list|length')})"
        if k == 9: return f"({e()} is {c('defined', 'none', 'string', 'number', 'integer', 'boolean')})"
        if k == 10: return f"(messages[{c('::-1', '1:', '::2', ':-1', '-2:', '1::2', '-1:0:-1')}] | map(attribute='role') | join(','))"
        if k == 11: return "(messages | " + c("selectattr", "rejectattr") + "('role', 'equalto', " + c('"user"', '"system"', '"x"') + ") | list | length)"
        if k == 12: return "(" + c("m.content", '"a,b,,c"', '" p  q "') + ".split(" + c("", '","', "none, 1", '" "', '",", 1') + ") | join('|'))"
        if k == 13: return f"({e()} | tojson)"
        if k == 14: return f"({{'k': {e()}, 'j': [{e()}, ({e()}, 1)]}} | tojson{c('', '(indent=2)')})"
        if k == 15:
            x = e()
            return "(" + x + "." + c("strip()", "lstrip()", "rstrip('?')", "upper()", "startswith('H')", "replace('e', 'E')", "title()") + \
                " if " + x + " is string else 0)"
        if k == 16: return "(" + e() + " in " + c("m.content", '"Hi there"', "[1, 2]") + ")"
        if k == 17: return f"({c('0', '1', '2', '-1')} {c('+', '-', '*')} {c('0', '1', '3')})"
        if k == 18: return f"({e()} | default({e()}))"
        if k == 19: return f"({e()} | replace({c(repr('a'), repr('e'), repr(''))}, {c(repr('-'), repr('xy'))}))"
        if k == 20: return e() if pure else f"(mac({e()}))"
        if k == 21: return f"(-{c('1', '(2 + 1)', 'messages|length')} | string)"
        return f"({{'a': 1, 'b': 'x'}}.{c('items()', 'keys()', 'values()')} | list | length)"

    def stmt(self, d, in_loop):
        c = self.pick
        ws = lambda: c("", "-")
        k = self.r.randrange(13 if d < 3 else 3)
        if k == 0: return c("txt", " ", "\n", "  \n", "A B")
        if k in (1, 2): return "{{" + ws() + " " + self.expr() + " " + ws() + "}}"
        if k == 3:
            other = "{% else %}" + self.body(d, in_loop) if self.r.random() < 0.5 else ""
            return "{%" + ws() + f" if {self.expr()} " + ws() + "%}" + self.body(d, in_loop) + other + "{%" + ws() + " endif " + ws() + "%}"
        if k == 4:
            cond = " if " + self.expr(pure=True) if self.r.random() < 0.4 else ""
            other = "{% else %}none" if self.r.random() < 0.2 else ""
            return "{%" + ws() + f" for m in messages{cond} " + ws() + "%}" + self.body(d, True) + \
                "{{ loop.index }}{{ loop.last }}" + other + "{% endfor %}"
        if k == 5: return f"{{% set x = {self.expr()} %}}"
        if k == 6: return f"{{% set ns.v = {self.expr()} %}}"
        if k == 7 and in_loop: return c("{% break %}", "{% continue %}")
        if k == 8: return "{% set x %}" + self.body(d, in_loop) + "{% endset %}"
        if k == 9: return "\n{% for k, v in {'a': 1, 'b': 'x'}.items() %}{{ k }}={{ v }}{% endfor %}\n"
        if k == 10: return "{{ mac(" + self.expr() + c("", ", " + self.expr(), ", b=" + self.expr()) + ") }}"
        if k == 11: return "{% for a, b in [('p', 1), ('q', 2)] %}{{ a }}{{ b }}{% endfor %}"
        return "{# c #}"

    def body(self, d, in_loop):
        return "".join(self.stmt(d + 1, in_loop) for _ in range(self.r.randrange(1, 4)))

    def template(self):
        return "{% set ns = namespace(v='') %}{% set m = messages[1] %}{% set x = 0 %}" \
               "{% macro mac(a, b='d') %}[{{ a }}|{{ b }}]{% endmacro %}" + self.body(0, False)


def main():
    harness = sys.argv[1]
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    g = Gen(seed)
    tmpls = [g.template() for _ in range(count)]
    p = subprocess.run([harness, "--render-batch"], input="\0".join(tmpls).encode() + b"\0", capture_output=True, timeout=600)
    outs = p.stdout.split(b"\0")
    if p.returncode != 0 or len(outs) < count:
        print("FAIL chat_vs_jinja2_harness")
        print(f"  harness exited {p.returncode} with {len(outs)} outputs: {p.stderr[-500:]!r}", file=sys.stderr)
        return
    judged = differ = 0
    for t, o in zip(tmpls, outs):
        try:
            want = ENV.from_string(t).render(messages=MESSAGES, add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
        except Exception:
            continue
        judged += 1
        got = o.decode("utf-8", "replace")
        if got != want:
            differ += 1
            if differ <= 3:
                print(f"  template {t!r}\n  jinja2 {want!r}\n  ember  {got!r}", file=sys.stderr)
    ok = differ == 0 and judged > count // 2
    print(("PASS" if ok else "FAIL") + f" chat_vs_jinja2 ({judged} of {count} templates judged, {differ} differ)")


main()
