#!/usr/bin/python3
"""gen_api_reference.py: writes include/afloc/API.md, the API reference, from the comments of
include/afloc/afloc.h, so the reference is the header's own text and cannot drift from it.

    scripts/gen_api_reference.py [HEADER] [-o OUT.md]            write the reference (stdout: -)
    scripts/gen_api_reference.py [HEADER] -o OUT.md --check API.md  also compare with API.md

The header is read as a sequence of blocks: comments, AFLOC_API declarations, typedef'd structs
and enums (one field or value per line, each with its trailing comment), opaque handles,
function-pointer typedefs and #define constants. A comment directly above a declaration (no blank
line between) documents it; a comment followed by a blank line is prose. "==== name: ... ===="
markers start a section, "---- name ----" lines a subsection. Any other line is an error, so a
header construct this script does not understand fails loudly instead of vanishing. In --check
mode every AFLOC_API function must also have a doc comment that says "Since"; the exit status is
1 on any difference or such omission. Standard library only."""
import argparse
import difflib
import os
import re
import sys


# ---- parsing the header ----

def comment_lines(raw):
    """The text lines of a /* ... */ comment, without the comment markers and the ' * ' prefix."""
    body = raw.strip()
    body = body[2:] if body.startswith("/*") else body
    body = body[:-2] if body.endswith("*/") else body
    out = []
    for n, line in enumerate(body.split("\n")):
        if n == 0:
            line = line[1:] if line.startswith(" ") else line
        else:
            line = re.sub(r"^\s*\*( |$)", "", line, count=1)
        out.append(line.rstrip())
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    return out


def split_members(body):
    """(declaration, comment) pairs of a struct or enum body: each member ends with ';' (struct)
    or ',' / end (enum) and may carry a trailing /* comment */, possibly over several lines."""
    members, pos, n = [], 0, len(body)
    while pos < n:
        while pos < n and body[pos].isspace():
            pos += 1
        if pos >= n:
            break
        if body.startswith("/*", pos):  # a comment line of its own inside the body: prose
            end = body.index("*/", pos) + 2
            members.append((None, " ".join(l.strip() for l in comment_lines(body[pos:end]))))
            pos = end
            continue
        end = pos
        while end < n and body[end] not in ";," and not body.startswith("/*", end):
            end += 1
        decl = body[pos:end].strip()
        pos = end + 1 if end < n and body[end] in ";," else end
        while pos < n and body[pos] in " \t":
            pos += 1
        comment = ""
        if body.startswith("/*", pos):
            close = body.index("*/", pos) + 2
            comment = " ".join(l.strip() for l in comment_lines(body[pos:close]))
            pos = close
        members.append((decl, re.sub(r"\s+", " ", comment).strip()))
    return members


def parse(text):
    """A list of blocks: dicts with 'kind' and kind-specific fields, in header order."""
    lines = text.split("\n")
    blocks, pending, i = [], None, 0
    seen_intro = False

    def flush():
        nonlocal pending
        if pending is not None:
            blocks.append({"kind": "prose", "lines": pending})
            pending = None

    def take_doc():
        nonlocal pending
        doc, pending = pending, None
        return doc or []

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            flush()
            i += 1
            continue
        if stripped.startswith("/*"):
            start = i
            while "*/" not in lines[i]:
                i += 1
            raw = "\n".join(lines[start:i + 1])
            i += 1
            heading = re.match(r"^/\*\s*----\s*(.*?)\s*----\s*\*/$", raw.strip())
            section = re.match(r"^/\*\s*====\s*(.*?)\s*====\s*\*/$", raw.strip())
            flush()
            if heading:
                blocks.append({"kind": "subsection", "title": heading.group(1)})
            elif section:
                blocks.append({"kind": "section", "title": section.group(1).split(":")[0]})
            elif not seen_intro:
                blocks.append({"kind": "intro", "lines": comment_lines(raw)})
            else:
                pending = comment_lines(raw)
            seen_intro = True
            continue
        if stripped.startswith("#"):
            define = re.match(r"^#define\s+(AFLOC_\w+)\s+(.*?)\s*(?:/\*(.*?)\*/)?\s*$", stripped)
            if define and define.group(1) not in ("AFLOC_AFLOC_H", "AFLOC_API"):
                blocks.append({"kind": "define", "name": define.group(1), "value": define.group(2),
                               "comment": (define.group(3) or "").strip(), "doc": take_doc()})
            else:
                flush()
            i += 1
            continue
        if stripped in ('extern "C" {', "}"):
            i += 1
            continue
        start = i
        if stripped.startswith("AFLOC_API"):
            while not lines[i].rstrip().endswith(";"):
                i += 1
            decl = "\n".join(lines[start:i + 1])
            name = re.search(r"(\w+)\s*\(", decl).group(1)
            blocks.append({"kind": "function", "name": name, "decl": decl, "doc": take_doc()})
            i += 1
            continue
        compound = re.match(r"^typedef (struct|enum) (\w+) \{$", stripped)
        if compound:
            while not lines[i].startswith("}"):
                i += 1
            body = "\n".join(lines[start + 1:i])
            blocks.append({"kind": compound.group(1), "name": compound.group(2),
                           "members": split_members(body), "doc": take_doc()})
            i += 1
            continue
        opaque = re.match(r"^typedef struct (\w+) (\w+);$", stripped)
        if opaque:
            blocks.append({"kind": "opaque", "name": opaque.group(2), "doc": take_doc()})
            i += 1
            continue
        if stripped.startswith("typedef") and "(*" in stripped:
            while not lines[i].rstrip().endswith(";"):
                i += 1
            decl = "\n".join(lines[start:i + 1])
            name = re.search(r"\(\*\s*(\w+)\)", decl).group(1)
            blocks.append({"kind": "callback", "name": name, "decl": decl, "doc": take_doc()})
            i += 1
            continue
        raise SyntaxError(f"line {i + 1}: gen_api_reference.py does not understand: {stripped}")
    flush()
    # Subsections before the first "====" marker (version, errors, context, image views) are the
    # core every section builds on: give them a section of their own.
    first = next((n for n, b in enumerate(blocks) if b["kind"] in ("section", "subsection")), None)
    if first is not None and blocks[first]["kind"] == "subsection":
        blocks.insert(first, {"kind": "section", "title": "core"})
    return blocks


# ---- rendering Markdown ----

IDENTIFIER = re.compile(r"\b(?:afloc_\w+|AFLOC_\w+)(?:\(\))?|__\w+__")


def inline(text):
    """Markdown for one line of comment text: code spans kept, afloc identifiers put in code
    spans, and the characters Markdown would eat (* < _ |) escaped elsewhere."""
    parts = text.split("`")
    out = []
    for n, part in enumerate(parts):
        if n % 2 == 1 and n < len(parts) - 1:
            out.append("`" + part + "`")
            continue
        pieces, last = [], 0
        for m in IDENTIFIER.finditer(part):
            pieces.append(escape(part[last:m.start()]))
            pieces.append("`" + m.group(0) + "`")
            last = m.end()
        pieces.append(escape(part[last:]))
        out.append(("`" if n % 2 == 1 else "") + "".join(pieces))
    return "".join(out)


def escape(text):
    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("<", "&lt;").replace("|", "\\|")
    return re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)


def prose(lines):
    """Markdown for comment text: paragraphs, '- ' bullet lists (indented continuation lines) and
    indented lines outside a list as code."""
    out, mode = [], None  # mode: None, "para", "list", "code"
    for line in lines:
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if not body:
            if mode == "code":
                out.append("```")
            mode = None
            out.append("")
            continue
        if body.startswith("- "):
            if mode == "code":
                out.append("```")
            if mode not in ("list", None):
                out.append("")
            out.append("- " + inline(body[2:]))
            mode = "list"
        elif mode == "list" and indent > 0:
            out.append("  " + inline(body))
        elif indent >= 2 and mode != "list":
            if mode != "code":
                if mode is not None:
                    out.append("")
                out.append("```")
            out.append(line[2:] if line.startswith("  ") else line)
            mode = "code"
        else:
            if mode == "code":
                out.append("```")
            if mode in ("list", "code"):
                out.append("")
            out.append(inline(body))
            mode = "para"
    if mode == "code":
        out.append("```")
    return "\n".join(out).strip("\n")


def declaration(decl):
    """A declaration without AFLOC_API, its continuation lines moved left to stay aligned."""
    if not decl.startswith("AFLOC_API "):
        return decl
    cut = len("AFLOC_API ")
    lines = decl[cut:].split("\n")
    return "\n".join([lines[0]] + [l[cut:] if l[:cut].isspace() else l for l in lines[1:]])


def cell(text):
    return inline(text) if text else ""


def member_table(block):
    if block["kind"] == "struct":
        rows = ["| field | type | meaning |", "|---|---|---|"]
    else:
        rows = ["| value | = | meaning |", "|---|---|---|"]
    notes = []
    for decl, comment in block["members"]:
        if decl is None:
            notes.append(comment)
            continue
        decl = re.sub(r"\s+", " ", decl)
        if block["kind"] == "struct":
            m = re.match(r"^(.*?)(\w+)(\[\w+\])?$", decl)  # "double iou[5]": type double[5]
            ctype, name = m.group(1).replace(" *", "*").strip(), m.group(2)
            ctype = ctype.replace("*", " *").replace("  ", " ") + (m.group(3) or "")
            rows.append(f"| `{name}` | `{ctype}` | {cell(comment)} |")
        else:
            name, _, value = (p.strip() for p in decl.partition("="))
            rows.append(f"| `{name}` | {value} | {cell(comment)} |")
    return "\n".join(rows) + ("\n\n" + "\n".join(inline(n) for n in notes) if notes else "")


def anchor(title):
    """GitHub's heading anchor: lowercase, punctuation other than - and _ dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def render(blocks, header_name, version):
    out = [f"# libafloc {version} API reference", "",
           f"Generated from `{header_name}` by `scripts/gen_api_reference.py`: do not edit by hand. "
           "The header is authoritative; the `api_reference` test fails when this file is stale "
           f"(regenerate with `/usr/bin/python3 scripts/gen_api_reference.py -o include/afloc/API.md`).",
           ""]
    # Contents: sections and subsections with the symbols each one declares.
    toc, current = [], None
    for b in blocks:
        if b["kind"] in ("section", "subsection"):
            level = "" if b["kind"] == "section" else "  "
            toc.append([f"{level}- [{b['title']}](#{anchor(b['title'])})", []])
        elif b["kind"] in ("function", "struct", "enum", "opaque", "callback") and toc:
            toc[-1][1].append(f"[`{b['name']}`](#{anchor(b['name'])})")
    out.append("## Contents")
    out.append("")
    out.append("- [Conventions](#conventions)")
    for line, names in toc:
        out.append(line + (": " + ", ".join(names) if names else ""))
    out.append("")

    i = 0
    while i < len(blocks):
        b = blocks[i]
        kind = b["kind"]
        if kind == "intro":
            out += ["## Conventions", "", prose(b["lines"]), ""]
        elif kind == "section":
            out += [f"## {b['title']}", ""]
        elif kind == "subsection":
            out += [f"### {b['title']}", ""]
        elif kind == "prose":
            out += [prose(b["lines"]), ""]
        elif kind == "define":
            group = [b]
            while i + 1 < len(blocks) and blocks[i + 1]["kind"] == "define" and not blocks[i + 1]["doc"]:
                i += 1
                group.append(blocks[i])
            if b["doc"]:
                out += [prose(b["doc"]), ""]
            out += ["| constant | value | meaning |", "|---|---|---|"]
            out += [f"| `{d['name']}` | `{d['value']}` | {cell(d['comment'])} |" for d in group]
            out.append("")
        else:
            what = {"function": "function", "struct": "struct", "enum": "enum",
                    "opaque": "opaque handle", "callback": "callback type"}[kind]
            out += [f"#### {b['name']}", "", f"*{what}*", ""]
            if kind in ("function", "callback"):
                out += ["```c", declaration(b["decl"]), "```", ""]
            elif kind == "opaque":
                out += ["```c", f"typedef struct {b['name']} {b['name']};", "```", ""]
            if b["doc"]:
                out += [prose(b["doc"]), ""]
            if kind in ("struct", "enum"):
                out += [member_table(b), ""]
        i += 1
    return "\n".join(out).rstrip("\n") + "\n"


def lint(blocks):
    """Public functions without a doc comment, or whose comment does not say since when."""
    problems = []
    for b in blocks:
        if b["kind"] == "function":
            doc = " ".join(b["doc"])
            if not doc:
                problems.append(f"{b['name']}: no doc comment directly above the declaration")
            elif "Since" not in doc:
                problems.append(f"{b['name']}: the doc comment does not say \"Since 0.x\"")
    return problems


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("header", nargs="?",
                        default=os.path.join(here, "..", "include", "afloc", "afloc.h"))
    parser.add_argument("-o", "--output", default=None,
                        help="where to write (default: API.md beside the header; - for stdout)")
    parser.add_argument("--check", metavar="API_MD",
                        help="compare the result with this file; exit 1 if it differs")
    args = parser.parse_args()
    with open(args.header, encoding="utf-8") as f:
        text = f.read()
    version = ".".join(re.search(rf"#define AFLOC_VERSION_{p} (\d+)", text).group(1)
                       for p in ("MAJOR", "MINOR", "PATCH"))
    try:
        blocks = parse(text)
    except SyntaxError as e:
        print(f"{args.header}: {e}", file=sys.stderr)
        return 1
    result = render(blocks, "include/afloc/afloc.h", version)
    output = args.output or os.path.join(os.path.dirname(args.header), "API.md")
    if output == "-":
        sys.stdout.write(result)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(result)
    functions = sum(1 for b in blocks if b["kind"] == "function")
    types = sum(1 for b in blocks if b["kind"] in ("struct", "enum", "opaque", "callback"))
    if not args.check:
        return 0
    failed = False
    for problem in lint(blocks):
        print("missing documentation:", problem)
        failed = True
    with open(args.check, encoding="utf-8") as f:
        committed = f.read()
    if committed != result:
        diff = list(difflib.unified_diff(committed.splitlines(), result.splitlines(),
                                         args.check, "regenerated", lineterm="", n=1))
        print("\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else ""))
        print(f"FAIL: {args.check} is stale ({len(diff)} diff lines); regenerate it with "
              "/usr/bin/python3 scripts/gen_api_reference.py -o include/afloc/API.md")
        failed = True
    if not failed:
        print(f"api_reference: {args.check} matches the header ({functions} functions, "
              f"{types} types, {len(result.splitlines())} lines)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
