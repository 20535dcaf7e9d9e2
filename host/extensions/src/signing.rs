//! Signed plugins. A publisher signs a component together with its manifest: the signature
//! (ed25519) covers a message that names both by their sha256, so changing either, by one
//! byte, breaks it. The operator registers the publisher keys it trusts and decides per scope
//! whether versions must be signed; the host refuses an unsigned upload where one is required
//! (`signature-required`), a signature that does not verify (`signature-invalid`) and one by
//! a key it does not trust for that owner (`signer-untrusted`), and keeps the signer with the
//! version.
//!
//! A signature travels as one line of JSON, the `.sig` file `pchost plugin sign` writes:
//! `{"format":"pchost-plugin-signature/1","key":"<fingerprint>","signature":"<128 hex>"}`.

use crate::error::ExtensionError;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use pchost_domain::errors::ErrorCode;
use pchost_domain::{PartnerId, PartnerKind};
use pchost_store::bindings::BindingScope;
use pchost_store::publishers::PublisherKey;
use pchost_store::store::Store;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The format word of a signature file.
pub const SIGNATURE_FORMAT: &str = "pchost-plugin-signature/1";
/// The largest signature part read.
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// A signature as uploaded beside a component.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// [`SIGNATURE_FORMAT`].
    pub format: String,
    /// The fingerprint of the signing key.
    pub key: String,
    /// The ed25519 signature, hex.
    pub signature: String,
}

/// What a signature covers: the format, then the sha256 of the manifest text and of the
/// component, so that neither can be swapped for another.
pub fn signed_message(manifest: &[u8], component: &[u8]) -> Vec<u8> {
    format!(
        "{SIGNATURE_FORMAT}\nmanifest sha256 {}\ncomponent sha256 {}\n",
        hex::encode(Sha256::digest(manifest)),
        hex::encode(Sha256::digest(component))
    )
    .into_bytes()
}

/// A public key's fingerprint: the first 16 hex digits of its sha256.
pub fn fingerprint(public_key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(public_key.as_bytes()))[..16].to_owned()
}

/// Parses a hex public key, as the operator registers it.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("an ed25519 public key: 64 hex digits")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an ed25519 public key: {e}"))?;
    // A small-order key verifies signatures anyone can forge.
    if key.is_weak() {
        return Err("a weak (small-order) ed25519 key: anyone could sign for it".into());
    }
    Ok(key)
}

/// A new signing key from the OS CSPRNG: its secret seed (hex, for the publisher to keep) and
/// its public key (hex, for the operator to register).
pub fn generate_signing_key() -> anyhow::Result<(String, String)> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    Ok((hex::encode(seed), hex::encode(key.verifying_key().as_bytes())))
}

/// Signs `manifest` and `component` with the secret seed `seed_hex`: the signature file's
/// JSON.
pub fn sign(seed_hex: &str, manifest: &[u8], component: &[u8]) -> anyhow::Result<String> {
    let seed: [u8; 32] = hex::decode(seed_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow::anyhow!("the signing key is 64 hex digits (the seed `pchost plugin keygen` wrote)"))?;
    let key = SigningKey::from_bytes(&seed);
    let signature = key.sign(&signed_message(manifest, component));
    Ok(serde_json::to_string(&SignatureFile {
        format: SIGNATURE_FORMAT.into(),
        key: fingerprint(&key.verifying_key()),
        signature: hex::encode(signature.to_bytes()),
    })?)
}

/// The scope whose policy governs an upload for `owner`: a seller's plugins are bound at its
/// seller scope, any other partner's at its partner scope.
pub fn upload_scope(kind: PartnerKind) -> BindingScope {
    if kind == PartnerKind::Seller {
        BindingScope::Seller
    } else {
        BindingScope::Partner
    }
}

fn refused(code: ErrorCode, message: String) -> ExtensionError {
    ExtensionError::refused(code, message)
}

/// Checks an upload's signature (`signature`, the uploaded part, if any) over `manifest` and
/// `component` for `owner`, under the policy of `scope`: answers the trusted key that signed
/// it, `None` for an unsigned upload where none is required.
pub async fn check_upload(
    store: &Store,
    owner: PartnerId,
    scope: BindingScope,
    manifest: &[u8],
    component: &[u8],
    signature: Option<&[u8]>,
) -> Result<Option<PublisherKey>, ExtensionError> {
    let Some(signature) = signature else {
        if store.signature_required(scope).await? {
            return Err(refused(
                ErrorCode::SignatureRequired,
                format!(
                    "the {scope} scope requires plugins signed by a trusted publisher key: sign it with `pchost plugin sign` and send the `.sig` as the `signature` part"
                ),
            ));
        }
        return Ok(None);
    };
    let invalid = |why: &str| refused(ErrorCode::SignatureInvalid, format!("the signature {why}"));
    let file: SignatureFile = std::str::from_utf8(signature)
        .ok()
        .and_then(|text| serde_json::from_str(text.trim()).ok())
        .ok_or_else(|| {
            invalid(&format!(
                "is not a `{SIGNATURE_FORMAT}` JSON object (format, key, signature)"
            ))
        })?;
    if file.format != SIGNATURE_FORMAT {
        return Err(invalid(&format!(
            "format is {:?}, not {SIGNATURE_FORMAT:?}",
            file.format
        )));
    }
    let bytes: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid("is not 128 hex digits"))?;
    let untrusted = |why: String| refused(ErrorCode::SignerUntrusted, why);
    let key = store
        .publisher_key(&file.key)
        .await?
        .ok_or_else(|| untrusted(format!("publisher key {:?} is not registered with this host", file.key)))?;
    if key.revoked_at.is_some() {
        return Err(untrusted(format!(
            "publisher key {} ({}) was revoked",
            key.fingerprint, key.name
        )));
    }
    if key.owner.is_some_and(|only| only != owner) {
        return Err(untrusted(format!(
            "publisher key {} ({}) signs the plugins of partner {} only, not of partner {owner}",
            key.fingerprint,
            key.name,
            key.owner.unwrap_or_default()
        )));
    }
    let public = parse_public_key(&key.public_key)
        .map_err(|e| ExtensionError::Internal(anyhow::anyhow!("stored publisher key {}: {e}", key.fingerprint)))?;
    // Strict: no malleable signatures, no small-order components.
    public
        .verify_strict(&signed_message(manifest, component), &Signature::from_bytes(&bytes))
        .map_err(|_| {
            invalid(&format!(
                "does not verify with publisher key {} ({}): the manifest or the component changed after signing",
                key.fingerprint, key.name
            ))
        })?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;

    #[test]
    fn a_signature_covers_the_manifest_and_the_component_byte_for_byte() {
        let (seed, public) = generate_signing_key().expect("key");
        let public = parse_public_key(&public).expect("public key");
        let file: SignatureFile =
            serde_json::from_str(&sign(&seed, b"manifest", b"component").expect("sign")).expect("JSON");
        assert_eq!(
            (file.format.as_str(), file.key.clone()),
            (SIGNATURE_FORMAT, fingerprint(&public))
        );
        let signature =
            Signature::from_bytes(&hex::decode(&file.signature).expect("hex").try_into().expect("64 bytes"));
        assert!(
            public
                .verify(&signed_message(b"manifest", b"component"), &signature)
                .is_ok()
        );
        for (manifest, component) in [
            (&b"manifest"[..], &b"componenT"[..]),
            (b"manifesT", b"component"),
            (b"component", b"manifest"),
        ] {
            assert!(public.verify(&signed_message(manifest, component), &signature).is_err());
        }
        assert!(sign("00", b"m", b"c").is_err());
        assert!(parse_public_key("zz").is_err());
        // The identity point: small order, so refused as a publisher key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(parse_public_key(&hex::encode(identity)).is_err_and(|e| e.contains("weak")));
    }
}
