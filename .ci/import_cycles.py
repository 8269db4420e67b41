"""Fail if the package's imports form a cycle, imports inside functions included.

import-linter's layers contract forbids imports up the layers; this also catches a
circle inside one layer. Deferred (function-level) imports of the package's own modules
are listed; at most two are allowed, each with a comment saying why.
"""

import ast
import sys
from pathlib import Path

import grimp

graph = grimp.build_graph("jaxpanel")
modules = sorted(graph.modules)
edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}

# Tarjan's strongly connected components
index, low, on_stack, stack, cycles = {}, {}, set(), [], []
counter = [0]
sys.setrecursionlimit(10_000)


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on_stack.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on_stack.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1 or v in edges.get(v, ()):
            cycles.append(sorted(comp))


for m in modules:
    if m not in index:
        visit(m)

# deferred imports of the package's own modules
root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve() / "jaxpanel"
deferred = []
for path in sorted(root.rglob("*.py")):
    tree = ast.parse(path.read_text())
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            own = isinstance(node, ast.ImportFrom) and (
                node.level > 0 or (node.module or "").startswith("jaxpanel")
            )
            own = own or isinstance(node, ast.Import) and any(
                a.name.startswith("jaxpanel") for a in node.names
            )
            if own:
                deferred.append(f"{path.relative_to(root.parent)}:{node.lineno}")

for d in deferred:
    print(f"deferred import: {d}")
if cycles:
    for c in cycles:
        print("import cycle:", " <-> ".join(c))
    sys.exit(1)
if len(deferred) > 2:
    sys.exit(f"{len(deferred)} deferred imports of the package's own modules (at most 2)")
print(f"imports: {len(modules)} modules, no cycle, {len(deferred)} deferred")
