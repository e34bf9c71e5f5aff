#!/usr/bin/env python3
"""Lists the external programs that the project's scripts and tests run.

    zu_programs.py TOP     prints "FILE<TAB>LINE<TAB>PROGRAM", one call a line

Read from the sources, not from a run, so a program that only a rare branch
calls is listed too:
- shell scripts (scripts/*.sh, tests/**/*.sh, .ci/run, and the hooks and
  modules under integrations/ that the tests run) are parsed by shfmt
  (Debian's shfmt, a real bash parser): every simple command whose name is a
  literal word, also inside $(...), pipelines, functions and here-documents'
  substitutions; through the wrappers that run their arguments (exec, env,
  timeout, nice, setsid, taskset, xargs, nohup, chroot, unshare, stdbuf,
  command, find -exec);
  and the strings that the test helpers evaluate as shell (eval, lib.sh's
  assert, check, expect_exit, servers.sh's _srv_spawn, and bash -c / sh -c
  with a literal string);
  names handed to servers.sh's _srv_need;
- Python files (tests/**/*.py): subprocess calls whose argument list starts
  with a literal string;
- C unit tests: the commands test_fssize.c runs (run_in, tool_available);
- meson.build files: find_program('NAME'); meson cross files (cross/*.txt):
  the first word of every quoted program in their wrapper and [binaries].
Shell builtins, keywords, functions defined in any scanned script, variables
and paths (./scripts/x.sh, "$ZCKUP") are not programs of the machine and are
left out. tests/integration/deps_table.sh checks the list against the table
in scripts/deps.sh.
"""
import ast
import json
import os
import re
import subprocess
import sys

WRAPPERS_SKIP_OPTS = {
    # wrapper: how many non-option arguments come before the wrapped command
    "exec": 0, "nohup": 0, "setsid": 0, "nice": 0, "xargs": 0, "env": 0,
    "timeout": 1, "taskset": 1, "chroot": 1, "stdbuf": 0, "command": 0, "unshare": 0,
}
# Options of those wrappers that take a value (so the value is not the command).
OPTS_WITH_VALUE = {"nice": {"-n"}, "xargs": {"-n", "-P", "-I", "-d", "-L", "-s"},
                   "timeout": {"-s", "-k", "--signal", "--kill-after"},
                   "env": {"-u", "-C"}, "taskset": set(), "chroot": {"--userspec"},
                   "unshare": {"--propagation"}}
# lib.sh helpers: the index of the argument where a command starts (check,
# expect_exit) or from which on the arguments are shell text (assert, eval).
RUNS_COMMAND_AT = {"check": 1, "expect_exit": 2, "_srv_spawn": 2}
EVALS_FROM = {"eval": 0, "assert": 1}
NEEDS_PROGRAMS = {"_srv_need"}


def shell_builtins():
    out = subprocess.run(["bash", "-c", "compgen -b; compgen -k"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    return set(out.split()) | {"[[", "]]"}


def word_literal(word):
    """The word's text if it is made only of literal parts (quotes allowed), else None."""
    text = ""
    for part in word.get("Parts", []):
        t = part.get("Type")
        if t == "Lit":
            text += part.get("Value", "")
        elif t == "SglQuoted":
            text += part.get("Value", "")
        elif t == "DblQuoted":
            for p in part.get("Parts", []):
                if p.get("Type") != "Lit":
                    return None
                text += p.get("Value", "")
        else:
            return None
    return text


def parse_shell(text, path):
    r = subprocess.run(["shfmt", "--to-json", "--language-dialect", "bash"], input=text,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"zu_programs.py: shfmt cannot parse {path}: {r.stderr.strip()}")
    return json.loads(r.stdout)


class ShellScan:
    def __init__(self, builtins):
        self.builtins = builtins
        self.functions = set()
        self.calls = []  # (path, line, name)

    def functions_of(self, node):
        if isinstance(node, dict):
            if node.get("Type") == "FuncDecl":
                self.functions.add(node["Name"]["Value"])
            for v in node.values():
                self.functions_of(v)
        elif isinstance(node, list):
            for v in node:
                self.functions_of(v)

    def walk(self, node, path, line_base):
        if isinstance(node, dict):
            if node.get("Type") == "CallExpr" and node.get("Args"):
                self.call(node["Args"], path, line_base)
            for v in node.values():
                self.walk(v, path, line_base)
        elif isinstance(node, list):
            for v in node:
                self.walk(v, path, line_base)

    def add(self, name, path, line):
        if not name or "/" in name or "=" in name or name.startswith("-"):
            return
        if not re.fullmatch(r"[A-Za-z0-9_.+:-]+", name):
            return
        self.calls.append((path, line, name))

    def shell_text(self, text, path, line):
        try:
            tree = parse_shell(text, path)
        except SystemExit:
            return  # not shell after all (a quoted message): nothing to list
        self.walk(tree, path, line - 1)

    def call(self, args, path, line_base):
        words = [word_literal(a) for a in args]
        line = line_base + args[0]["Pos"]["Line"]
        i = 0
        while i < len(words):
            name = words[i]
            if name is None:
                return
            if name in WRAPPERS_SKIP_OPTS:
                if name != "command" and name not in self.builtins:
                    self.add(name, path, line)
                need = WRAPPERS_SKIP_OPTS[name]
                i += 1
                with_value = OPTS_WITH_VALUE.get(name, set())
                while i < len(words) and words[i] is not None and (
                        words[i].startswith("-") or (name == "env" and "=" in words[i])):
                    i += 2 if words[i] in with_value else 1
                i += need
                continue
            break
        if i >= len(words) or words[i] is None:
            return
        name = words[i]
        rest = words[i + 1:]
        if name in self.functions:
            if name in NEEDS_PROGRAMS:
                for w in rest:
                    self.add(w, path, line)
            if name in RUNS_COMMAND_AT:
                self.call_from(args[i + 1 + RUNS_COMMAND_AT[name]:], path, line_base)
            if name in EVALS_FROM:
                self.eval_words(rest[EVALS_FROM[name]:], path, line)
            return
        if name in self.builtins:
            if name in EVALS_FROM:
                self.eval_words(rest[EVALS_FROM[name]:], path, line)
            return
        self.add(name, path, line)
        if name in ("bash", "sh") and len(rest) >= 2 and rest[0] == "-c" and rest[1]:
            self.shell_text(rest[1], path, line)
        if name == "find":
            for j, w in enumerate(rest):
                if w in ("-exec", "-execdir") and j + 1 < len(rest) and rest[j + 1]:
                    self.add(rest[j + 1], path, line)

    def call_from(self, args, path, line_base):
        if args:
            self.call(args, path, line_base)

    def eval_words(self, words, path, line):
        text = " ".join(w for w in words if w is not None)
        if text:
            # What lib.sh's assert evaluates: \$ in the script's double quotes is $ there.
            self.shell_text(text.replace("\\$", "$"), path, line)


def python_calls(path):
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        f = node.func
        fname = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        if fname not in ("run", "Popen", "call", "check_call", "check_output"):
            continue
        a = node.args[0]
        if isinstance(a, (ast.List, ast.Tuple)) and a.elts and isinstance(a.elts[0], ast.Constant) \
                and isinstance(a.elts[0].value, str):
            yield node.lineno, a.elts[0].value


def c_commands(path, scan):
    src = open(path).read()
    for m in re.finditer(r"\b(run_in|tool_available)\s*\((?:[^,()]*,\s*)?\"((?:[^\"\\]|\\.)*)\"", src):
        line = src.count("\n", 0, m.start()) + 1
        text = m.group(2).encode().decode("unicode_escape")
        if m.group(1) == "tool_available":
            scan.add(text, path, line)
        else:
            scan.shell_text(text, path, line)


def is_shell_script(path):
    """An executable without a .sh ending (integrations' hooks and modules): by its #! line."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except OSError:
        return False
    return re.match(rb"#!\s*/(usr/)?bin/(env\s+)?(ba)?sh\b", first) is not None


def main():
    top = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    os.chdir(top)
    files = subprocess.run(["git", "ls-files", "scripts", "tests", ".ci", "fuzz", "cross",
                            "integrations", "meson.build", "*/meson.build"],
                           stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    shell = [f for f in files if f.endswith(".sh") or f == ".ci/run" or is_shell_script(f)]
    scan = ShellScan(shell_builtins())
    trees = {}
    for f in shell:
        trees[f] = parse_shell(open(f).read(), f)
        scan.functions_of(trees[f])
    for f in shell:
        scan.walk(trees[f], f, 0)
    for f in files:
        if f.endswith(".py"):
            for line, name in python_calls(f):
                scan.add(name, f, line)
        elif f.startswith("tests/unit/") and f.endswith(".c"):
            c_commands(f, scan)
        elif f.endswith("meson.build"):
            src = open(f).read()
            for m in re.finditer(r"find_program\(\s*'([^']+)'", src):
                scan.add(m.group(1), f, src.count("\n", 0, m.start()) + 1)
        elif f.startswith("cross/") and f.endswith(".txt"):
            for n, text in enumerate(open(f), 1):
                m = re.match(r"\s*(wrapper|c|cpp|ar|strip|pkgconfig)\s*=\s*\[?\s*'([^']+)'", text)
                if m:
                    scan.add(m.group(2), f, n)
    for path, line, name in sorted(set(scan.calls)):
        print(f"{path}\t{line}\t{name}")


if __name__ == "__main__":
    main()
