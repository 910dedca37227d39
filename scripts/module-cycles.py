#!/usr/bin/env python3
"""Lists module dependency cycles inside each crate of the workspace.

A module is a file under `<crate>/src` (`a/b.rs` and `a/b/mod.rs` are `a::b`); it
depends on the top-level module `x` when its code outside `#[cfg(test)]` names
`crate::x`. Submodules of one top-level module count as that module. Prints each
cycle found (`a -> b -> a`) and exits 1 when there is one.

    scripts/module-cycles.py [CRATE_DIR ...]     # default: every workspace member
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def members():
    text = (ROOT / "Cargo.toml").read_text()
    m = re.search(r"members\s*=\s*\[([^\]]*)\]", text)
    return [ROOT / s.strip().strip('"') for s in m.group(1).split(",") if s.strip()]


def top_module(src: Path, path: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    if not parts or parts[0] in ("lib", "main"):
        return ""
    if parts[0] == "bin":
        return ""
    return parts[0]


def strip_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod ... { ... }` blocks (brace matched)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def graph(crate: Path):
    src = crate / "src"
    edges = {}
    for path in src.rglob("*.rs"):
        me = top_module(src, path)
        if not me:
            continue
        code = strip_tests(path.read_text())
        code = re.sub(r"//[^\n]*", "", code)
        deps = set(re.findall(r"\bcrate::(\w+)", code))
        # `use crate::{a, b::c}` groups
        for group in re.findall(r"\bcrate::\{([^}]*)\}", code):
            deps.update(re.findall(r"(?:^|,)\s*(\w+)", group))
        if path.parent != src and path.name != "mod.rs" or path.parent != src:
            deps.update(re.findall(r"\bsuper::super::(\w+)", code))
        edges.setdefault(me, set()).update(d for d in deps if d != me)
    return edges


def cycles(edges):
    found, seen = [], set()

    def visit(node, stack):
        if node in stack:
            cycle = stack[stack.index(node) :] + [node]
            key = frozenset(cycle)
            if key not in seen:
                seen.add(key)
                found.append(cycle)
            return
        for nxt in sorted(edges.get(node, ())):
            if nxt in edges:
                visit(nxt, stack + [node])

    for node in sorted(edges):
        visit(node, [])
    return found


def main():
    crates = [Path(a).resolve() for a in sys.argv[1:]] or members()
    bad = 0
    for crate in crates:
        for cycle in cycles(graph(crate)):
            print(f"{crate.name}: {' -> '.join(cycle)}")
            bad += 1
    if not bad:
        print(f"no module cycles in {', '.join(c.name for c in crates)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
