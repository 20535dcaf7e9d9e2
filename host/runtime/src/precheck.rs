//! What an install checks before it compiles anything: a component is read with wasmparser,
//! its sections counted and validated but its function bodies left alone (validating them,
//! like compiling them, is wasmtime's work). So a component that imports what it may not,
//! lacks its world's export, or is larger than the operator allows in what compile time grows
//! with, is refused in time proportional to its size, before it can cost a compilation.
//! The refusals are the ones `prepare` would make later (`MissingGrant`, `UnknownImport`,
//! `WrongWorld`), plus `TooComplex`.
//!
//! wasmtime still checks everything at `prepare`: the import types against the linker, the
//! export's type against the world. This pass only refuses earlier and more cheaply.

use crate::failure::InstallError;
use crate::manifest::PluginManifest;
use crate::runtime::check_import;
use wasmparser::component_types::{ComponentAnyTypeId, ComponentEntityType};
use wasmparser::{Parser, Payload, ValidPayload, Validator, WasmFeatures};

/// The most items (functions, types) the interfaces a component imports may have together: a
/// JavaScript or Python component imports about 300, the host's interfaces and WASI's. It
/// bounds the work of linking an install's imports.
pub(crate) const MAX_IMPORTED_ITEMS: usize = 4096;

/// What one component may contain, in what its compile time grows with. Checked before it is
/// compiled; past any of them the install is refused as `component-too-complex`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeLimits {
    /// Core modules, nested ones included (a Rust component has its module and 2-4 shims).
    pub core_modules: u64,
    /// Components nested inside it (a composed component has a few).
    pub nested_components: u64,
    /// Function bodies over all its modules (a Rust plugin has a few thousand).
    pub functions: u64,
    /// Bytes of code over all its modules (a Rust plugin has a few hundred KiB).
    pub code_bytes: u64,
    /// Bytes of the largest function body: the compiler's work on one function grows faster
    /// than its size.
    pub function_bytes: u64,
}

impl Default for ShapeLimits {
    fn default() -> Self {
        ShapeLimits {
            core_modules: 32,
            nested_components: 16,
            functions: 50_000,
            code_bytes: 16 << 20,
            function_bytes: 1 << 20,
        }
    }
}

/// Reads the component without compiling it and refuses it at the first thing that is wrong:
/// malformed or invalid sections, too much of anything in [`ShapeLimits`], an import the
/// manifest does not allow ([`check_import`]), or a missing world export.
pub(crate) fn check(
    bytes: &[u8],
    manifest: &PluginManifest,
    features: WasmFeatures,
    limits: &ShapeLimits,
) -> Result<(), InstallError> {
    let invalid = |e: wasmparser::Error| InstallError::Invalid(e.to_string());
    let mut validator = Validator::new_with_features(features);
    let mut counts = Counts::default();
    // Modules and components begin with a version payload and close with an end payload;
    // depth 1 is the component itself.
    let mut depth = 0_usize;
    let mut imports = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        counts.add(&payload, limits)?;
        match &payload {
            Payload::Version { .. } => depth += 1,
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section.clone() {
                    imports.push(import.map_err(invalid)?.name.name);
                }
            }
            _ => {}
        }
        // `Func` hands over a function body to validate: left to wasmtime, which validates
        // each body as it compiles it. `Parser` is a nested module, which `parse_all` enters.
        if let ValidPayload::End(types) = validator.payload(&payload).map_err(invalid)? {
            depth -= 1;
            if depth == 0 {
                return check_interface(&types, &imports, manifest);
            }
        }
    }
    Err(InstallError::Invalid("the component ends before its end".into()))
}

/// The component's imports against the manifest, and the world's export.
fn check_interface(
    types: &wasmparser::types::Types,
    imports: &[&str],
    manifest: &PluginManifest,
) -> Result<(), InstallError> {
    let types = types.as_ref();
    let mut items = 0_usize;
    for &import in imports {
        // As at `prepare`: a type, or an instance imported only for the data types it defines,
        // grants nothing (a world's `use` of the extension's types imports them so); an
        // instance with a function or a resource type needs an implementation.
        let needs_implementation = match types.component_item_for_import(import).map(|item| &item.ty) {
            Some(ComponentEntityType::Instance(instance)) => {
                let exports = &types[*instance].exports;
                items = items.saturating_add(exports.len());
                if items > MAX_IMPORTED_ITEMS {
                    return Err(InstallError::TooComplex {
                        what: "items of imported interfaces",
                        count: items as u64,
                        limit: MAX_IMPORTED_ITEMS as u64,
                    });
                }
                exports.values().any(|export| {
                    matches!(
                        export.ty,
                        ComponentEntityType::Func(_)
                            | ComponentEntityType::Type {
                                referenced: ComponentAnyTypeId::Resource(_),
                                ..
                            }
                    )
                })
            }
            Some(ComponentEntityType::Type { .. }) => false,
            _ => true,
        };
        if needs_implementation {
            check_import(import, manifest)?;
        }
    }
    let export = manifest.world.export();
    match types.component_item_for_export(export).map(|item| &item.ty) {
        Some(ComponentEntityType::Func(_)) => Ok(()),
        _ => Err(InstallError::WrongWorld {
            world: manifest.wit_world(),
            detail: format!("it exports no function `{export}`"),
        }),
    }
}

/// What the component holds so far, in the units of [`ShapeLimits`].
#[derive(Default)]
struct Counts {
    core_modules: u64,
    nested_components: u64,
    functions: u64,
    code_bytes: u64,
}

impl Counts {
    fn add(&mut self, payload: &Payload<'_>, limits: &ShapeLimits) -> Result<(), InstallError> {
        fn within(what: &'static str, count: u64, limit: u64) -> Result<(), InstallError> {
            if count > limit {
                Err(InstallError::TooComplex { what, count, limit })
            } else {
                Ok(())
            }
        }
        match payload {
            Payload::ModuleSection { .. } => {
                self.core_modules += 1;
                within("core modules", self.core_modules, limits.core_modules)
            }
            Payload::ComponentSection { .. } => {
                self.nested_components += 1;
                within("nested components", self.nested_components, limits.nested_components)
            }
            // Counted before any body is read, from the section's own header.
            Payload::CodeSectionStart { count, size, .. } => {
                self.functions += u64::from(*count);
                self.code_bytes += u64::from(*size);
                within("function bodies", self.functions, limits.functions)?;
                within("bytes of code", self.code_bytes, limits.code_bytes)
            }
            Payload::CodeSectionEntry(body) => {
                let size = body.range().len() as u64;
                within("bytes in one function body", size, limits.function_bytes)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Capability;

    /// Components written byte by byte, small enough for one-byte LEB128 lengths.
    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";
    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    fn component(sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
        let mut bytes = COMPONENT.to_vec();
        for (id, contents) in sections {
            assert!(contents.len() < 128);
            bytes.extend([*id, contents.len() as u8]);
            bytes.extend(contents);
        }
        bytes
    }

    fn name(text: &str) -> Vec<u8> {
        let mut bytes = vec![0x00, text.len() as u8];
        bytes.extend(text.as_bytes());
        bytes
    }

    /// A component importing `import`: an instance exporting a function `f`, or (`!calls`)
    /// only a type `t`.
    fn importing(import: &str, calls: bool) -> Vec<u8> {
        let (declaration, export) = if calls {
            // A function type with no parameters and no result; exported as a function.
            (
                vec![0x01, 0x40, 0x00, 0x01, 0x00],
                [name("f"), vec![0x01, 0x00]].concat(),
            )
        } else {
            // The type u32; exported as a type equal to it.
            (vec![0x01, 0x79], [name("t"), vec![0x03, 0x00, 0x00]].concat())
        };
        let instance = [vec![0x01, 0x42, 0x02], declaration, vec![0x04], export].concat();
        let import = [vec![0x01], name(import), vec![0x05, 0x00]].concat();
        component(&[(7, instance), (10, import)])
    }

    fn manifest() -> PluginManifest {
        PluginManifest::from_toml("name = \"x\"\nversion = \"0.1.0\"\nworld = \"pricing-rule\"\nowner = 2\n")
            .expect("valid manifest")
    }

    fn check_default(bytes: &[u8]) -> Result<(), InstallError> {
        check(bytes, &manifest(), WasmFeatures::default(), &ShapeLimits::default())
    }

    #[test]
    fn a_component_of_more_core_modules_or_nested_components_than_allowed_is_refused() {
        let modules: Vec<_> = (0..33).map(|_| (1, EMPTY_MODULE.to_vec())).collect();
        assert_eq!(
            check_default(&component(&modules)),
            Err(InstallError::TooComplex {
                what: "core modules",
                count: 33,
                limit: 32
            })
        );
        let nested: Vec<_> = (0..17).map(|_| (4, COMPONENT.to_vec())).collect();
        assert_eq!(
            check_default(&component(&nested)),
            Err(InstallError::TooComplex {
                what: "nested components",
                count: 17,
                limit: 16
            })
        );
        // Within the limits, such a component goes on to the next check.
        assert!(matches!(
            check_default(&component(&modules[..32])),
            Err(InstallError::WrongWorld { .. })
        ));
    }

    #[test]
    fn a_component_without_its_worlds_export_is_refused_naming_it() {
        assert_eq!(
            check_default(COMPONENT),
            Err(InstallError::WrongWorld {
                world: "partner-center:extension/pricing-rule@0.1.0",
                detail: "it exports no function `price`".into()
            })
        );
    }

    #[test]
    fn imports_are_checked_against_the_manifest_before_compiling() {
        assert_eq!(
            check_default(&importing("acme:evil/net@1.0.0", true)),
            Err(InstallError::UnknownImport("acme:evil/net@1.0.0".into()))
        );
        assert_eq!(
            check_default(&importing("partner-center:order/orders@0.1.0", true)),
            Err(InstallError::MissingGrant {
                capability: Capability::Order,
                import: "partner-center:order/orders@0.1.0".into()
            })
        );
        // An instance imported for its types alone grants nothing and needs nothing.
        assert!(matches!(
            check_default(&importing("acme:evil/net@1.0.0", false)),
            Err(InstallError::WrongWorld { .. })
        ));
    }

    #[test]
    fn malformed_components_are_refused_as_invalid() {
        let whole = importing("acme:evil/net@1.0.0", true);
        for cut in [9, 12, whole.len() - 1] {
            assert!(
                matches!(check_default(&whole[..cut]), Err(InstallError::Invalid(_))),
                "cut at {cut}"
            );
        }
        // A module section holding no module.
        assert!(matches!(
            check_default(&component(&[(1, b"junk".to_vec())])),
            Err(InstallError::Invalid(_))
        ));
    }

    #[test]
    fn imported_interfaces_of_more_items_than_allowed_are_refused_before_compiling() {
        let importing = |functions: usize| {
            let exports: String = (0..functions).map(|i| format!("(export \"f{i}\" (func))")).collect();
            wat::parse_str(format!(
                "(component (import \"partner-center:log/log@0.1.0\" (instance {exports})))"
            ))
            .expect("valid WAT")
        };
        assert_eq!(
            check_default(&importing(MAX_IMPORTED_ITEMS + 1)),
            Err(InstallError::TooComplex {
                what: "items of imported interfaces",
                count: MAX_IMPORTED_ITEMS as u64 + 1,
                limit: MAX_IMPORTED_ITEMS as u64
            })
        );
        // At the limit, the component goes on to the next check.
        assert!(matches!(
            check_default(&importing(MAX_IMPORTED_ITEMS)),
            Err(InstallError::WrongWorld { .. })
        ));
    }
}
