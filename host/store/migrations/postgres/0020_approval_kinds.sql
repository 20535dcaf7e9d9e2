-- Approval tasks of every action extension@0.3.0 rules are asked about (keep the SQLite 0020
-- in step).
ALTER TABLE approval_tasks DROP CONSTRAINT approval_tasks_kind_check;
ALTER TABLE approval_tasks ADD CONSTRAINT approval_tasks_kind_check CHECK (kind IN ('refund', 'payment-on-behalf', 'coupon-issue', 'balance-allocation', 'customer-unfreeze', 'reseller-invitation', 'unsubscribe', 'renewal', 'reclaim', 'quota-split', 'freeze', 'budget', 'association-change', 'unbind', 'order-review', 'cancel'));
