"""Prints the names a Python host sees in the connector component, as
wasmtime-py introspects them (`Component.type`), in a stable sorted form.

Usage: python names.py WASM_PATH  (tests/python/names.snapshot holds the
output for the current WIT; a diff there is an interface change a Python
user will see).

Per interface its functions (WIT name, parameters, and the method of
host-test/python/sentinel_host.py); per named type its record fields (the
attribute names of wasmtime-py's `Record`, dashes included), variant cases
(and whether wasmtime-py lifts it as a `Variant` or as the bare payload) and
enum cases; then the names that read badly from Python.
"""

from __future__ import annotations

import builtins
import keyword
import os
import sys
from typing import Dict, List, Set, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "host-test", "python"))
from sentinel_host import MAIN_INTERFACE, Host, _snake  # noqa: E402
from wasmtime.component import (  # noqa: E402
    ComponentInstanceType, EnumType, FuncType, ListType, OptionType, RecordType, ResultType, TupleType, ValType,
    VariantType,
)

# Builtins a parameter or local named like this would shadow, and which a
# reader would notice (not every builtin: `id` and `type` are the usual ones).
SHADOWED = {name for name in dir(builtins) if not name.startswith("_")}
# Fixed, not keyword.softkwlist, so the snapshot does not change with Python (3.12 added `type`).
SOFT_KEYWORDS = {"_", "case", "match", "type"}


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print("usage: python names.py WASM_PATH", file=sys.stderr)
        return 2
    host = Host(argv[1], allowed_origins=[])
    host.close()
    engine, lines = host.engine, []

    named: List[Tuple[str, str, ValType]] = []  # (interface, type name, type)
    functions: Dict[str, List[Tuple[str, FuncType]]] = {}
    for full_name, extern in host.component.type.exports(engine).items():
        if not isinstance(extern.ty, ComponentInstanceType):
            continue
        interface = full_name.split("/")[-1].split("@")[0]
        for name, item in extern.ty.exports(engine).items():
            ty = item.ty
            if isinstance(ty, FuncType):
                functions.setdefault(interface, []).append((name, ty))
            elif isinstance(ty, (RecordType, VariantType, EnumType)):
                named.append((interface, name, ty))

    def type_name(ty: ValType) -> str:
        for _, name, candidate in named:
            if type(candidate) is type(ty) and candidate == ty:
                return name
        if isinstance(ty, ListType):
            return f"list<{type_name(ty.element)}>"
        if isinstance(ty, OptionType):
            return f"option<{type_name(ty.payload)}>"
        if isinstance(ty, ResultType):
            ok = type_name(ty.ok) if ty.ok is not None else "_"
            return f"result<{ok}, {type_name(ty.err)}>" if ty.err is not None else f"result<{ok}>"
        if isinstance(ty, TupleType):
            return f"tuple<{', '.join(type_name(e) for e in ty.elements)}>"
        return {"BorrowType": "borrow<connection>", "OwnType": "own<connection>"}.get(
            type(ty).__name__, type(ty).__name__.lower())

    # name -> (why it reads badly, where it occurs)
    bad: Dict[str, Tuple[str, Set[str]]] = {}

    def check(name: str, where: str, local: bool = True) -> None:
        snake = _snake(name)
        if keyword.iskeyword(snake) or snake in SOFT_KEYWORDS:
            why = "a Python keyword: only as a dict key or **{...}, never as a keyword argument"
        elif snake in SHADOWED and local:  # a method name shadows nothing
            why = f"shadows the builtin {snake}() where it is a parameter or a local"
        else:
            return
        bad.setdefault(snake, (why, set()))[1].add(where)

    for interface in sorted(functions):
        lines.append(f"interface {interface}")
        for name, ty in sorted(functions[interface]):
            params = [p for p, _ in ty.params]
            result = f" -> {type_name(ty.result)}" if ty.result is not None else ""
            short = name.split(".")[-1]
            py_params = [_snake(p) for p, t in ty.params if type(t).__name__ != "BorrowType"]
            if name.startswith("[static]"):
                py = f"host.open({', '.join(py_params)})"
            else:
                where = "connection" if interface == MAIN_INTERFACE else f"connection.{_snake(interface)}"
                py = f"{where}.{_snake(short)}({', '.join(py_params)})"
            lines.append(f"  func {name}({', '.join(params)}){result}")
            lines.append(f"      python: {py}")
            for param in params:
                check(param, f"parameter of {interface}.{short}")
            check(short, f"function of {interface}", local=False)

    groups: Dict[Tuple[str, str, str], List[str]] = {}
    for interface, name, ty in named:
        if isinstance(ty, RecordType):
            body = "fields " + ", ".join(field for field, _ in ty.fields)
            for field, _ in ty.fields:
                check(field, f"field of {name}")
            kind = "record"
        elif isinstance(ty, VariantType):
            shape = "Variant(tag, payload)" if ty._tagged() else "bare payload, None for a payload-less case"
            body = "cases " + ", ".join(case + ("(..)" if payload is not None else "")
                                        for case, payload in ty.cases) + f"; wasmtime-py lifts: {shape}"
            kind = "variant"
        else:
            assert isinstance(ty, EnumType)
            body, kind = "cases " + ", ".join(ty.names) + "; wasmtime-py lifts: str", "enum"
        # The same type re-exported by several interfaces (`use types.{...}`) is listed once.
        key = (name, kind, body)
        groups.setdefault(key, []).append(interface)
    for (name, kind, body), interfaces in sorted(groups.items()):
        lines.append(f"{kind} {name} [{', '.join(sorted(interfaces))}]: {body}")

    lines.append("names that read badly from Python:")
    for name, (why, places) in sorted(bad.items()):
        lines.append(f"  {name}: {why}; {'; '.join(sorted(places))}")
    lines.append("  every multi-word field: wasmtime-py's Record needs getattr(record, 'tenant-id') "
                 "(sentinel_host's dicts use tenant_id)")
    for (name, kind, body), _ in sorted(groups.items()):
        if "None for a payload-less case" in body:
            lines.append(f"  variant {name}: wasmtime-py lifts its payload-less case as None, so an "
                         f"option<{name}> becomes a tagged Variant('none' | 'some', ...)")
    shapes: Dict[str, int] = {}
    for (name, _, _) in groups:
        shapes[name] = shapes.get(name, 0) + 1
    twice = sorted(name for name, count in shapes.items() if count > 1)
    lines.append(f"  one name, two shapes (types vs graph-security): {', '.join(twice)}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
