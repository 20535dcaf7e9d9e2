// A partner's refund approval, in JavaScript: a frozen customer's refund is rejected; a refund
// above the binding's `threshold` (50,000 by default) goes to a customer manager (DOMAIN rule
// 10); anything else is approved. Actions other than refunds are approved. The same rule as
// the Rust example plugins/refund-approval, whose fixtures it passes too.
import { Decimal, invalidInput, settingsOf } from "./pchost.js";

// The default plugin.toml declares: the host always sends it when a binding sets none.
const DEFAULT_THRESHOLD = "50000";

export function decide(request) {
  if (request.action.tag !== "refund") return { tag: "approve" };
  const customer = request.customer;
  if (!customer) throw invalidInput("a refund request names its customer");
  if (customer.freeze !== "not-frozen") {
    return { tag: "reject", val: `customer ${customer.id} is frozen: refunds are suspended until it is unfrozen` };
  }
  const threshold = settingsOf(request).decimal("threshold", DEFAULT_THRESHOLD);
  const amount = Decimal.fromWit(request.action.val.amount);
  if (amount.gt(threshold)) {
    return {
      tag: "escalate",
      val: {
        role: "customer-manager",
        reason: `refund of ${amount} ${request.currency} is above ${threshold}: a customer manager must approve it (rule 10)`,
      },
    };
  }
  return { tag: "approve" };
}
