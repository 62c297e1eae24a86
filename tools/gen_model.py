#!/usr/bin/env python3
"""gen_model.py - turn the official FHIR R4 (4.0.1) definitions into the
compact C tables behind src/model/model.h.

Usage: python3 tools/gen_model.py <fhir-r4 dir> <output dir>
       (`make regen` runs: python3 tools/gen_model.py ../shared/data/fhir-r4 src/model)

Reads profiles-types.json, profiles-resources.json, search-parameters.json,
valuesets.json and CompartmentDefinition-patient.json; writes model_int.h (the
table structs) and model_tables_*.c (the tables). Standard library only; the
output is deterministic (everything is sorted) so regenerating from the same
input gives byte-identical files. See tools/README.md.
"""

import json
import os
import sys

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
# FHIRPath system types a few elements carry without the fhir-type extension.
SYSTEM_TO_FHIR = {
    "String": "string", "Boolean": "boolean", "Integer": "integer",
    "Decimal": "decimal", "Date": "date", "DateTime": "dateTime", "Time": "time",
}
# The JSON shape of a primitive follows from the FHIRPath type of its value
# element, inherited along baseDefinition (positiveInt -> integer).
SYSTEM_TO_JSON = {
    "Boolean": "MODEL_JSON_BOOLEAN", "Integer": "MODEL_JSON_INTEGER",
    "Decimal": "MODEL_JSON_NUMBER",
}
SP_TYPES = ["number", "date", "string", "token", "reference", "composite",
            "quantity", "uri", "special"]

MAX_FILE = 1900 * 1024  # stay under the 2 MiB per generated file budget


def load_bundle(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("resourceType") == "Bundle":
        return [e["resource"] for e in doc.get("entry", []) if "resource" in e]
    return [doc]


def die(msg):
    sys.stderr.write("gen_model: " + msg + "\n")
    sys.exit(1)


# ---------------------------------------------------------------- types

class Prop:
    """One JSON property of a type (a choice element yields one per type)."""

    def __init__(self, json_name, element, type_name, is_array, is_choice, minimum, binding):
        self.json_name = json_name
        self.element = element
        self.type_name = type_name
        self.is_array = is_array
        self.is_choice = is_choice
        self.min = minimum
        self.binding = binding  # value set URL of a required binding on a code, or None
        self.choice_types = None  # for choice props: the list of type names
        self.summary = False  # isSummary: part of _summary=true


class Type:
    def __init__(self, name, kind, base, abstract):
        self.name = name
        self.kind = kind  # MODEL_KIND_*
        self.base = base  # type name or None
        self.abstract = abstract
        self.json = "MODEL_JSON_NONE"
        self.props = []  # definition order


def element_type_codes(el, sd_kind, root):
    """The FHIR type names of an element, mapping FHIRPath system types."""
    out = []
    for t in el.get("type", []):
        code = t["code"]
        if code.startswith(SYSTEM_PREFIX):
            fhir = None
            for x in t.get("extension", []):
                if x.get("url") == FHIR_TYPE_EXT:
                    fhir = x.get("valueUrl")
            code = fhir or SYSTEM_TO_FHIR.get(code[len(SYSTEM_PREFIX):])
            if code is None:
                die("unmapped system type on " + el["path"])
            # Resource.id is of type id (resource.html); the published JSON
            # records the FHIRPath System.String with fhir-type "string".
            if sd_kind == "resource" and el["path"] == root + ".id":
                code = "id"
        out.append(code)
    return out


def cap_first(s):
    return s[0].upper() + s[1:]


def build_types(structure_defs):
    types = {}
    value_system = {}  # primitive name -> FHIRPath system type of its value
    bases = {}
    for sd in structure_defs:
        name = sd["type"]
        kind = sd["kind"]
        if kind == "primitive-type":
            mkind = "MODEL_KIND_PRIMITIVE"
        elif kind == "complex-type":
            mkind = "MODEL_KIND_COMPLEX"
        else:
            mkind = "MODEL_KIND_RESOURCE"
        base = None
        if sd.get("baseDefinition"):
            base = sd["baseDefinition"].rsplit("/", 1)[1]
        bases[name] = base
        t = Type(name, mkind, base, bool(sd.get("abstract")))
        types[name] = t
        elements = sd["snapshot"]["element"]
        children = {}
        for el in elements[1:]:
            parent, _, _ = el["path"].rpartition(".")
            children.setdefault(parent, []).append(el)
        if kind == "primitive-type":
            for el in elements:
                if el["path"] == name + ".value":
                    value_system[name] = el["type"][0]["code"][len(SYSTEM_PREFIX):]
        add_children(types, t, name, children, kind, name)
    # primitive JSON shapes along the base chain
    for name, t in types.items():
        if t.kind != "MODEL_KIND_PRIMITIVE":
            continue
        n = name
        shape = "MODEL_JSON_STRING"
        while n is not None and n in types and types[n].kind == "MODEL_KIND_PRIMITIVE":
            if value_system.get(n) in SYSTEM_TO_JSON:
                shape = SYSTEM_TO_JSON[value_system[n]]
                break
            n = bases.get(n)
        t.json = shape
    return types


def add_children(types, t, path, children, sd_kind, root):
    for el in children.get(path, []):
        ename = el["path"].rsplit(".", 1)[1]
        if t.kind == "MODEL_KIND_PRIMITIVE" and ename == "value":
            continue  # the primitive's own value is the JSON value itself
        maxc = el.get("max", "1")
        is_array = maxc == "*" or int(maxc) > 1
        minimum = int(el.get("min", 0))
        binding = None
        b = el.get("binding")
        if b and b.get("strength") == "required" and b.get("valueSet"):
            binding = b["valueSet"].split("|")[0]
        if "contentReference" in el:
            codes = [el["contentReference"].lstrip("#")]
        elif el["path"] in children:
            codes = element_type_codes(el, sd_kind, root)
            bb = Type(el["path"], "MODEL_KIND_BACKBONE", codes[0] if codes else "BackboneElement", False)
            types[el["path"]] = bb
            add_children(types, bb, el["path"], children, sd_kind, root)
            codes = [el["path"]]
        else:
            codes = element_type_codes(el, sd_kind, root)
        if not codes:
            die("element without type: " + el["path"])
        if ename.endswith("[x]"):
            stem = ename[:-3]
            group = []
            for c in codes:
                p = Prop(stem + cap_first(c), ename, c, is_array, True, minimum,
                         binding if c == "code" else None)
                group.append(p)
            for p in group:
                p.choice_types = codes
                p.summary = bool(el.get("isSummary"))
            t.props.extend(group)
        else:
            if len(codes) != 1:
                die("several types on a non-choice element: " + el["path"])
            p = Prop(ename, ename, codes[0], is_array, False, minimum,
                     binding if codes[0] == "code" else None)
            p.summary = bool(el.get("isSummary"))
            t.props.append(p)


# ---------------------------------------------------------------- value sets

class Terminology:
    def __init__(self, resources):
        self.value_sets = {}
        self.code_systems = {}
        for r in resources:
            if r["resourceType"] == "ValueSet":
                self.value_sets[r["url"]] = r
            elif r["resourceType"] == "CodeSystem":
                self.code_systems[r["url"]] = r
        self.cache = {}

    def system_codes(self, url):
        cs = self.code_systems.get(url)
        if cs is None or cs.get("content") != "complete":
            return None
        out = set()

        def walk(concepts):
            for c in concepts:
                out.add(c["code"])
                walk(c.get("concept", []))

        walk(cs.get("concept", []))
        return out

    def expand(self, url, stack=()):
        """All codes of an enumerable value set, or None if it is not one."""
        if url in self.cache:
            return self.cache[url]
        if url in stack:
            return None
        vs = self.value_sets.get(url)
        result = None
        if vs is not None and "compose" in vs and "exclude" not in vs["compose"]:
            result = set()
            for inc in vs["compose"].get("include", []):
                # one include is the intersection of its system part and
                # its value sets; the includes are united
                if "filter" in inc:
                    result = None
                    break
                sets = []
                if "concept" in inc:
                    sets.append({c["code"] for c in inc["concept"]})
                elif "system" in inc:
                    sets.append(self.system_codes(inc["system"]))
                for sub in inc.get("valueSet", []):
                    sets.append(self.expand(sub.split("|")[0], stack + (url,)))
                if not sets or any(x is None for x in sets):
                    result = None
                    break
                part = sets[0]
                for x in sets[1:]:
                    part = part & x
                result |= part
            if result is not None and not result:
                result = None
        self.cache[url] = result
        return result


# ---------------------------------------------------------------- string pool

class Pool:
    def __init__(self):
        self.strings = set()
        self.offsets = None

    def add(self, s):
        assert self.offsets is None
        self.strings.add(s)

    def freeze(self):
        self.offsets = {}
        off = 0
        self.order = sorted(self.strings)
        for s in self.order:
            self.offsets[s] = off
            off += len(s.encode("utf-8")) + 1
        self.size = off

    def __getitem__(self, s):
        return self.offsets[s]


def c_string(s):
    out = []
    for ch in s.encode("utf-8"):
        c = chr(ch)
        if c in "\\\"":
            out.append("\\" + c)
        elif c == "?":
            out.append("\\?")  # no trigraphs under -std=c11
        elif 32 <= ch < 127:
            out.append(c)
        else:
            out.append("\\%03o" % ch)
    return "".join(out)


# ---------------------------------------------------------------- output

HEADER_TEMPLATE = """/*
 * model_int.h - private to src/model: the layout of the FHIR R4 tables that
 * tools/gen_model.py generates into model_tables_*.c, and the helpers model.c
 * shares with validate.c. GENERATED by tools/gen_model.py - do not edit; change
 * the generator and run `make regen`. All tables are immutable static data;
 * strings are offsets into model__pool.
 */
#ifndef BRON_MODEL_INT_H
#define BRON_MODEL_INT_H

#include <stdint.h>

#include "model.h"

enum {
	MODEL__ARRAY = 1,  /* max cardinality > 1: the JSON value is an array */
	MODEL__CHOICE = 2, /* the element is a choice type [x] */
	MODEL__MIN1 = 4,   /* min cardinality is 1 */
	MODEL__SUMMARY = 8 /* isSummary: kept by _summary=true */
};

struct model_type {
	uint32_t name;        /* pool offset of the type name */
	int16_t base;         /* index into model__types of the base type, -1 at the root */
	uint8_t kind;         /* model_kind */
	uint8_t json;         /* model_json, for primitives */
	uint8_t abstract;     /* 1 for Resource, DomainResource, Element, BackboneElement, ... */
	uint16_t prop_count;  /* JSON properties, own and inherited, choices expanded */
	uint32_t prop_first;  /* into model__props (definition order) and model__prop_order */
	uint32_t sp_first;    /* into model__sp_by_type: search params sorted by code */
	uint16_t sp_count;
	int32_t compartment;  /* index into model__strlists of the Patient compartment
	                       * param codes (NULL-terminated), -1 when not in it */
};

typedef struct model__prop {
	uint32_t name;      /* pool offset of the JSON name: "valueQuantity" */
	uint32_t element;   /* pool offset of the element name: "value[x]" */
	uint16_t type;      /* index into model__types */
	uint16_t binding;   /* 1 + index into model__bindings, 0 when none */
	uint16_t choice;    /* for choice props: index into model__choice_lists */
	uint8_t flags;      /* MODEL__ARRAY | MODEL__CHOICE | MODEL__MIN1 | MODEL__SUMMARY */
} model__prop;

/* A required binding whose value set could be enumerated from the spec. */
typedef struct model__binding {
	uint32_t url;       /* pool offset of the value set URL */
	uint32_t first;     /* into model__binding_codes, sorted by strcmp */
	uint32_t count;
} model__binding;

/* The concrete types of one choice element. */
typedef struct model__choice_list {
	uint32_t first;     /* into model__choice_types */
	uint32_t count;
} model__choice_list;

#define MODEL__TYPE_COUNT @TYPE_COUNT@
#define MODEL__PROP_COUNT @PROP_COUNT@
#define MODEL__RESOURCE_COUNT @RESOURCE_COUNT@
#define MODEL__SP_COUNT @SP_COUNT@
#define MODEL__BINDING_COUNT @BINDING_COUNT@
#define MODEL__CHOICE_LIST_COUNT @CHOICE_LIST_COUNT@

/* Indices into model__types of the primitive types, for dispatching checks. */
@PRIMITIVE_DEFINES@

extern const char model__pool[];
extern const model_type model__types[MODEL__TYPE_COUNT];       /* sorted by name */
extern const model__prop model__props[MODEL__PROP_COUNT];
extern const uint16_t model__prop_order[MODEL__PROP_COUNT];     /* per type: local indices by name */
extern const uint16_t model__resources[MODEL__RESOURCE_COUNT];  /* concrete resource types */
extern const model_search_param model__search_params[MODEL__SP_COUNT]; /* sorted by id */
extern const model_search_param *const model__sp_by_type[];
extern const model_sp_component model__sp_components[];
extern const char *const model__strlists[];
extern const model__binding model__bindings[MODEL__BINDING_COUNT];
extern const uint32_t model__binding_codes[];
extern const model__choice_list model__choice_lists[MODEL__CHOICE_LIST_COUNT];
extern const model_type *const model__choice_types[];

/* Shared by model.c and validate.c. */
static inline const char *model__str(uint32_t off) { return model__pool + off; }
/* The table entry for JSON property `name` of t, or NULL. */
const model__prop *model__prop_lookup(const model_type *t, const char *name);
/* 1 if `code` is in required binding `binding` (1-based, as in model__prop). */
int model__binding_allows(unsigned binding, const char *code);
/* primitive.c: format of a string primitive (type index MODEL__T_*), range of
 * an integer one; NULL when fine, else a static description of the problem. */
const char *model__check_string(int type_idx, const char *s, size_t len);
const char *model__check_integer(int type_idx, json_int_t v);

#endif
"""

FILE_HEADER = """/*
 * %s - %s
 * GENERATED by tools/gen_model.py from the FHIR R4 4.0.1 definitions; do not
 * edit, run `make regen`. Immutable static data, laid out as model_int.h says.
 */
"""


class Writer:
    """Collects lines into files of bounded size."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.files = []

    def write(self, name, what, body_lines):
        text = FILE_HEADER % (name, what) + "\n#include <stddef.h>\n\n#include \"model_int.h\"\n\n" + \
            "\n".join(body_lines) + "\n"
        if len(text.encode("utf-8")) > MAX_FILE:
            die("%s would be %d bytes; split it" % (name, len(text)))
        path = os.path.join(self.outdir, name)
        write_if_changed(path, text)
        self.files.append(name)


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Spec:
    """The parts of the R4 definitions the tables are made of."""

    def __init__(self, src):
        self.types = load_types(src)
        self.bindings = load_bindings(src, self.types)
        self.params = [r for r in load_bundle(os.path.join(src, "search-parameters.json"))
                       if r.get("resourceType") == "SearchParameter"]
        self.params.sort(key=lambda r: r["id"])
        self.by_url = {r["url"]: r for r in self.params}
        for r in self.params:
            if r["type"] not in SP_TYPES:
                die("unknown search param type " + r["type"])
            for c in r.get("component", []):
                if c["definition"] not in self.by_url:
                    die("unresolvable component %s of %s" % (c["definition"], r["id"]))
        doc = load_bundle(os.path.join(src, "CompartmentDefinition-patient.json"))[0]
        self.compartment = {e["code"]: list(e["param"])
                            for e in doc.get("resource", []) if e.get("param")}

    def derives(self, name, ancestor):
        while name is not None:
            if name == ancestor:
                return True
            name = self.types[name].base
        return False

    def strings(self):
        """Every string the tables refer to."""
        for t in self.types.values():
            yield t.name
            for p in t.props:
                yield p.json_name
                yield p.element
        for url, codes in self.bindings.items():
            yield url
            yield from codes
        for r in self.params:
            for k in ("id", "url", "code", "expression"):
                if k in r:
                    yield r[k]
            for k in ("base", "target", "modifier"):
                yield from r.get(k, [])
            for c in r.get("component", []):
                yield c["definition"]
                yield c["expression"]
                yield self.by_url[c["definition"]]["code"]
        for codes in self.compartment.values():
            yield from codes


def load_types(src):
    sds = []
    for fname in ("profiles-types.json", "profiles-resources.json"):
        for r in load_bundle(os.path.join(src, fname)):
            if r.get("resourceType") != "StructureDefinition":
                continue
            if r.get("kind") not in ("primitive-type", "complex-type", "resource"):
                continue
            if r.get("derivation") == "constraint":
                continue  # profiles such as SimpleQuantity are not types
            sds.append(r)
    types = build_types(sds)
    for t in types.values():
        for p in t.props:
            if p.type_name not in types:
                die("%s.%s has unknown type %s" % (t.name, p.json_name, p.type_name))
        if t.base is not None and t.base not in types:
            die("%s has unknown base %s" % (t.name, t.base))
        names = [p.json_name for p in t.props]
        if len(set(names)) != len(names):
            die("duplicate JSON property in " + t.name)
    return types


def load_bindings(src, types):
    """Value set URL -> sorted codes for the enumerable required bindings;
    drops the binding from properties whose value set is not enumerable."""
    term = Terminology(load_bundle(os.path.join(src, "valuesets.json")))
    bindings = {}
    for t in types.values():
        for p in t.props:
            if p.binding is None:
                continue
            codes = term.expand(p.binding)
            if codes is None:
                p.binding = None  # not enumerable from the spec: not checked
            else:
                bindings[p.binding] = sorted(codes)
    return bindings


class Tables:
    """The index tables, computed from a Spec and a frozen Pool."""

    def __init__(self, spec, pool):
        self.spec = spec
        self.pool = pool
        self.type_names = sorted(spec.types)
        self.type_index = {n: i for i, n in enumerate(self.type_names)}
        if len(self.type_names) >= 32767:
            die("too many types for int16 indices")
        self.strlists = []  # NULL-terminated lists: bases, targets, modifiers, compartments
        self.strlist_index = {}
        self.build_search_by_type()
        self.build_bindings()
        self.build_types_and_props()
        self.build_search_rows()
        self.resources = [self.type_index[n] for n in self.type_names
                          if spec.types[n].kind == "MODEL_KIND_RESOURCE"
                          and not spec.types[n].abstract]

    def strlist(self, items):
        key = tuple(items)
        if key not in self.strlist_index:
            self.strlist_index[key] = len(self.strlists)
            self.strlists.extend(items)
            self.strlists.append(None)
        return self.strlist_index[key]

    def build_search_by_type(self):
        """Per resource type, the params that apply to it, sorted by code;
        those on Resource and DomainResource included."""
        spec = self.spec
        sp_index = {r["id"]: i for i, r in enumerate(spec.params)}
        self.sp_by_type = []
        self.sp_range = {}
        for name in self.type_names:
            if spec.types[name].kind != "MODEL_KIND_RESOURCE":
                continue
            chosen = {}
            for r in spec.params:
                if not any(spec.derives(name, b) for b in r["base"]):
                    continue
                prev = chosen.get(r["code"])
                # on a clash keep the parameter defined on the type itself
                if prev is None or (name in r["base"] and name not in prev["base"]):
                    chosen[r["code"]] = r
            first = len(self.sp_by_type)
            for code in sorted(chosen):
                self.sp_by_type.append(sp_index[chosen[code]["id"]])
            self.sp_range[name] = (first, len(self.sp_by_type) - first)

    def build_bindings(self):
        bindings = self.spec.bindings
        urls = sorted(bindings)
        self.binding_index = {u: i + 1 for i, u in enumerate(urls)}
        self.binding_codes = []
        self.binding_rows = []
        for u in urls:
            self.binding_rows.append((self.pool[u], len(self.binding_codes), len(bindings[u])))
            self.binding_codes.extend(self.pool[c] for c in bindings[u])

    def choice_list(self, type_names):
        key = tuple(type_names)
        if key not in self.choice_index:
            self.choice_index[key] = len(self.choice_lists)
            self.choice_lists.append((len(self.choice_types), len(key)))
            self.choice_types.extend(self.type_index[c] for c in key)
        return self.choice_index[key]

    def build_types_and_props(self):
        pool = self.pool
        self.choice_types = []
        self.choice_lists = []
        self.choice_index = {}
        self.props = []
        self.prop_order = []
        self.type_rows = []
        for name in self.type_names:
            t = self.spec.types[name]
            first = len(self.props)
            for p in t.props:
                flags = [f for f, on in (("MODEL__ARRAY", p.is_array), ("MODEL__CHOICE", p.is_choice),
                                         ("MODEL__MIN1", p.min >= 1),
                                         ("MODEL__SUMMARY", p.summary)) if on]
                self.props.append((pool[p.json_name], pool[p.element], self.type_index[p.type_name],
                                   self.binding_index.get(p.binding, 0),
                                   self.choice_list(p.choice_types) if p.is_choice else 0,
                                   "|".join(flags) or "0"))
            self.prop_order.extend(sorted(range(len(t.props)),
                                          key=lambda i: t.props[i].json_name.encode("utf-8")))
            spf, spc = self.sp_range.get(name, (0, 0))
            comp = self.strlist(self.spec.compartment[name]) if name in self.spec.compartment else -1
            self.type_rows.append((name, pool[name], self.type_index[t.base] if t.base else -1,
                                   t.kind, t.json, 1 if t.abstract else 0, len(t.props), first,
                                   spf, spc, comp))
        if max(len(t.props) for t in self.spec.types.values()) >= 1 << 16:
            die("a type has too many properties for uint16 indices")

    def build_search_rows(self):
        self.components = []
        self.sp_rows = []
        for r in self.spec.params:
            bases = self.strlist(r["base"])
            targets = self.strlist(sorted(r["target"])) if r.get("target") else None
            mods = self.strlist(sorted(r["modifier"])) if r.get("modifier") else None
            first = len(self.components)
            for c in r.get("component", []):
                ref = self.spec.by_url[c["definition"]]
                self.components.append((self.pool[c["definition"]], self.pool[ref["code"]],
                                        self.pool[c["expression"]]))
            self.sp_rows.append((r, bases, targets, mods, first, len(self.components) - first))


def write_header(out, spec, tab):
    header = HEADER_TEMPLATE
    for k, v in (("TYPE_COUNT", len(tab.type_names)), ("PROP_COUNT", len(tab.props)),
                 ("RESOURCE_COUNT", len(tab.resources)), ("SP_COUNT", len(spec.params)),
                 ("BINDING_COUNT", len(tab.binding_rows)),
                 ("CHOICE_LIST_COUNT", len(tab.choice_lists))):
        header = header.replace("@%s@" % k, str(v))
    defines = ["#define MODEL__T_%s %d" % (n.upper(), tab.type_index[n]) for n in tab.type_names
               if spec.types[n].kind == "MODEL_KIND_PRIMITIVE"]
    header = header.replace("@PRIMITIVE_DEFINES@", "\n".join(defines))
    write_if_changed(os.path.join(out, "model_int.h"), header)


def write_pool(w, pool):
    lines = ["/* %d strings, %d bytes; offsets are referenced by every other table. */" %
             (len(pool.order), pool.size), "const char model__pool[] ="]
    for s in pool.order:
        lines.append('\t"%s\\0"' % c_string(s))
    lines[-1] += ";"
    w.write("model_tables_pool.c", "the string pool of the FHIR R4 model tables.", lines)


def write_types(w, tab):
    lines = ["const model_type model__types[MODEL__TYPE_COUNT] = {",
             "\t/* name, base, kind, json, abstract, prop_count, prop_first, sp_first, sp_count, "
             "compartment */"]
    for row in tab.type_rows:
        lines.append("\t{%d, %d, %s, %s, %d, %d, %d, %d, %d, %d}, /* %s */" % (row[1:] + (row[0],)))
    lines.append("};\n")
    lines.append("const uint16_t model__resources[MODEL__RESOURCE_COUNT] = {")
    lines.extend(wrap(["%d" % i for i in tab.resources]))
    lines.append("};\n")
    lines.append("const model__choice_list model__choice_lists[MODEL__CHOICE_LIST_COUNT] = {")
    lines.extend(wrap(["{%d, %d}" % cl for cl in tab.choice_lists]))
    lines.append("};\n")
    lines.append("const model_type *const model__choice_types[] = {")
    lines.extend(wrap(["&model__types[%d]" % i for i in tab.choice_types]))
    lines.append("};\n")
    lines.append("const model__binding model__bindings[MODEL__BINDING_COUNT] = {")
    for row in tab.binding_rows:
        lines.append("\t{%d, %d, %d}," % row)
    lines.append("};\n")
    lines.append("const uint32_t model__binding_codes[] = {")
    lines.extend(wrap(["%d" % c for c in tab.binding_codes]))
    lines.append("};")
    w.write("model_tables_types.c", "types, choice lists and required bindings of FHIR R4.", lines)


def write_props(w, tab):
    lines = ["/* name, element, type, binding, choice list, flags */",
             "const model__prop model__props[MODEL__PROP_COUNT] = {"]
    for row in tab.props:
        lines.append("\t{%d, %d, %d, %d, %d, %s}," % row)
    lines.append("};\n")
    lines.append("const uint16_t model__prop_order[MODEL__PROP_COUNT] = {")
    lines.extend(wrap(["%d" % i for i in tab.prop_order]))
    lines.append("};")
    w.write("model_tables_props.c", "the JSON properties of every FHIR R4 type.", lines)


def write_search(w, tab):
    pool = tab.pool

    def sref(s):
        return "P + %d" % pool[s] if s is not None else "NULL"

    def lref(i):
        return "&model__strlists[%d]" % i if i is not None else "NULL"

    lines = ["#define P model__pool\n",
             "const char *const model__strlists[] = {"]
    lines.extend(wrap([sref(s) for s in tab.strlists], 6))
    lines.append("};\n")
    lines.append("const model_sp_component model__sp_components[] = {")
    for c in tab.components:
        lines.append("\t{P + %d, P + %d, P + %d}," % c)
    lines.append("};\n")
    lines.append("/* id, url, code, type, expression, bases, targets, modifiers, components, count */")
    lines.append("const model_search_param model__search_params[MODEL__SP_COUNT] = {")
    for r, bases, targets, mods, cf, nc in tab.sp_rows:
        lines.append("\t{%s, %s, %s, MODEL_SP_%s, %s, %s, %s, %s, %s, %d}," % (
            sref(r["id"]), sref(r["url"]), sref(r["code"]), r["type"].upper(),
            sref(r.get("expression")), lref(bases), lref(targets), lref(mods),
            "&model__sp_components[%d]" % cf if nc else "NULL", nc))
    lines.append("};\n")
    lines.append("const model_search_param *const model__sp_by_type[] = {")
    lines.extend(wrap(["&model__search_params[%d]" % i for i in tab.sp_by_type], 4))
    lines.append("};")
    w.write("model_tables_search.c", "search parameters and the Patient compartment of FHIR R4.",
            lines)


def wrap(items, per_line=12):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("\t" + ", ".join(items[i:i + per_line]) + ",")
    return lines


def main():
    if len(sys.argv) != 3:
        die("usage: gen_model.py <fhir-r4 dir> <output dir>")
    src, out = sys.argv[1], sys.argv[2]
    spec = Spec(src)
    pool = Pool()
    for s in spec.strings():
        pool.add(s)
    pool.freeze()
    tab = Tables(spec, pool)

    os.makedirs(out, exist_ok=True)
    w = Writer(out)
    write_header(out, spec, tab)
    write_pool(w, pool)
    write_types(w, tab)
    write_props(w, tab)
    write_search(w, tab)
    sys.stderr.write("gen_model: %d types (%d resources), %d properties, %d search params, "
                     "%d bindings, %d pool bytes\n" % (len(tab.type_names), len(tab.resources),
                                                       len(tab.props), len(spec.params),
                                                       len(tab.binding_rows), pool.size))


if __name__ == "__main__":
    main()
