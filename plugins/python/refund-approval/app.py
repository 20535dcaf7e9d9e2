"""A partner's refund approval, in Python: a frozen customer's refund is rejected; a refund
above the binding's `threshold` (50,000 by default) goes to a customer manager (DOMAIN rule
10); anything else is approved. Actions other than refunds are approved. The same rule as the
Rust example plugins/refund-approval, whose fixtures it passes too."""

from decimal import Decimal

import wit_world
from componentize_py_types import Err
from pchost import settings_of, to_decimal
from wit_world.imports import approval_types as a
from wit_world.imports import common, types

# The default plugin.toml declares: the host always sends it when a binding sets none.
DEFAULT_THRESHOLD = Decimal(50000)


class WitWorld(wit_world.WitWorld):
    def decide(self, request: a.ApprovalRequest) -> a.Decision:
        if not isinstance(request.action, a.ApprovalAction_Refund):
            return a.Decision_Approve()
        customer = request.customer
        if customer is None:
            raise Err(common.RuleError_InvalidInput("a refund request names its customer"))
        if customer.freeze != types.FreezeState.NOT_FROZEN:
            return a.Decision_Reject(
                f"customer {customer.id} is frozen: refunds are suspended until it is unfrozen"
            )
        threshold = settings_of(request).decimal("threshold", DEFAULT_THRESHOLD)
        amount = to_decimal(request.action.value.amount)
        if amount > threshold:
            return a.Decision_Escalate(
                a.Escalation(
                    role=types.Role.CUSTOMER_MANAGER,
                    reason=f"refund of {amount} {request.currency} is above {threshold}: "
                    "a customer manager must approve it (rule 10)",
                )
            )
        return a.Decision_Approve()
