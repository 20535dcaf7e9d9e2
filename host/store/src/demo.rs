//! The demo data set `serve` starts with: a distributor with two resellers, a solution
//! provider, two marketplace sellers, their customers, a catalog and some order history.
//! The README's walkthrough and the example fixtures refer to these ids.

use crate::entities::*;
use crate::money::Currency;
use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;

/// The distributor.
pub const DISTRIBUTOR: PartnerId = 1;
/// A reseller under [`DISTRIBUTOR`]; owns the demo reseller and approval plugins.
pub const RESELLER: PartnerId = 2;
/// A second reseller under [`DISTRIBUTOR`].
pub const OTHER_RESELLER: PartnerId = 3;
/// A solution provider.
pub const SOLUTION_PROVIDER: PartnerId = 4;
/// A marketplace seller; owns the demo volume-discount plugin and products 2001, 2002.
pub const SELLER: PartnerId = 10;
/// Another marketplace seller; owns product 3001.
pub const OTHER_SELLER: PartnerId = 11;

/// A key-account (level 3) resale customer of [`RESELLER`] with a paid history.
pub const KEY_ACCOUNT_CUSTOMER: CustomerId = 101;
/// A standard (level 1) resale customer of [`RESELLER`] with a paid history.
pub const STANDARD_CUSTOMER: CustomerId = 102;
/// A frozen resale customer of [`RESELLER`].
pub const FROZEN_CUSTOMER: CustomerId = 103;
/// A customer of [`OTHER_RESELLER`]: outside [`RESELLER`]'s scope.
pub const OTHER_RESELLERS_CUSTOMER: CustomerId = 104;
/// A referral customer of [`SOLUTION_PROVIDER`].
pub const REFERRAL_CUSTOMER: CustomerId = 105;
/// A new resale customer of [`RESELLER`] with no order yet.
pub const NEW_CUSTOMER: CustomerId = 106;

/// Reseller 2's partner admin.
pub const STAFF_ADMIN: i64 = 500;
/// Reseller 2's customer manager, under [`STAFF_SUPERVISOR`]; manages every demo customer of
/// reseller 2 but [`STANDARD_CUSTOMER`].
pub const STAFF_MANAGER: i64 = 501;
/// Reseller 2's supervisor.
pub const STAFF_SUPERVISOR: i64 = 502;
/// Reseller 2's salesperson, managing [`STANDARD_CUSTOMER`].
pub const STAFF_SALESPERSON: i64 = 503;
/// The partner admin of [`DISTRIBUTOR`].
pub const DISTRIBUTOR_ADMIN: i64 = 504;
/// The partner admin of [`SELLER`].
pub const SELLER_ADMIN: i64 = 505;
/// The partner admin of [`OTHER_RESELLER`].
pub const OTHER_RESELLER_ADMIN: i64 = 506;
/// The partner admin of [`OTHER_SELLER`].
pub const OTHER_SELLER_ADMIN: i64 = 507;
/// The partner admin of [`SOLUTION_PROVIDER`].
pub const SOLUTION_PROVIDER_ADMIN: i64 = 508;
/// Reseller 2's second partner admin: the other pair of eyes on what [`STAFF_ADMIN`] asks
/// for and a rule escalates to a partner admin.
pub const STAFF_SECOND_ADMIN: i64 = 509;

/// Everything the demo starts with; also, read from JSON, the data a plugin's test fixtures
/// give its capability reads (`pchost plugin test`), every list optional.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoData {
    /// Partners.
    pub partners: Vec<Partner>,
    /// Customers.
    pub customers: Vec<Customer>,
    /// Products.
    pub products: Vec<Product>,
    /// List prices.
    pub prices: Vec<ListPrice>,
    /// Orders.
    pub orders: Vec<Order>,
    /// Invoice infos.
    pub invoice_infos: Vec<InvoiceInfo>,
    /// Invoice requests.
    pub invoice_requests: Vec<InvoiceRequest>,
    /// Partner staff.
    pub staff: Vec<Staff>,
    /// The customers that authorized their partner to operate in their account (rule 23):
    /// those with a history, so that their partner can buy, renew and pay for them.
    pub authorizations: Vec<CustomerId>,
}

fn dec(s: &str) -> Decimal {
    s.parse()
        .unwrap_or_else(|_| panic!("demo amount {s:?} is a decimal literal"))
}

impl DemoData {
    /// The demo data, with the order history dated relative to `now`.
    pub fn new(now: DateTime<Utc>) -> Self {
        let cny: Currency = "CNY".parse().unwrap_or_else(|_| unreachable!("CNY is a currency"));
        let partner = |id, kind, name: &str, distributor| Partner {
            id,
            kind,
            name: name.to_owned(),
            distributor,
            country: "CN".to_owned(),
            frozen: false,
        };
        let partners = vec![
            partner(DISTRIBUTOR, PartnerKind::Distributor, "Huaxia Cloud Distribution", None),
            partner(
                RESELLER,
                PartnerKind::Reseller,
                "Beijing Cloud Reseller",
                Some(DISTRIBUTOR),
            ),
            partner(
                OTHER_RESELLER,
                PartnerKind::Reseller,
                "Shenzhen Cloud Reseller",
                Some(DISTRIBUTOR),
            ),
            partner(
                SOLUTION_PROVIDER,
                PartnerKind::SolutionProvider,
                "Direct Solutions",
                None,
            ),
            partner(SELLER, PartnerKind::Seller, "DataVault Software", None),
            partner(OTHER_SELLER, PartnerKind::Seller, "Acme Analytics", None),
        ];
        let since = Utc.with_ymd_and_hms(2025, 3, 1, 0, 0, 0).single().unwrap_or(now);
        let customer = |id, partner, name: &str, association, freeze, level| Customer {
            id,
            partner,
            account_name: name.to_owned(),
            association,
            associated_at: since,
            real_name: RealNameStatus::Verified,
            customer_type: CustomerType::Enterprise,
            freeze,
            manager: Some(STAFF_MANAGER),
            country: "CN".to_owned(),
            level,
        };
        use Association::*;
        use FreezeState::*;
        let mut customers = vec![
            customer(KEY_ACCOUNT_CUSTOMER, RESELLER, "lotus-retail", Resale, NotFrozen, 3),
            customer(STANDARD_CUSTOMER, RESELLER, "panda-games", Resale, NotFrozen, 1),
            customer(FROZEN_CUSTOMER, RESELLER, "winter-logistics", Resale, AccountFrozen, 1),
            customer(
                OTHER_RESELLERS_CUSTOMER,
                OTHER_RESELLER,
                "pearl-bank",
                Resale,
                NotFrozen,
                2,
            ),
            customer(
                REFERRAL_CUSTOMER,
                SOLUTION_PROVIDER,
                "river-tech",
                Referral,
                NotFrozen,
                1,
            ),
            customer(NEW_CUSTOMER, RESELLER, "sprout-labs", Resale, NotFrozen, 0),
        ];
        // The salesperson manages one customer; the customer manager all the others.
        customers[1].manager = Some(STAFF_SALESPERSON);
        let product = |id, seller, service: &str, resource: &str, spec: &str, mode| Product {
            id,
            seller,
            service_type: service.to_owned(),
            resource_type: resource.to_owned(),
            spec_code: spec.to_owned(),
            region: "cn-north-4".to_owned(),
            charging_mode: mode,
        };
        use ChargingMode::*;
        let products = vec![
            product(1001, None, "ECS", "cloudserver", "s6.large.2", YearlyMonthly),
            product(1002, None, "OBS", "bucket", "obs.standard", OnDemand),
            product(
                2001,
                Some(SELLER),
                "MARKETPLACE",
                "saas",
                "datavault.backup.pro",
                YearlyMonthly,
            ),
            product(
                2002,
                Some(SELLER),
                "MARKETPLACE",
                "saas",
                "datavault.backup.enterprise",
                YearlyMonthly,
            ),
            product(
                3001,
                Some(OTHER_SELLER),
                "MARKETPLACE",
                "saas",
                "acme.analytics.team",
                YearlyMonthly,
            ),
        ];
        let price = |product, period, amount: &str| ListPrice {
            product,
            period,
            amount: dec(amount),
            currency: cny,
        };
        use PeriodType::*;
        let prices = vec![
            price(1001, Month, "200.000000"),
            price(1001, Year, "2040.000000"),
            price(1002, Hour, "0.000139"),
            price(2001, Month, "88.500000"),
            price(2001, Year, "885.000000"),
            price(2002, Month, "299.990000"),
            price(3001, Month, "120.123456"),
        ];
        let order = |id, customer, days_ago: i64, amount: &str, status, paid: bool| Order {
            id,
            customer,
            kind: OrderKind::New,
            status,
            currency: cny,
            list_amount: dec(amount),
            amount: dec(amount),
            created_at: now - Duration::days(days_ago),
            paid_at: paid.then(|| now - Duration::days(days_ago)),
            paid_by_partner: false,
            quote: None,
            created_by: None,
        };
        use OrderStatus::*;
        let orders = vec![
            order(9001, KEY_ACCOUNT_CUSTOMER, 90, "12000.00", Completed, true),
            order(9002, KEY_ACCOUNT_CUSTOMER, 30, "8000.00", Completed, true),
            order(9003, STANDARD_CUSTOMER, 60, "1500.00", Completed, true),
            order(9004, STANDARD_CUSTOMER, 2, "900.00", PendingPayment, false),
            order(9005, OTHER_RESELLERS_CUSTOMER, 10, "5000.00", Completed, true),
            order(9006, FROZEN_CUSTOMER, 40, "3000.00", Completed, true),
        ];
        let invoice_infos = vec![InvoiceInfo {
            customer: KEY_ACCOUNT_CUSTOMER,
            title_type: TitleType::Enterprise,
            title: "Lotus Retail Co., Ltd.".to_owned(),
            tax_id: Some("91110000MA01LOTUS1".to_owned()),
        }];
        let invoice_requests = vec![InvoiceRequest {
            id: 7001,
            customer: KEY_ACCOUNT_CUSTOMER,
            basis: InvoiceBasis::Order,
            kind: InvoiceKind::VatSpecial,
            medium: InvoiceMedium::Digital,
            amount: dec("12000.00"),
            currency: cny,
            status: InvoiceStatus::Issued,
            requested_at: now - Duration::days(80),
            credit_notes: Vec::new(),
        }];
        let member = |id, partner, role, supervisor| Staff {
            id,
            partner,
            role,
            supervisor,
        };
        let staff = vec![
            member(STAFF_ADMIN, RESELLER, Role::PartnerAdmin, None),
            // Before the manager it supervises: staff.supervisor is a foreign key.
            member(STAFF_SUPERVISOR, RESELLER, Role::Supervisor, None),
            member(STAFF_MANAGER, RESELLER, Role::CustomerManager, Some(STAFF_SUPERVISOR)),
            member(STAFF_SALESPERSON, RESELLER, Role::Salesperson, None),
            member(DISTRIBUTOR_ADMIN, DISTRIBUTOR, Role::PartnerAdmin, None),
            member(SELLER_ADMIN, SELLER, Role::PartnerAdmin, None),
            member(OTHER_RESELLER_ADMIN, OTHER_RESELLER, Role::PartnerAdmin, None),
            member(OTHER_SELLER_ADMIN, OTHER_SELLER, Role::PartnerAdmin, None),
            member(SOLUTION_PROVIDER_ADMIN, SOLUTION_PROVIDER, Role::PartnerAdmin, None),
            member(STAFF_SECOND_ADMIN, RESELLER, Role::PartnerAdmin, None),
        ];
        DemoData {
            partners,
            customers,
            products,
            prices,
            orders,
            invoice_infos,
            invoice_requests,
            staff,
            // The new customer has not been asked yet.
            authorizations: vec![KEY_ACCOUNT_CUSTOMER, STANDARD_CUSTOMER, FROZEN_CUSTOMER],
        }
    }
}
