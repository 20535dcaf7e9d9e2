//! Who may see what: the tenant scope that capability reads are checked against.

use crate::entities::{Customer, Partner, PartnerKind, Role, Staff};

/// Whether the owner of a plugin may read the data of a customer associated with
/// `customer_partner`: its own customers, and, for a distributor, its resellers' customers.
/// A marketplace seller sees no customers: what it needs of a quote arrives in the quote.
pub fn owner_sees_customers_of(owner: &Partner, customer_partner: &Partner) -> bool {
    match owner.kind {
        PartnerKind::Seller => false,
        PartnerKind::SolutionProvider | PartnerKind::Reseller => owner.id == customer_partner.id,
        PartnerKind::Distributor => owner.id == customer_partner.id || customer_partner.distributor == Some(owner.id),
    }
}

/// Whether a staff member sees a customer (rule 16): a partner admin all of its partner's, a
/// customer manager or salesperson those assigned to them, a supervisor those assigned to
/// them or to anyone in `supervised` (the staff they supervise).
pub fn staff_sees(staff: &Staff, customer: &Customer, supervised: &[i64]) -> bool {
    if customer.partner != staff.partner {
        return false;
    }
    match staff.role {
        Role::PartnerAdmin => true,
        Role::CustomerManager | Role::Salesperson => customer.manager == Some(staff.id),
        Role::Supervisor => customer
            .manager
            .is_some_and(|m| m == staff.id || supervised.contains(&m)),
        Role::PlatformOperator | Role::Customer => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partner(id: i64, kind: PartnerKind, distributor: Option<i64>) -> Partner {
        Partner {
            id,
            kind,
            name: format!("p{id}"),
            distributor,
            country: "CN".into(),
            frozen: false,
        }
    }

    #[test]
    fn partners_see_their_own_customers_and_distributors_their_resellers() {
        let distributor = partner(1, PartnerKind::Distributor, None);
        let reseller = partner(2, PartnerKind::Reseller, Some(1));
        let other_reseller = partner(3, PartnerKind::Reseller, Some(9));
        let seller = partner(4, PartnerKind::Seller, None);
        assert!(owner_sees_customers_of(&distributor, &distributor));
        assert!(owner_sees_customers_of(&distributor, &reseller));
        assert!(!owner_sees_customers_of(&distributor, &other_reseller));
        assert!(owner_sees_customers_of(&reseller, &reseller));
        assert!(!owner_sees_customers_of(&reseller, &distributor));
        assert!(!owner_sees_customers_of(&reseller, &other_reseller));
        assert!(!owner_sees_customers_of(&seller, &seller));
    }
}
