//! `docs/contract.md`, the contract reference, is generated from the WIT files' doc comments
//! and the host's table of the worlds it runs. This test fails when the file is not what the
//! WIT says today; `scripts/contract-reference` (this test with `PCHOST_BLESS=1`) rewrites it.

use pchost_runtime::{World, WorldVersion};
use std::fmt::Write;
use std::path::PathBuf;
use wit_parser::{Docs, Resolve, Type, TypeDefKind, TypeOwner, WorldItem};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A type as WIT writes it.
fn type_name(resolve: &Resolve, ty: &Type) -> String {
    let id = match ty {
        Type::Bool => return "bool".into(),
        Type::U8 => return "u8".into(),
        Type::U16 => return "u16".into(),
        Type::U32 => return "u32".into(),
        Type::U64 => return "u64".into(),
        Type::S8 => return "s8".into(),
        Type::S16 => return "s16".into(),
        Type::S32 => return "s32".into(),
        Type::S64 => return "s64".into(),
        Type::F32 => return "f32".into(),
        Type::F64 => return "f64".into(),
        Type::Char => return "char".into(),
        Type::String => return "string".into(),
        Type::ErrorContext => return "error-context".into(),
        Type::Id(id) => *id,
    };
    let def = &resolve.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    let inner = |t: &Option<Type>| t.as_ref().map_or("_".to_owned(), |t| type_name(resolve, t));
    match &def.kind {
        TypeDefKind::List(t) => format!("list<{}>", type_name(resolve, t)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", type_name(resolve, t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", type_name(resolve, k), type_name(resolve, v)),
        TypeDefKind::Option(t) => format!("option<{}>", type_name(resolve, t)),
        TypeDefKind::Result(r) => format!("result<{}, {}>", inner(&r.ok), inner(&r.err)),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types
                .iter()
                .map(|t| type_name(resolve, t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Type(t) => type_name(resolve, t),
        TypeDefKind::Future(t) => format!("future<{}>", inner(t)),
        TypeDefKind::Stream(t) => format!("stream<{}>", inner(t)),
        TypeDefKind::Handle(_) | TypeDefKind::Resource | TypeDefKind::Unknown => "resource".into(),
        other => panic!("an anonymous {} in the contract", other.as_str()),
    }
}

/// A doc comment as Markdown text, or nothing.
fn doc(docs: &Docs) -> String {
    docs.contents.as_deref().map(str::trim).unwrap_or_default().to_owned()
}

/// A doc comment on one line, for a table cell.
fn cell(docs: &Docs) -> String {
    doc(docs)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn compatibility(out: &mut String) {
    let host = env!("CARGO_PKG_VERSION");
    out.push_str(
        "## Compatibility\n\nWhich worlds each contract version has, and which host versions run plugins \
         built against it. A released version never changes and every later host keeps running it.\n\n\
         | contract | pricing-rule | approval-rule | run by pchost |\n|---|---|---|---|\n",
    );
    for version in WorldVersion::ALL {
        let has = |world: World| {
            if world.wit_name(version).is_some() {
                "yes"
            } else {
                "—"
            }
        };
        let _ = writeln!(
            out,
            "| {version} | {} | {} | {} and later (this host: {host}) |",
            has(World::PricingRule),
            has(World::ApprovalRule),
            version.first_host(),
        );
    }
    out.push('\n');
}

fn interface(resolve: &Resolve, id: wit_parser::InterfaceId, out: &mut String) {
    let iface = &resolve.interfaces[id];
    let _ = writeln!(out, "### interface `{}`\n", iface.name.as_deref().unwrap_or("(inline)"));
    let docs = doc(&iface.docs);
    if !docs.is_empty() {
        let _ = writeln!(out, "{docs}\n");
    }
    // Types used from other interfaces: named once, documented where they are declared.
    let used: Vec<_> = iface
        .types
        .iter()
        .filter_map(|(name, &ty)| match &resolve.types[ty].kind {
            TypeDefKind::Type(Type::Id(other)) => match resolve.types[*other].owner {
                TypeOwner::Interface(owner) if owner != id => Some(format!("`{name}` ({})", resolve.id_of(owner)?)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if !used.is_empty() {
        let _ = writeln!(out, "Uses {}.\n", used.join(", "));
    }
    for (name, &ty) in &iface.types {
        let def = &resolve.types[ty];
        if matches!(&def.kind, TypeDefKind::Type(Type::Id(other))
            if matches!(resolve.types[*other].owner, TypeOwner::Interface(owner) if owner != id))
        {
            continue;
        }
        let _ = writeln!(out, "#### {} `{name}`\n", def.kind.as_str());
        let docs = doc(&def.docs);
        if !docs.is_empty() {
            let _ = writeln!(out, "{docs}\n");
        }
        match &def.kind {
            TypeDefKind::Record(r) => {
                out.push_str("| field | type | meaning |\n|---|---|---|\n");
                for f in &r.fields {
                    let _ = writeln!(
                        out,
                        "| `{}` | `{}` | {} |",
                        f.name,
                        type_name(resolve, &f.ty),
                        cell(&f.docs)
                    );
                }
                out.push('\n');
            }
            TypeDefKind::Variant(v) => {
                out.push_str("| case | payload | meaning |\n|---|---|---|\n");
                for c in &v.cases {
                    let payload =
                        c.ty.as_ref()
                            .map_or("—".to_owned(), |t| format!("`{}`", type_name(resolve, t)));
                    let _ = writeln!(out, "| `{}` | {payload} | {} |", c.name, cell(&c.docs));
                }
                out.push('\n');
            }
            TypeDefKind::Enum(e) => {
                out.push_str("| case | meaning |\n|---|---|\n");
                for c in &e.cases {
                    let _ = writeln!(out, "| `{}` | {} |", c.name, cell(&c.docs));
                }
                out.push('\n');
            }
            TypeDefKind::Flags(f) => {
                out.push_str("| flag | meaning |\n|---|---|\n");
                for flag in &f.flags {
                    let _ = writeln!(out, "| `{}` | {} |", flag.name, cell(&flag.docs));
                }
                out.push('\n');
            }
            _ => {
                let _ = writeln!(out, "`type {name} = {}`\n", type_name(resolve, &Type::Id(ty)));
            }
        }
    }
    for (name, f) in &iface.functions {
        let params: Vec<_> = f
            .params
            .iter()
            .map(|p| format!("{}: {}", p.name, type_name(resolve, &p.ty)))
            .collect();
        let result = f
            .result
            .as_ref()
            .map(|t| format!(" -> {}", type_name(resolve, t)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "#### func `{name}`\n\n`{name}: func({}){result}`\n",
            params.join(", ")
        );
        let docs = doc(&f.docs);
        if !docs.is_empty() {
            let _ = writeln!(out, "{docs}\n");
        }
    }
}

fn reference() -> String {
    let mut resolve = Resolve::new();
    resolve.push_dir(repo_root().join("wit")).expect("wit/ parses");
    let mut out = String::from(
        "# The extension contract\n\n\
         <!-- Generated from wit/ by host/runtime/tests/contract_reference.rs: do not edit. After \
         changing a WIT file, run scripts/contract-reference; CI fails while this file is stale. -->\n\n\
         Every package, interface, world, type and function a plugin sees, with the doc comments of \
         the WIT files. How versions are added and kept: `docs/contract-versions.md`.\n\n",
    );
    compatibility(&mut out);
    let mut packages: Vec<_> = resolve.packages.iter().collect();
    packages.sort_by_key(|(_, p)| (p.name.namespace.clone(), p.name.name.clone(), p.name.version.clone()));
    for (_, package) in packages {
        let _ = writeln!(out, "## package `{}`\n", package.name);
        let docs = doc(&package.docs);
        if !docs.is_empty() {
            let _ = writeln!(out, "{docs}\n");
        }
        for (name, &world) in &package.worlds {
            let world = &resolve.worlds[world];
            let _ = writeln!(out, "### world `{name}`\n");
            let docs = doc(&world.docs);
            if !docs.is_empty() {
                let _ = writeln!(out, "{docs}\n");
            }
            for (label, items) in [("imports", &world.imports), ("exports", &world.exports)] {
                let names: Vec<_> = items
                    .iter()
                    .map(|(key, item)| match item {
                        WorldItem::Interface { id, .. } => {
                            format!(
                                "`{}`",
                                resolve.id_of(*id).unwrap_or_else(|| resolve.name_world_key(key))
                            )
                        }
                        WorldItem::Function(f) => format!("func `{}`", f.name),
                        WorldItem::Type { .. } => format!("type `{}`", resolve.name_world_key(key)),
                    })
                    .collect();
                if !names.is_empty() {
                    let _ = writeln!(out, "- {label}: {}", names.join(", "));
                }
            }
            out.push('\n');
        }
        for &id in package.interfaces.values() {
            interface(&resolve, id, &mut out);
        }
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[test]
fn the_contract_reference_in_docs_is_generated_from_the_wit_as_it_is() {
    let path = repo_root().join("docs/contract.md");
    let generated = reference();
    if std::env::var_os("PCHOST_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("writing docs/contract.md");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == generated,
        "docs/contract.md is not what wit/ says: run scripts/contract-reference and commit the result"
    );
}
