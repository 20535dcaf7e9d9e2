//! Who is calling: API keys, the principal behind each, its scopes, and what it may see.
//!
//! A key is `pch_` followed by 32 random bytes in hex. Only its sha256 is stored, so a key is
//! shown once, at creation. Every authenticated request resolves the key to a principal
//! (the operator, a partner's staff member, or a customer) and is checked against the
//! principal's role (DOMAIN.md "Roles"), its scope (rule 16) and the key's scopes.

use crate::error::AppError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use pchost_domain::errors::{Entity, ErrorCode};
use pchost_domain::{Customer, CustomerId, Partner, PartnerId, PartnerKind, Role, Staff, access};
use pchost_store::accounts::Actor;
use pchost_store::keys::{ApiKey, KeyPrincipal, NewApiKey};
use sha2::{Digest, Sha256};

/// The longest `Authorization` header value looked at.
const MAX_KEY_CHARS: usize = 128;
/// What every key starts with, so leaked keys are easy to scan for.
pub const KEY_PREFIX: &str = "pch_";

/// The areas of the API a key's scopes name, each as `<area>:read` or `<area>:write`
/// (write implies read); `*` grants everything.
pub const AREAS: &[&str] = &[
    "partners",
    "customers",
    "resellers",
    "orders",
    "quotes",
    "invoices",
    "coupons",
    "accounts",
    "opportunities",
    "plugins",
    "audit",
    "approvals",
    "keys",
];

/// Whether a scope word is valid.
pub fn valid_scope(scope: &str) -> bool {
    scope == "*"
        || scope
            .split_once(':')
            .is_some_and(|(area, access)| AREAS.contains(&area) && matches!(access, "read" | "write"))
}

/// A new random key and its stored form.
pub fn generate_key() -> Result<(String, String), AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(anyhow::anyhow!("no OS randomness: {e}")))?;
    let key = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    let hash = hash_key(&key);
    Ok((key, hash))
}

/// The stored form of a key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether scopes `held` grant everything scope `wanted` does: `*` only under `*`, an area's
/// read under its read or write.
pub fn covers(held: &[String], wanted: &str) -> bool {
    held.iter().any(|h| {
        h == "*"
            || h == wanted
            || wanted
                .strip_suffix(":read")
                .is_some_and(|area| h.strip_suffix(":write") == Some(area))
    })
}

/// Who a key is issued by, which bounds it: a caller's key passes on at most its own scopes
/// and expiry (least privilege: a key holding `keys:write` cannot mint a `*` key); a
/// principal's first key (a new partner's admin, an accepted invitation) gets everything its
/// role allows.
#[derive(Debug, Clone, Copy)]
pub enum Issuer<'a> {
    /// A caller, with the key it called with.
    Caller(&'a Caller),
    /// The principal's own first key, with the label of whoever made the principal.
    First(&'a str),
}

/// Creates a key for `principal` and returns it with the secret, which is never stored. With
/// no scopes named it gets the issuer's; with no expiry, the issuer's key's.
pub async fn issue_key(
    state: &AppState,
    name: &str,
    principal: KeyPrincipal,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    issuer: Issuer<'_>,
) -> Result<(ApiKey, String), AppError> {
    for (i, scope) in scopes.iter().enumerate() {
        if !valid_scope(scope) {
            return Err(AppError::field(
                format!("scopes[{i}]"),
                format!(
                    "{scope:?} is not `*` nor `<area>:read|write` with area one of {}",
                    AREAS.join(", ")
                ),
            ));
        }
    }
    let (scopes, expires_at, created_by, parent_key) = match issuer {
        Issuer::Caller(caller) => {
            if let Some(wider) = scopes.iter().find(|s| !covers(&caller.scopes, s)) {
                return Err(AppError::refused(
                    ErrorCode::ScopeEscalation,
                    format!(
                        "the calling key holds {}: it cannot grant `{wider}`",
                        caller.scopes.join(" ")
                    ),
                ));
            }
            let expires_at = match (expires_at, caller.key_expires_at) {
                (Some(asked), Some(own)) if asked > own => {
                    return Err(AppError::refused(
                        ErrorCode::ScopeEscalation,
                        format!("the calling key expires at {own}: a key it creates expires no later"),
                    ));
                }
                (asked, own) => asked.or(own),
            };
            let scopes = if scopes.is_empty() {
                caller.scopes.clone()
            } else {
                scopes
            };
            (
                scopes,
                expires_at,
                caller.label(),
                Some(caller.key_id).filter(|id| *id != 0),
            )
        }
        Issuer::First(by) => {
            let scopes = if scopes.is_empty() {
                vec!["*".to_owned()]
            } else {
                scopes
            };
            (scopes, expires_at, by.to_owned(), None)
        }
    };
    let (secret, key_hash) = generate_key()?;
    let key = state
        .store
        .create_api_key(
            &NewApiKey {
                name: name.to_owned(),
                key_hash,
                prefix: secret[..KEY_PREFIX.len() + 8].to_owned(),
                principal,
                scopes,
                created_by,
                expires_at,
                parent_key,
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(key = key.id, principal = %key.principal, by = %key.created_by, "api key created");
    // Every key creation is on the administrative audit, whichever endpoint made it (keys,
    // staff, partners, invitations).
    state
        .store
        .record_admin_event(
            &pchost_store::admin_events::NewAdminEvent {
                actor: &key.created_by,
                partner: key_partner(state, key.principal).await?,
                action: "key.create",
                target: format!("api-key:{}", key.id),
                detail: serde_json::json!({
                    "principal": key.principal, "scopes": key.scopes, "expires_at": key.expires_at,
                }),
            },
            Utc::now(),
        )
        .await?;
    Ok((key, secret))
}

/// The partner a key's principal belongs to: a staff member's, a customer's; none for the
/// operator.
pub async fn key_partner(state: &AppState, principal: KeyPrincipal) -> Result<Option<PartnerId>, AppError> {
    Ok(match principal {
        KeyPrincipal::Operator => None,
        KeyPrincipal::Staff(id) => state.store.staff(id).await?.map(|s| s.partner),
        KeyPrincipal::Customer(id) => state.store.customer(id).await?.map(|c| c.partner),
    })
}

/// The principal behind a key.
#[derive(Clone, Debug)]
pub enum Principal {
    /// Runs the host.
    Operator,
    /// A partner's staff member.
    Staff {
        /// The member.
        staff: Staff,
        /// Its partner.
        partner: Partner,
        /// The staff it supervises (for a supervisor).
        supervised: Vec<i64>,
    },
    /// An end customer.
    Customer(Customer),
}

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The key used.
    pub key_id: i64,
    /// Who it is.
    pub principal: Principal,
    /// What the key may touch.
    pub scopes: Vec<String>,
    /// When the key stops working, if it does.
    pub key_expires_at: Option<DateTime<Utc>>,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
            AppError::refused(
                ErrorCode::MissingApiKey,
                "send the API key as `Authorization: Bearer pch_...`",
            )
        })?;
        // Failed attempts count against the client address, so guessing keys (or flooding
        // the key lookup) is rate-limited like any other request.
        let refuse = || -> AppError {
            let client = crate::state::client_addr(parts);
            match state.limiter.check(&format!("addr:{client}")) {
                Ok(()) => invalid_key(),
                Err(limited) => limited,
            }
        };
        let Some(key) = header
            .to_str()
            .ok()
            .filter(|v| v.len() <= MAX_KEY_CHARS)
            .and_then(|v| v.strip_prefix("Bearer "))
            .filter(|k| k.starts_with(KEY_PREFIX))
        else {
            return Err(refuse());
        };
        let now = Utc::now();
        let Some(record) = state
            .store
            .api_key_by_hash(&hash_key(key))
            .await?
            .filter(|k| k.usable_at(now))
        else {
            return Err(refuse());
        };
        Caller::of_key(state, record, now).await
    }
}

impl Caller {
    /// The caller a usable key stands for, counted against its principal's rate limits (and its
    /// partner's); the key's last use is recorded. What the API's `Authorization` header and
    /// a console session both resolve to.
    pub(crate) async fn of_key(state: &AppState, record: ApiKey, now: DateTime<Utc>) -> Result<Caller, AppError> {
        let invalid = invalid_key;
        // Requests count against the principal, not the key: more keys buy no more requests.
        state.limiter.check(&format!("principal:{}", record.principal))?;
        if record
            .last_used_at
            .is_none_or(|used| now - used > pchost_store::keys::LAST_USED_PRECISION)
        {
            state.store.touch_api_key(record.id, now).await?;
        }
        let principal = match record.principal {
            KeyPrincipal::Operator => Principal::Operator,
            KeyPrincipal::Staff(id) => {
                let staff = state.store.staff(id).await?.ok_or_else(invalid)?;
                let partner = state.store.partner(staff.partner).await?.ok_or_else(invalid)?;
                let supervised = if staff.role == Role::Supervisor {
                    state
                        .store
                        .staff_of(partner.id)
                        .await?
                        .into_iter()
                        .filter(|s| s.supervisor == Some(staff.id))
                        .map(|s| s.id)
                        .collect()
                } else {
                    Vec::new()
                };
                Principal::Staff {
                    staff,
                    partner,
                    supervised,
                }
            }
            KeyPrincipal::Customer(id) => Principal::Customer(state.store.customer(id).await?.ok_or_else(invalid)?),
        };
        // A partner's staff share one budget besides their own: more staff buy no more.
        if let Principal::Staff { partner, .. } = &principal {
            state.partners.check(&format!("partner:{}", partner.id))?;
        }
        let caller = Caller {
            key_id: record.id,
            principal,
            scopes: record.scopes,
            key_expires_at: record.expires_at,
        };
        tracing::Span::current().record("principal", caller.label());
        Ok(caller)
    }
}

/// The refusal of a key that is unknown, revoked, expired or malformed: which one is not said.
pub(crate) fn invalid_key() -> AppError {
    AppError::refused(
        ErrorCode::InvalidApiKey,
        "the API key is not valid (unknown, revoked or malformed)",
    )
}

/// What a request does to an area: read it or change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Look.
    Read,
    /// Change.
    Write,
}

impl Caller {
    /// The customer itself, through a standing instruction it gave (auto-renewal, rule 11)
    /// that the scheduler carries out: no key (id 0), and only the scopes renewing needs.
    pub fn standing_instruction(customer: Customer) -> Caller {
        Caller {
            key_id: 0,
            principal: Principal::Customer(customer),
            scopes: vec!["quotes:write".into(), "orders:write".into()],
            key_expires_at: None,
        }
    }

    /// `operator`, `staff:<id>@<partner>` or `customer:<id>`: who acted, for logs and records.
    pub fn label(&self) -> String {
        match &self.principal {
            Principal::Operator => format!("operator(key {})", self.key_id),
            Principal::Staff { staff, partner, .. } => format!("staff:{}@{}", staff.id, partner.id),
            Principal::Customer(c) => format!("customer:{}", c.id),
        }
    }

    /// The role (DOMAIN.md "Roles").
    pub fn role(&self) -> Role {
        match &self.principal {
            Principal::Operator => Role::PlatformOperator,
            Principal::Staff { staff, .. } => staff.role,
            Principal::Customer(_) => Role::Customer,
        }
    }

    /// The partner the caller belongs to, if any.
    pub fn partner(&self) -> Option<&Partner> {
        match &self.principal {
            Principal::Staff { partner, .. } => Some(partner),
            _ => None,
        }
    }

    /// Refuses unless the key's scopes cover `area` with `access`.
    pub fn need(&self, area: &'static str, access: Access) -> Result<(), AppError> {
        let covered = self.scopes.iter().any(|s| {
            s == "*"
                || s.split_once(':').is_some_and(|(a, level)| {
                    a == area && (level == "write" || (level == "read" && access == Access::Read))
                })
        });
        if !covered {
            let level = if access == Access::Read { "read" } else { "write" };
            return Err(AppError::refused(
                ErrorCode::ScopeMissing,
                format!("this API key lacks the `{area}:{level}` scope"),
            ));
        }
        // Rule 18: a frozen partner's staff can read but not act.
        if let (Access::Write, Principal::Staff { partner, .. }) = (access, &self.principal)
            && partner.frozen
        {
            return Err(AppError::refused(
                ErrorCode::PartnerFrozen,
                format!(
                    "partner {} is frozen: its staff can read, not act (rule 18)",
                    partner.id
                ),
            ));
        }
        Ok(())
    }

    /// Refuses unless the caller is the operator.
    pub fn operator(&self) -> Result<(), AppError> {
        match self.principal {
            Principal::Operator => Ok(()),
            _ => Err(self.role_refused("only the platform operator")),
        }
    }

    /// Whether the caller is the operator.
    pub fn is_operator(&self) -> bool {
        matches!(self.principal, Principal::Operator)
    }

    /// Rule 16: the staff whose customers a customer manager, salesperson (itself) or
    /// supervisor (itself and the staff under it) sees; `None` (no limit) for the operator and
    /// a partner admin, who sees all of its partner's; none at all for a customer.
    pub fn managers_seen(&self) -> Option<Vec<i64>> {
        match &self.principal {
            Principal::Operator => None,
            Principal::Staff { staff, .. } if staff.role == Role::PartnerAdmin => None,
            Principal::Staff { staff, supervised, .. } => Some(supervised.iter().copied().chain([staff.id]).collect()),
            Principal::Customer(_) => Some(Vec::new()),
        }
    }

    /// The caller's staff record and partner, refusing anyone else.
    pub fn staff(&self) -> Result<(&Staff, &Partner), AppError> {
        match &self.principal {
            Principal::Staff { staff, partner, .. } => Ok((staff, partner)),
            _ => Err(self.role_refused("only partner staff")),
        }
    }

    /// The caller's partner when it is a partner admin (rule 17: admin-only operations).
    pub fn partner_admin(&self) -> Result<&Partner, AppError> {
        match &self.principal {
            Principal::Staff { staff, partner, .. } if staff.role == Role::PartnerAdmin => Ok(partner),
            _ => Err(self.role_refused("only a partner admin")),
        }
    }

    /// The caller's partner when it is an admin of a partner of `kind`.
    pub fn admin_of_kind(&self, kinds: &[PartnerKind]) -> Result<&Partner, AppError> {
        let partner = self.partner_admin()?;
        if kinds.contains(&partner.kind) {
            Ok(partner)
        } else {
            Err(AppError::refused(
                ErrorCode::RoleNotPermitted,
                format!("a {} may not do this", partner.kind),
            ))
        }
    }

    fn role_refused(&self, who: &str) -> AppError {
        AppError::refused(
            ErrorCode::RoleNotPermitted,
            format!("{who} may do this; the caller is a {}", self.role()),
        )
    }

    /// Loads a customer the caller may act on: the operator any, a customer itself, staff
    /// those rule 16 lets them see (a distributor's admin also its resellers' customers).
    pub async fn customer(&self, state: &AppState, id: CustomerId) -> Result<Customer, AppError> {
        let customer = state
            .store
            .customer(id)
            .await?
            .ok_or_else(|| AppError::not_found(Entity::Customer, id))?;
        let visible = match &self.principal {
            Principal::Operator => true,
            Principal::Customer(c) => c.id == id,
            Principal::Staff {
                staff,
                partner,
                supervised,
            } => {
                access::staff_sees(staff, &customer, supervised)
                    || (staff.role == Role::PartnerAdmin
                        && partner.kind == PartnerKind::Distributor
                        && customer.partner != partner.id
                        && state
                            .store
                            .partner(customer.partner)
                            .await?
                            .is_some_and(|p| access::owner_sees_customers_of(partner, &p)))
            }
        };
        if visible {
            Ok(customer)
        } else {
            Err(AppError::refused(
                ErrorCode::OutOfScope,
                format!("customer {id} is outside what {} may see", self.label()),
            ))
        }
    }

    /// Refuses a customer principal: a partner-side operation.
    pub fn not_customer(&self) -> Result<(), AppError> {
        match self.principal {
            Principal::Customer(_) => Err(self.role_refused("only the operator or partner staff")),
            _ => Ok(()),
        }
    }

    /// The actor the domain records (rule 21): who acts and, when it acts on someone else's
    /// behalf, for whom.
    pub fn actor(&self, on_behalf_of: Option<CustomerId>) -> Actor {
        let (role, partner, id) = match &self.principal {
            Principal::Operator => (Role::PlatformOperator, None, None),
            Principal::Staff { staff, partner, .. } => (staff.role, Some(partner.id), Some(staff.id)),
            Principal::Customer(c) => (Role::Customer, Some(c.partner), Some(c.id)),
        };
        let on_behalf_of = match (&self.principal, on_behalf_of) {
            (Principal::Customer(c), Some(id)) if c.id == id => None,
            (_, Some(id)) => Some(format!("customer:{id}")),
            (_, None) => None,
        };
        Actor {
            role,
            partner,
            id,
            on_behalf_of,
        }
    }

    /// Refuses partner staff operating inside `customer`'s account without its granted
    /// authorization (rule 23), before anything else is asked (approval rules, pricing). The
    /// store checks again where the action writes, so an approval task decided after a
    /// revocation is refused too.
    pub async fn may_operate(&self, state: &AppState, customer: CustomerId) -> Result<(), AppError> {
        Ok(state
            .store
            .ensure_may_operate(&self.actor(Some(customer)), customer)
            .await?)
    }

    /// The partner whose data the caller works on: its own, or for the operator the one named.
    pub fn partner_or(&self, named: Option<PartnerId>) -> Result<PartnerId, AppError> {
        match (&self.principal, named) {
            (Principal::Operator, Some(id)) => Ok(id),
            (Principal::Operator, None) => Err(AppError::field("partner_id", "the operator names the partner")),
            (Principal::Staff { partner, .. }, None) => Ok(partner.id),
            (Principal::Staff { partner, .. }, Some(id)) if id == partner.id => Ok(id),
            (Principal::Staff { .. }, Some(id)) => Err(AppError::refused(
                ErrorCode::OutOfScope,
                format!("partner {id} is outside what {} may see", self.label()),
            )),
            (Principal::Customer(_), _) => Err(self.role_refused("only the operator or partner staff")),
        }
    }
}
