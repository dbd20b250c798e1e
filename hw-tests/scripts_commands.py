"""Which external commands do the project's scripts and runners invoke?

Used by test_setup_tools.py to check that the setup installs (or checks for)
every one of them. Two extractors:

- shell scripts: a small lexer that is good enough for our scripts (it
  drops comments, here-document bodies and single-quoted text such as awk
  programs, splits at command separators and command substitutions, and
  takes the first word of each simple command, looking through wrappers
  such as `sudo_`, `env`, `nice`, `xargs`);
- Python: the argument lists of subprocess calls and `shutil.which(...)`,
  read with `ast` (never by running the code).

Neither extractor is a full parser; test_setup_tools.py checks them against
known cases so that a regression in the extractor itself shows up.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Host-side shell scripts of the project (not guest-side ones: guest-images/init
# and udhcpc.sh run inside the guest on busybox).
SHELL_SCRIPTS = [
    "calgary",
    ".ci/run",
    "c-shim/qemu/apt-setup.sh",
    "c-shim/qemu/build.sh",
    "guest-images/build-initramfs.sh",
]
# Host-side Python runners and tests.
PYTHON_GLOBS = ["hw-tests/*.py", "hw-tests/*/*.py"]

SHELL_WORDS = {
    # keywords
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do", "done",
    "in", "function", "select", "time", "!", "{", "}", "[[", "]]",
    # builtins
    ".", ":", "[", "alias", "bg", "bind", "break", "builtin", "cd", "command", "continue",
    "declare", "dirs", "disown", "echo", "enable", "eval", "exec", "exit", "export", "false",
    "fg", "getopts", "hash", "help", "history", "jobs", "kill", "let", "local", "logout",
    "mapfile", "popd", "printf", "pushd", "pwd", "read", "readarray", "readonly", "return",
    "set", "shift", "shopt", "source", "test", "trap", "true", "type", "typeset", "ulimit",
    "umask", "unalias", "unset", "wait",
}
# Words after which the next word is the command that really runs.
WRAPPERS = {"sudo", "sudo_", "env", "nice", "nohup", "xargs", "exec", "timeout", "taskset",
            "time", "ionice", "flock"}

_HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]*$")
_CASE_PATTERN = re.compile(r"^\s*\(?[^()$`;&=]*\)(?=\s|$)")
_FUNC_DEF = re.compile(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\(\)\s*\{?")


def _strip_heredocs(lines: list[str]) -> list[str]:
    out, end = [], None
    for line in lines:
        if end is not None:
            if line.strip() == end:
                end = None
            continue
        m = _HEREDOC.search(line)
        if m:
            end = m.group(2)
        out.append(line)
    return out


def _skip_balanced(text: str, i: int, open_: str, close: str) -> int:
    """Index just past the `close` that balances the `open_` before text[i]."""
    depth = 1
    while i < len(text) and depth:
        if text[i] == open_:
            depth += 1
        elif text[i] == close:
            depth -= 1
        i += 1
    return i


def _code_only(text: str) -> str:
    """Keep what the shell runs as commands: blank single-quoted text (awk
    programs), double-quoted text except its $(...) substitutions, comments,
    parameter and arithmetic expansions and array literals; newlines stay."""
    out: list[str] = []
    modes = ["code"]         # "code" | "dq" | "sub" (a $(...) inside dq)
    depth: list[int] = []    # paren depth of each open "sub"
    i, n = 0, len(text)
    while i < n:
        c, mode = text[i], modes[-1]
        two = text[i:i + 2]
        if c == "\\":
            out.append(" " if text[i + 1:i + 2] != "\n" else "")
            i += 2
            continue
        if mode == "dq":
            if c == '"':
                modes.pop()
                out.append(" ")
            elif two == "$(" or two == "<(":
                modes.append("sub")
                depth.append(1)
                out.append(";")
                i += 2
                continue
            elif two == "${":
                i = _skip_balanced(text, i + 2, "{", "}")
                out.append("V")
                continue
            else:
                out.append("\n" if c == "\n" else " ")
            i += 1
            continue
        # code or sub
        if c == "'":
            j = text.find("'", i + 1)
            i = n if j < 0 else j + 1
            out.append(" Q ")
            continue
        if c == '"':
            modes.append("dq")
            out.append(" ")
            i += 1
            continue
        if c == "#" and (i == 0 or text[i - 1] in " \t\n;|&("):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if text.startswith("$((", i):
            i = _skip_balanced(text, i + 3, "(", ")")
            i = _skip_balanced(text, i, "(", ")") if i < n and text[i - 1] == ")" and text[i:i+1] == ")" else i
            out.append("V")
            continue
        if two == "${":
            i = _skip_balanced(text, i + 2, "{", "}")
            out.append("V")
            continue
        if two == "=(":
            i = _skip_balanced(text, i + 2, "(", ")")
            out.append("=V")
            continue
        if c == "$" and i + 1 < n and (text[i + 1].isalnum() or text[i + 1] in "_@*#?!$-"):
            i += 2
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            out.append("V")
            continue
        if mode == "sub":
            if c == "(":
                depth[-1] += 1
            elif c == ")":
                depth[-1] -= 1
                if depth[-1] == 0:
                    depth.pop()
                    modes.pop()
                    out.append(";")
                    i += 1
                    continue
        out.append(c)
        i += 1
    return "".join(out)


def shell_commands(text: str) -> set[str]:
    lines = _strip_heredocs(text.splitlines())
    funcs = {m.group(1) for line in lines if (m := _FUNC_DEF.match(line))}
    cmds: set[str] = set()
    for line in _code_only("\n".join(lines)).splitlines():
        if _FUNC_DEF.match(line):
            line = line[line.index("()") + 2:]
        line = _CASE_PATTERN.sub(" ", line)
        # Split at separators and substitutions; `)` ends a substitution.
        for seg in re.split(r"\$\(|<\(|`|\|\||&&|[|;&(){}]|\bthen\b|\bdo\b|\belse\b|\bif\b|\bwhile\b|\buntil\b|!", line):
            words = seg.split()
            k = 0
            while k < len(words):
                w = words[k]
                if _ASSIGN.match(w) or w.startswith(("-", ">", "<", "2>", "1>")) or re.match(r"^\d+[<>]", w):
                    k += 1
                    continue
                if w in WRAPPERS:
                    if w not in SHELL_WORDS:
                        cmds.add("sudo" if w == "sudo_" else w)
                    k += 1
                    if w == "flock":   # flock <fd> | flock <file> <cmd>
                        if k < len(words) and words[k].isdigit():
                            break
                        k += 1
                    if w == "taskset":  # taskset <mask> <cmd>
                        k += 1
                    continue
                if w in ("for", "case", "local", "declare", "export", "readonly", "return", "exit",
                         "shift", "trap", "command", "unset", "read", "wait", "set", "cd", "echo",
                         "printf", "test", "[", "[["):
                    break
                if _NAME.match(w) and w not in SHELL_WORDS and w not in funcs and w not in ("Q", "V"):
                    cmds.add(w)
                break
    return cmds


_SUBPROCESS_FUNCS = {"run", "Popen", "check_output", "check_call", "call"}


def _const_str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _argv_commands(elts: list[ast.AST]) -> set[str]:
    out: set[str] = set()
    i = 0
    while i < len(elts):
        s = _const_str(elts[i])
        if s is None:
            break
        if not s.startswith("-"):
            out.add(s)
        if s in ("nice", "env", "sudo", "nohup", "timeout", "ionice"):
            i += 1
            continue
        if s == "taskset":
            i += 2
            continue
        if s == "ip" and i + 2 < len(elts) and _const_str(elts[i + 1]) == "netns" \
                and _const_str(elts[i + 2]) == "exec":
            i += 4   # ip netns exec <ns> <cmd ...>
            continue
        break
    return out


def python_commands(text: str) -> set[str]:
    cmds: set[str] = set()
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if f.value.id == "subprocess" and f.attr in _SUBPROCESS_FUNCS and node.args:
                a = node.args[0]
                if isinstance(a, (ast.List, ast.Tuple)):
                    cmds |= _argv_commands(list(a.elts))
            elif f.value.id == "shutil" and f.attr == "which" and node.args:
                s = _const_str(node.args[0])
                if s:
                    cmds.add(s)
        # Any list literal that looks like an argv built for later use:
        # ["cargo", "clippy", ...] in a table, `cmd = ["ip", ...]`.
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.List) and len(node.elts) >= 2:
            first = _const_str(node.elts[0])
            second = node.elts[1]
            if first and _NAME.match(first) and first in KNOWN_ARGV_HEADS:
                if _const_str(second) is not None or isinstance(second, ast.Call):
                    cmds |= _argv_commands(list(node.elts))
    return cmds


# Command names that, when they start a list literal, mean an argv (used for
# argv lists stored in tables before being run).
KNOWN_ARGV_HEADS = {"cargo", "ip", "nice", "bash", "taskset", "perf", "clang", "kexec",
                    "cpio", "gzip", "qemu-img", "rustup", "python3", "dpkg-deb", "apt-get"}


def project_commands() -> dict[str, set[str]]:
    """command -> set of files that invoke it."""
    found: dict[str, set[str]] = {}
    for rel in SHELL_SCRIPTS:
        p = REPO / rel
        if p.exists():
            for c in shell_commands(p.read_text()):
                found.setdefault(c, set()).add(rel)
    for pattern in PYTHON_GLOBS:
        for p in sorted(REPO.glob(pattern)):
            for c in python_commands(p.read_text()):
                found.setdefault(c, set()).add(str(p.relative_to(REPO)))
    return found


def read_manifest(path: Path | None = None) -> dict[str, str]:
    """c-shim/qemu/host-tools.txt: command -> package (or '@rust', '@sudo')."""
    path = path or REPO / "c-shim" / "qemu" / "host-tools.txt"
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            cmd, pkg = line.split()[:2]
            out[cmd] = pkg
    return out


def manifest_flavors(path: Path | None = None) -> dict[str, str]:
    """Commands of host-tools.txt that only one build flavor needs: command -> flavor."""
    path = path or REPO / "c-shim" / "qemu" / "host-tools.txt"
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 3:
            out[fields[0]] = fields[2]
    return out


if __name__ == "__main__":
    for cmd, files in sorted(project_commands().items()):
        print(f"{cmd:16} {', '.join(sorted(files))}")
