// A volume discount, in JavaScript: the more units of a product on a line, the lower the unit
// price. Three tiers ("from N units, P% off") come from the binding's settings (plugin.toml),
// as in the Rust example plugins/volume-discount, whose fixtures this rule passes too.
import { Decimal, PriceAdjustments, invalidInput, linesOf, settingsOf } from "./pchost.js";

// Each tier's settings and the defaults plugin.toml declares for them.
const TIERS = [
  ["tier-1-units", "tier-1-percent", 10n, "5"],
  ["tier-2-units", "tier-2-percent", 50n, "10"],
  ["tier-3-units", "tier-3-percent", 100n, "15"],
];
const KINDS = ["seller-discount", "partner-granted", "promotion", "contract"];
// Unit prices keep the contract's 6 decimal places.
const PRICE_PLACES = 6;

function tiers(settings) {
  const tiers = [];
  TIERS.forEach(([unitsSetting, percentSetting, units, percent], n) => {
    const from = settings.integer(unitsSetting, units);
    const off = settings.decimal(percentSetting, percent);
    if (off.isNegative() || off.gt("100")) throw invalidInput(`tier ${n + 1} is ${off}%: not within 0 to 100`);
    if (from <= 0n || from > 4294967295n) throw invalidInput(`tier ${n + 1} starts at ${from} units`);
    if (!off.isZero()) {
      // × 0.01 rather than ÷ 100: exact either way.
      tiers.push({ units: from, percent: off, factor: Decimal.from(1).sub(off.mul(Decimal.parse("0.01"))), reason: null });
    }
  });
  // The tier with the most units a line reaches wins: look from the largest.
  return tiers.sort((a, b) => (a.units > b.units ? -1 : a.units < b.units ? 1 : 0));
}

export function price(quote) {
  const settings = settingsOf(quote);
  const all = tiers(settings);
  const chosen = settings.text("kind", "seller-discount");
  const kind = KINDS.includes(chosen) ? chosen : "seller-discount";
  const answer = new PriceAdjustments();
  for (const line of linesOf(quote)) {
    const tier = all.find((t) => BigInt(line.quantity) >= t.units);
    if (!tier) continue;
    tier.reason ??= answer.addReason(`volume tier ${tier.units}+ units: ${tier.percent.normalize()}% off`, kind);
    answer.reprice(line.index, line.unitPrice.mul(tier.factor).round(PRICE_PLACES), tier.reason);
  }
  return answer;
}
